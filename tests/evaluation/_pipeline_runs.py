"""Synthetic pipeline runs in a tracking store: tags and metrics only, no training."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from exprflow.tracking.store import configure

#: Families of the fake pipeline, as they appear in its step runs.
FAMILIES = ("foundation", "expecto", "haplotype_mlm", "chromoformer", "promoter", "basenji2")


def make_run(
    client: MlflowClient,
    experiment_id: str,
    step: str,
    *,
    family: str,
    task: str,
    metrics: dict[str, float] | None = None,
    status: str = "FINISHED",
    parent: str = "",
    start: int = 0,
    tags: dict[str, str] | None = None,
) -> str:
    """Create a finished (or failed, or still running) run with step tags and metrics."""
    all_tags = {"exprflow.step": step, "exprflow.family": family, "exprflow.task": task}
    if parent:
        all_tags["mlflow.parentRunId"] = parent
    all_tags.update(tags or {})
    run = client.create_run(experiment_id, start_time=start or None, run_name=step)
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in (metrics or {}).items()],
        tags=[RunTag(k, v) for k, v in all_tags.items()],
    )
    if status != "RUNNING":
        client.set_terminated(run_id, status)
    return run_id


@dataclass
class FakePipeline:
    """A ``main`` run and its step runs (step name → run id)."""

    experiment_id: str
    parent: str
    runs: dict[str, str] = field(default_factory=dict)


def fake_pipeline(client: MlflowClient, *, finish_parent: bool = True) -> FakePipeline:
    """A ``main`` run of six families: one reused run, a model, a failure, a gap.

    - ``train_chromatin`` was reused from an older ``main`` (named by the parent's tag);
    - ``train_tissue`` registered ``expecto`` v1 with alias ``champion``;
    - ``train_mlm`` lacks ``test_pearson``; ``cv_chromatin`` failed; ``train_probe`` runs;
    - one run of the experiment is not under this parent (``other``).
    """
    experiment_id = configure()
    base = int(time.time() * 1000) - 100_000
    old_main = make_run(client, experiment_id, "main", family="pipeline", task="pipeline",
                        start=base)  # fmt: skip
    reused = make_run(client, experiment_id, "train_chromatin", family="expecto",
                      task="chromatin", metrics={"val_auroc": 0.81, "val_loss": 0.42},
                      parent=old_main, start=base + 1)  # fmt: skip
    parent = make_run(client, experiment_id, "main", family="pipeline", task="pipeline",
                      status="FINISHED" if finish_parent else "RUNNING", start=base + 10,
                      tags={"exprflow.step_run.train_chromatin": reused})  # fmt: skip
    fake = FakePipeline(experiment_id, parent, {"train_chromatin": reused})
    steps = [
        ("simulate", "foundation", "world", {"n_genes": 24.0}, "FINISHED"),
        ("train_tissue", "expecto", "expression",
         {"test_spearman": 0.52, "test_pearson": 0.47, "n_test": 3.0}, "FINISHED"),
        ("expecto_reference", "expecto", "expression", {"n_genes": 24.0}, "FINISHED"),
        ("expecto_evaluate", "expecto", "expression",
         {"test_spearman": 0.61, "test_pearson": 0.58, "cross_individual_spearman_median": 0.33,
          "fraction_significant": 0.25, "fraction_wrong_sign": 0.0, "causal_gene_recall": 0.5,
          "causal_genes": 4.0, "causal_genes_recovered": 2.0}, "FINISHED"),
        ("train_mlm", "haplotype_mlm", "expression",
         {"test_spearman": 0.66, "cross_individual_spearman_median": 0.41}, "FINISHED"),
        ("cv_chromatin", "chromoformer", "expression", {}, "FAILED"),
        ("train_promoter", "promoter", "mpra", {"test_pearson": 0.83, "test_spearman": 0.8},
         "FINISHED"),
        ("train_probe", "basenji2", "tracks", {"train_loss": 0.2}, "RUNNING"),
    ]  # fmt: skip
    for offset, (step, family, task, metrics, status) in enumerate(steps, start=11):
        tags = {"exprflow.error": "RuntimeError: out of memory"} if status == "FAILED" else {}
        fake.runs[step] = make_run(client, experiment_id, step, family=family, task=task,
                                   metrics=metrics, status=status, parent=parent,
                                   start=base + offset, tags=tags)  # fmt: skip
    make_run(client, experiment_id, "train_other", family="other", task="expression",
             metrics={"test_spearman": 0.9, "test_pearson": 0.9}, start=base + 50)  # fmt: skip
    tissue = fake.runs["train_tissue"]
    client.create_registered_model("expecto")
    version = client.create_model_version(
        "expecto", f"runs:/{tissue}/model", run_id=tissue,
        tags={"run_id": tissue, "test_spearman": "0.52", "n_test": "3"},
    )  # fmt: skip
    client.set_registered_model_alias("expecto", "champion", version.version)
    return fake
