from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tests.evaluation._pipeline_runs import FakePipeline, fake_pipeline, make_run

from exprflow.errors import InputError
from exprflow.evaluation.gather import (
    ModelRecord,
    gather_runs,
    model_versions,
    resolve_scope,
)


@pytest.fixture(scope="module")
def fake(module_tracking: Path) -> FakePipeline:
    return fake_pipeline(MlflowClient())


def _evaluate_run(fake: FakePipeline, parent: str = "") -> str:
    return make_run(MlflowClient(), fake.experiment_id, "evaluate", family="pipeline",
                    task="evaluation", parent=parent, status="RUNNING")  # fmt: skip


def test_scope_explicit_parent_and_experiment(fake: FakePipeline) -> None:
    client = MlflowClient()
    current = _evaluate_run(fake)
    scope = resolve_scope(client, current_run_id=current, parent_run=fake.parent)
    assert (scope.kind, scope.id, scope.experiment_id) == (
        "parent",
        fake.parent,
        fake.experiment_id,
    )
    assert scope.how == "given as parent_run"
    for experiment in ("exprflow", fake.experiment_id):
        scope = resolve_scope(client, current_run_id=current, experiment=experiment)
        assert (scope.kind, scope.id) == ("experiment", fake.experiment_id)


def test_scope_from_the_nested_run_or_the_latest_main(fake: FakePipeline) -> None:
    client = MlflowClient()
    nested = resolve_scope(client, current_run_id=_evaluate_run(fake, parent=fake.parent))
    assert (nested.kind, nested.id, nested.how) == ("parent", fake.parent, "the parent of this run")
    latest = resolve_scope(client, current_run_id=_evaluate_run(fake))
    assert (latest.id, latest.how) == (fake.parent, "the latest main run")
    assert "the latest main run" in latest.describe() and fake.parent in latest.describe()


def test_scope_errors(fake: FakePipeline) -> None:
    client = MlflowClient()
    current = _evaluate_run(fake)
    with pytest.raises(InputError, match=r"parent_run '0123456789abcdef.*no such run"):
        resolve_scope(client, current_run_id=current, parent_run="0123456789abcdef" * 2)
    with pytest.raises(InputError, match=r"experiment 'nowhere'.*no experiment"):
        resolve_scope(client, current_run_id=current, experiment="nowhere")
    with pytest.raises(InputError, match=r"both parent_run=.* and experiment="):
        resolve_scope(client, current_run_id=current, parent_run=fake.parent, experiment="x")
    empty = client.create_experiment("empty")
    lonely = make_run(client, empty, "evaluate", family="pipeline", task="evaluation")
    with pytest.raises(InputError, match=r"has no main run.*pass -P parent_run"):
        resolve_scope(client, current_run_id=lonely)


def test_gather_a_parent_and_the_runs_it_reused(fake: FakePipeline) -> None:
    client = MlflowClient()
    scope = resolve_scope(client, current_run_id=_evaluate_run(fake), parent_run=fake.parent)
    runs = gather_runs(client, scope)
    # Tasks in scheme order (unknown "world" last); pipeline runs and train_other left out;
    # the reused train_chromatin of the older main is in.
    assert [(r.family, r.step, r.status) for r in runs] == [
        ("chromoformer", "cv_chromatin", "FAILED"),
        ("expecto", "train_tissue", "FINISHED"),
        ("expecto", "expecto_reference", "FINISHED"),
        ("expecto", "expecto_evaluate", "FINISHED"),
        ("haplotype_mlm", "train_mlm", "FINISHED"),
        ("expecto", "train_chromatin", "FINISHED"),
        ("basenji2", "train_probe", "RUNNING"),
        ("promoter", "train_promoter", "FINISHED"),
        ("foundation", "simulate", "FINISHED"),
    ]
    assert {r.step: r.run_id for r in runs} == fake.runs
    failed = runs[0]
    assert failed.error == "RuntimeError: out of memory" and not failed.finished
    assert runs[3].metrics["causal_gene_recall"] == 0.5


def test_gather_an_experiment(fake: FakePipeline) -> None:
    client = MlflowClient()
    scope = resolve_scope(client, current_run_id=_evaluate_run(fake), experiment="exprflow")
    steps = {r.step for r in gather_runs(client, scope)}
    assert steps == {*fake.runs, "train_other"}


def test_model_versions_with_aliases_and_numeric_tags(fake: FakePipeline) -> None:
    client = MlflowClient()
    scope = resolve_scope(client, current_run_id=_evaluate_run(fake), parent_run=fake.parent)
    found = model_versions(client, gather_runs(client, scope))
    assert found == [
        ModelRecord(
            "expecto", "1", fake.runs["train_tissue"], "READY", ("champion",),
            {"test_spearman": 0.52, "n_test": 3.0},
        )
    ]  # fmt: skip
