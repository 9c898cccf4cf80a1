"""``main`` through real ``mlflow run`` on the tiny world: reuse, rerun, stop and resume."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import h5py
import mlflow
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from exprflow.embedding.reader import EmbeddingFile
from exprflow.pipeline.mlproject import render_top_project
from exprflow.pipeline.registry import PIPELINE
from exprflow.pipeline.runner import PipelineError, run_steps
from exprflow.pipeline.spec import StepSpec

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _mlflow_main(tmp_path: Path, tracking: str, **params: object) -> None:
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "run",
        str(PROJECT_ROOT),
        "-e",
        "main",
        "--env-manager",
        "local",
        "--experiment-name",
        "exprflow",
    ]
    for key, value in params.items():
        command += ["-P", f"{key}={value}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def _runs(entry_point: str) -> list[mlflow.entities.Run]:
    experiment = mlflow.get_experiment_by_name("exprflow")
    return MlflowClient().search_runs(
        [experiment.experiment_id],
        f"tags.`mlflow.project.entryPoint` = '{entry_point}'",
        order_by=["attributes.start_time ASC"],
    )


@pytest.mark.timeout(1200)  # two runs of main; the first ≈ 8 min on 2 cores
def test_main_runs_reuses_and_reruns_steps(tracking: str, tmp_path: Path) -> None:
    _mlflow_main(tmp_path, tracking, size="tiny", seed=1)
    (parent,) = _runs("main")
    assert parent.info.status == "FINISHED"
    simulate, prepare, chromatin = (_runs(s)[0] for s in ("simulate", "prepare", "train_chromatin"))
    for child in (simulate, prepare, chromatin):
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["exprflow.code_version"]
        assert child.info.run_name == child.data.tags["mlflow.project.entryPoint"]
    world = Path(simulate.data.tags["exprflow.output.world"])
    assert (world / "world.json").is_file()
    assert prepare.data.params["world"] == str(world)
    inputs = {d.dataset.name for d in prepare.inputs.dataset_inputs}
    assert {"fasta", "vcf", "genes", "expression"} <= inputs
    assert prepare.data.metrics["n_samples_both"] > 0
    assert parent.data.tags["exprflow.output.prepare.prepared"].startswith("runs:/")
    assert chromatin.data.tags["exprflow.family"] == "expecto"
    assert chromatin.data.params["world"] == str(world)

    _check_expecto_steps(parent, chromatin)
    _check_embeddings(parent, prepare)
    _check_probes(parent)
    _check_mlm(prepare)
    _check_chromatin_cv(prepare)
    _check_promoter(prepare)
    (compared,) = _runs("evaluate")
    on_parent = {f.path for f in MlflowClient().list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.md", "report/plots"} <= on_parent
    assert compared.data.tags["exprflow.compared_id"] == parent.info.run_id
    assert np.isfinite(compared.data.metrics["expecto.expression.test_spearman"])
    assert np.isfinite(compared.data.metrics["expecto.chromatin.val_auroc"])
    (promoted,) = _runs("promote")
    # The tiny world holds out 6 genes; registry/policy.yaml asks for 20 before a champion.
    assert promoted.data.tags["exprflow.promotion.decision.expecto"] == "failed_checks"

    _mlflow_main(tmp_path, tracking, size="tiny", seed=1)
    second = _runs("main")[-1]
    fresh = [spec.name for spec in PIPELINE if not spec.cacheable]  # they read the runs
    assert fresh == ["promote", "evaluate"]
    assert second.data.metrics == {"steps_run": 2.0, "steps_reused": len(PIPELINE) - 2.0}
    for spec in PIPELINE:
        step = _runs(spec.name)[-1]
        assert len(_runs(spec.name)) == (2 if spec.name in fresh else 1)
        assert second.data.tags[f"exprflow.step_run.{spec.name}"] == step.info.run_id


def _check_expecto_steps(parent: mlflow.entities.Run, chromatin: mlflow.entities.Run) -> None:
    """The ExPecto half of ``main``: each step fed by its predecessor, predictions, metrics."""
    tissue, reference, personalized, evaluate = (
        _runs(s)[0]
        for s in ("train_tissue", "expecto_reference", "expecto_personalized", "expecto_evaluate")
    )
    for child in (tissue, reference, personalized, evaluate):
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    outputs = "exprflow.output."
    assert tissue.data.params["chromatin_model"] == chromatin.data.tags[outputs + "chromatin_model"]
    assert reference.data.params["tissue_models"] == tissue.data.tags[outputs + "tissue_models"]
    assert evaluate.data.params["personalized"] == personalized.data.tags[outputs + "predictions"]
    assert tissue.data.tags[outputs + "model"].startswith("models:/expecto/")
    assert np.isfinite(tissue.data.metrics["test_spearman"])
    assert personalized.data.metrics["dedup_ratio"] > 1
    for name in ("test_spearman", "cross_individual_spearman_median", "fraction_significant"):
        assert np.isfinite(evaluate.data.metrics[name]), name
    assert evaluate.data.metrics["causal_genes"] > 0


def _check_embeddings(parent: mlflow.entities.Run, prepare: mlflow.entities.Run) -> None:
    """``embed_basenji2`` fed by ``prepare``: every world region embedded, labels beside them."""
    (embed,) = _runs("embed_basenji2")
    assert embed.info.status == "FINISHED"
    outputs = "exprflow.output."
    assert embed.data.params["regions"] == prepare.data.tags[outputs + "regions"]
    path = embed.data.tags[outputs + "embeddings"]
    assert parent.data.tags[outputs + "embed_basenji2.embeddings"] == path
    with EmbeddingFile(path) as emb, h5py.File(prepare.data.tags[outputs + "labels"]) as labels:
        assert emb.shape == (embed.data.metrics["n_regions"], 896, 64)
        assert labels["128bp_bins"].shape[:2] == emb.shape[:2]
        assert list(labels["start"][()]) == list(emb.regions["start"])


#: Test per-bin Pearson of CpG counts that the linear probe must reach on the tiny world's
#: 3 test regions (2,688 bins), through the trunk train_basenji2 trained on chromatin marks.
CPG_FLOOR = 0.5


def _check_probes(parent: mlflow.entities.Run) -> None:
    """The trained trunk feeds the embeddings; every head searched, registered, learning."""
    (trunk,) = _runs("train_basenji2")
    (embed,) = _runs("embed_basenji2")
    (probe,) = _runs("train_probe")
    outputs = "exprflow.output."
    assert embed.data.params["weights"] == trunk.data.tags[outputs + "weights"]
    assert embed.data.params["params"] == trunk.data.tags[outputs + "params"]
    assert probe.data.params["embeddings"] == embed.data.tags[outputs + "embeddings"]
    heads = {r.info.run_name: r for r in _runs_under(probe.info.run_id)}
    assert set(heads) == {"linear_probe", "conv_perceptron", "maxpool_perceptron", "transformer"}
    for name, run in heads.items():
        assert len(_runs_under(run.info.run_id)) == 2  # the trials
        assert probe.data.tags[outputs + name].startswith("models:/")
        (version,) = MlflowClient().search_model_versions(f"name='basenji2-probe-{name}'")
        assert version.run_id == run.info.run_id
        assert np.isfinite(run.data.metrics["test_pooled_pearson"])
    linear = heads["linear_probe"].data.metrics
    assert linear["test_pearson.CpG_count"] >= CPG_FLOOR, linear


def _check_mlm(prepare: mlflow.entities.Run) -> None:
    """``train_mlm`` on prepare's MLM dataset: every stage's figures, the model registered."""
    (mlm,) = _runs("train_mlm")
    assert mlm.info.status == "FINISHED"
    outputs = "exprflow.output."
    assert mlm.data.params["mlm"] == prepare.data.tags[outputs + "mlm"]
    metrics = mlm.data.metrics
    for name in (
        "best_valid_masked_accuracy", "impute_test_iqs", "impute_test_genotype_iqs",
        "embed_haplotypes_per_second", "expr_best_mlm_median_r", "attr_ridge_recall_at_10",
    ):  # fmt: skip
        assert np.isfinite(metrics[name]), name
    (version,) = MlflowClient().search_model_versions("name='mlm-expression'")
    assert version.run_id == mlm.info.run_id
    assert mlm.data.tags[outputs + "expression_model"].startswith("models:/")


def _check_chromatin_cv(prepare: mlflow.entities.Run) -> None:
    """``cv_chromatin`` on prepare's chromatin dataset: the reduced grid, its folds, the models."""
    (cv,) = _runs("cv_chromatin")
    assert cv.info.status == "FINISHED"
    assert cv.data.params["chromatin"] == prepare.data.tags["exprflow.output.chromatin"]
    assert (cv.data.params["cells"], cv.data.params["mark_sets"]) == ("E116", "all")
    configs = _runs_under(cv.info.run_id)
    assert sorted(c.data.tags["exprflow.model"] for c in configs) == ["chromoformer", "cnn"]
    for config in configs:
        assert len(_runs_under(config.info.run_id)) == 4
    assert np.isfinite(cv.data.metrics["cnn_regression_pearson_all"])
    for name in ("chromatin-cnn-regression", "chromatin-chromoformer-regression"):
        (version,) = MlflowClient().search_model_versions(f"name='{name}'")
        assert version.run_id == cv.info.run_id


