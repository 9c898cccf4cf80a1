from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from tests.evaluation._pipeline_runs import FAMILIES, FakePipeline, fake_pipeline, make_run
from tests.evaluation.test_comparison_report import TRUTH
from tests.steps._runs import latest_run

from exprflow.errors import InputError
from exprflow.simulate.config import world_size
from exprflow.steps.evaluate import STEP, EvaluateParams, run


@pytest.fixture(scope="module")
def fake(module_tracking: Path) -> FakePipeline:
    return fake_pipeline(MlflowClient())


@pytest.fixture(scope="module")
def world(module_tracking: Path) -> Path:
    """A world folder holding only its manifest and truth.json (all evaluate reads)."""
    root = module_tracking / "world"
    root.mkdir()
    manifest = {
        "size": world_size("tiny").to_dict(),
        "seed": 3,
        "code_version": "test",
        "files": {"truth": "truth.json"},
        "components": {},
    }
    (root / "world.json").write_text(json.dumps(manifest))
    (root / "truth.json").write_text(json.dumps(TRUTH))
    return root


def _compared_id(run_id: str) -> str:
    return mlflow.get_run(run_id).data.tags["exprflow.compared_id"]


def test_step_spec() -> None:
    assert (STEP.name, STEP.family, STEP.task) == ("evaluate", "pipeline", "evaluation")
    assert STEP.outputs == ("report", "headline")
    assert STEP.upstream == {"world": ("simulate", "world")}
    assert STEP.defaults() == {"parent_run": "", "experiment": "", "world": ""}


def test_compares_every_family_under_the_parent(fake: FakePipeline, world: Path) -> None:
    outputs = run(EvaluateParams(parent_run=fake.parent, world=str(world)))
    evaluated = latest_run()
    run_id = evaluated.info.run_id
    assert evaluated.info.status == "FINISHED"
    assert outputs == {
        "headline": f"runs:/{run_id}/tables/headline.tsv",
        "report": f"runs:/{run_id}/report/report.md",
    }
    assert evaluated.data.tags["exprflow.compared_scope"] == "parent"
    assert _compared_id(run_id) == fake.parent
    assert evaluated.data.metrics == {
        "expecto.chromatin.val_auroc": 0.81,  # the reused run of the older main
        "expecto.chromatin.val_loss": 0.42,
        "expecto.expression.test_spearman": 0.61,  # expecto_evaluate, not train_tissue
        "expecto.expression.test_pearson": 0.58,
        "expecto.expression.cross_individual_spearman_median": 0.33,
        "expecto.expression.fraction_significant": 0.25,
        "expecto.expression.fraction_wrong_sign": 0.0,
        "expecto.expression.causal_gene_recall": 0.5,
        "haplotype_mlm.expression.test_spearman": 0.66,
        "haplotype_mlm.expression.cross_individual_spearman_median": 0.41,
        "promoter.mpra.test_pearson": 0.83,
        "promoter.mpra.test_spearman": 0.8,
        "runs_compared": 9.0,
        "runs_not_finished": 2.0,  # cv_chromatin failed, train_probe still running
        "runs_missing_metrics": 1.0,  # train_mlm: test_pearson
    }
    assert {d.dataset.name for d in evaluated.inputs.dataset_inputs} == {"truth"}

    headline = pd.read_csv(
        mlflow.artifacts.download_artifacts(outputs["headline"]), sep="\t", keep_default_na=False
    )
    assert set(headline["family"]) == set(FAMILIES) - {"foundation"}
    assert "train_other" not in set(headline["step"])
    model = headline[headline["model"] != ""]
    assert model[["step", "model", "aliases", "status"]].values.tolist() == [
        ["train_tissue", "expecto v1", "@champion", "READY"]
    ]
    status = dict(zip(headline["step"], headline["status"], strict=False))
    assert (status["cv_chromatin"], status["train_probe"]) == ("FAILED", "RUNNING")

    folder = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/report"))
    text = (folder / "report.md").read_text()
    for family in FAMILIES:
        assert f"| {family} |" in text, family
    assert sorted(p.name for p in (folder / "plots").iterdir()) == [
        "chromatin.png", "expression.png", "mpra.png",
    ]  # fmt: skip
    assert "| haplotype_mlm | expression | train_mlm | FINISHED | " in text
    assert "RuntimeError: out of memory" in text
    assert "- causal variants: 3\n- causal genes: 2\n" in text
    assert "train_other" not in text


def test_parent_of_the_nested_run(fake: FakePipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient()
    child = make_run(client, fake.experiment_id, "evaluate", family="pipeline",
                     task="evaluation", parent=fake.parent, status="RUNNING")  # fmt: skip
    monkeypatch.setenv("MLFLOW_RUN_ID", child)  # as `mlflow run` does for a nested step
    run(EvaluateParams())
    assert client.get_run(child).info.status == "FINISHED"
    assert _compared_id(child) == fake.parent


def test_latest_main_and_experiment_scopes(fake: FakePipeline) -> None:
    client = MlflowClient()
    newer = make_run(client, fake.experiment_id, "main", family="pipeline", task="pipeline")
    make_run(client, fake.experiment_id, "train_tissue", family="expecto", task="expression",
             metrics={"test_spearman": 0.1, "test_pearson": 0.2}, parent=newer)  # fmt: skip
    run(EvaluateParams())
    latest = latest_run()
    assert _compared_id(latest.info.run_id) == newer
    assert latest.data.metrics["expecto.expression.test_spearman"] == 0.1
    assert latest.data.metrics["runs_compared"] == 1

    run(EvaluateParams(experiment="exprflow"))
    whole = latest_run()
    assert whole.data.tags["exprflow.compared_scope"] == "experiment"
    # every step of the experiment, the latest of each: the newer train_tissue, train_other
    assert whole.data.metrics["runs_compared"] == 10
    assert whole.data.metrics["other.expression.test_spearman"] == 0.9


def test_errors(fake: FakePipeline, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"parent_run 'f+'.*no such run"):
        run(EvaluateParams(parent_run="f" * 32))
    assert latest_run().info.status == "FAILED"
    with pytest.raises(InputError, match="both parent_run="):
        run(EvaluateParams(parent_run=fake.parent, experiment="exprflow"))
    with pytest.raises(InputError, match="does not exist"):
        run(EvaluateParams(parent_run=fake.parent, world=str(tmp_path / "no_world")))
    with pytest.raises(InputError, match=r"no world\.json"):
        run(EvaluateParams(parent_run=fake.parent, world=str(tmp_path)))