def _check_promoter(prepare: mlflow.entities.Run) -> None:
    """``train_promoter`` on prepare's task files: the tiny grid, a pretraining, the model."""
    (promoter,) = _runs("train_promoter")
    assert promoter.info.status == "FINISHED"
    assert promoter.data.params["promoter"] == prepare.data.tags["exprflow.output.promoter"]
    names = sorted(r.info.run_name for r in _runs_under(promoter.info.run_id))
    assert names == [
        "MTLucifer-pretrain+finetune-Sharpr_MPRA",
        "MTLucifer-single_task",
        "pretrain-MTLucifer-Sharpr_MPRA",
    ]
    (version,) = MlflowClient().search_model_versions("name='promoter-fluorescence'")
    assert version.run_id == promoter.info.run_id


def _runs_under(parent_id: str) -> list[mlflow.entities.Run]:
    return mlflow.search_runs(  # type: ignore[no-any-return]
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
        output_format="list",
    )


_FLAKY = '''
"""A step that fails while a flag file exists beside it, to test stop and resume."""
import sys
from pathlib import Path

from exprflow.tracking.step import step_run

with step_run("flaky", family="test", task="test", params={}) as ctx:
    ctx.log_input("prepared", sys.argv[1])
    if Path(__file__).with_name("fail").exists():
        raise RuntimeError("flag file present")
    ctx.log_output("done", Path(__file__).parent)
'''


@dataclass(frozen=True)
class FlakyParams:
    """Parameters of the test-only ``flaky`` step."""

    prepared: str = ""


@pytest.fixture
def flaky_project(tmp_path: Path) -> Path:
    """The real project's entry points plus a ``flaky`` step after ``prepare``."""
    project = tmp_path / "project"
    project.mkdir()
    spec = yaml.safe_load(render_top_project())
    spec["entry_points"]["flaky"] = {
        "parameters": {"prepared": {"type": "string"}},
        "command": "python flaky.py {prepared}",
    }
    (project / "MLproject").write_text(yaml.safe_dump(spec))
    (project / "conda.yaml").write_text((PROJECT_ROOT / "conda.yaml").read_text())
    (project / "flaky.py").write_text(textwrap.dedent(_FLAKY))
    (project / "fail").touch()
    return project


def test_failed_step_stops_the_pipeline_and_the_next_run_resumes_there(
    tracking: str, flaky_project: Path
) -> None:
    flaky = StepSpec(
        name="flaky",
        params=FlakyParams,
        family="test",
        task="test",
        upstream={"prepared": ("prepare", "prepared")},
    )
    steps = (*PIPELINE[:2], flaky)
    experiment_id = mlflow.set_experiment("exprflow").experiment_id
    shared = {"size": "tiny", "seed": 3}
    with mlflow.start_run(), pytest.raises(PipelineError, match=r"flaky.*flag file present"):
        run_steps(steps, shared, flaky_project, experiment_id)
    assert [r.info.status for r in _runs("flaky")] == ["FAILED"]

    (flaky_project / "fail").unlink()
    with mlflow.start_run():
        results = run_steps(steps, shared, flaky_project, experiment_id)
    assert [(r.step, r.reused) for r in results] == [
        ("simulate", True),
        ("prepare", True),
        ("flaky", False),
    ]
    assert [r.info.status for r in _runs("flaky")] == ["FAILED", "FINISHED"]
