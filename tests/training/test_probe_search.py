"""The Optuna search: spaces, trials as nested MLflow runs, resumption, worker processes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import optuna
import pytest
from tests.training._probe_files import write_files

from exprflow.models.probes.registry import HEADS
from exprflow.models.probes.saved import load_probe
from exprflow.training.probe_loop import TrainSettings
from exprflow.training.probe_search import (
    SPACES,
    TRIAL_ARTIFACT,
    SearchJob,
    finished_trials,
    run_search,
    suggest,
)


def test_every_head_has_a_space_and_draws_in_it() -> None:
    assert set(SPACES) == set(HEADS)
    trial = optuna.trial.FixedTrial(
        {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 16, "width_factor": 2.0, "dropout": 0.3}
    )
    base = HEADS["maxpool_perceptron"].config_cls.tiny(channels=8, tracks=3, hidden=16)
    config, settings = suggest(trial, SPACES["maxpool_perceptron"], base, TrainSettings(seed=4))
    assert (config.hidden, config.dropout, config.channels) == (32, 0.3, 8)  # type: ignore[attr-defined]
    assert (settings.lr, settings.weight_decay, settings.batch_size, settings.seed) == (
        1e-3, 1e-4, 16, 4,
    )  # fmt: skip
    transformer = HEADS["transformer"].config_cls.tiny(channels=8, tracks=3, heads=2)
    config, _ = suggest(trial, SPACES["transformer"], transformer, TrainSettings())
    assert (config.expansion, config.dropout) == (4, 0.3)  # type: ignore[attr-defined]
    linear = HEADS["linear_probe"].config_cls.tiny(channels=8, tracks=3)
    fixed = optuna.trial.FixedTrial({"lr": 1e-2, "weight_decay": 1e-3, "batch_size": 8})
    config, settings = suggest(fixed, SPACES["linear_probe"], linear, TrainSettings())
    assert config == linear and settings.lr == 1e-2  # no width, no dropout to draw


def _job(files: tuple[Path, Path], root: Path, parent: str, head: str) -> SearchJob:
    spec = HEADS[head]
    base = spec.config_cls.tiny(channels=8, tracks=3)
    return SearchJob(
        head=head,
        base_config=base.to_json(),
        settings={"max_epochs": 3, "patience": 3},
        embeddings=str(files[0]),
        labels=str(files[1]),
        tracks=None,
        cache_bytes=1 << 24,
        storage=f"sqlite:///{root / 'study.db'}",
        study_name=f"test-{head}",
        parent_run_id=parent,
        experiment_id=mlflow.get_run(parent).info.experiment_id,
        tracking_uri=mlflow.get_tracking_uri(),
        work_dir=str(root / "work"),
    )


def _children(parent: str) -> list[mlflow.entities.Run]:
    return mlflow.search_runs(  # type: ignore[no-any-return]
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{parent}'",
        output_format="list",
    )


def test_two_trials_run_as_nested_runs_and_the_study_resumes(tmp_path: Path, tracking: str) -> None:
    files = write_files(tmp_path / "files")
    with mlflow.start_run() as parent:
        job = _job(files, tmp_path, parent.info.run_id, "maxpool_perceptron")
        study = run_search(job, n_trials=2)
    assert finished_trials(study) == 2
    children = _children(parent.info.run_id)
    assert sorted(r.data.tags["optuna.trial"] for r in children) == ["0", "1"]
    for run in children:
        assert run.data.tags["optuna.state"] == "COMPLETE"
        assert {"lr", "weight_decay", "batch_size", "width_factor", "dropout"} <= set(
            run.data.params
        )
        assert "best_valid_pearson" in run.data.metrics
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "valid_loss")
        assert [m.step for m in history] == list(range(1, len(history) + 1))
    best = study.best_trial
    folder = mlflow.artifacts.download_artifacts(
        run_id=best.user_attrs["run_id"], artifact_path=TRIAL_ARTIFACT, dst_path=str(tmp_path)
    )
    probe = load_probe(folder)
    assert probe.head == "maxpool_perceptron" and probe.tracks == ["lamina", "lads", "cpg"]
    # A rerun with the same budget adds nothing; a larger budget adds only what is missing.
    with mlflow.start_run(run_id=parent.info.run_id):
        assert finished_trials(run_search(job, n_trials=2)) == 2
        assert finished_trials(run_search(job, n_trials=3)) == 3
    assert len(_children(parent.info.run_id)) == 3


@pytest.mark.integration
def test_worker_processes_share_one_study(tmp_path: Path, tracking: str) -> None:
    files = write_files(tmp_path / "files")
    with mlflow.start_run() as parent:
        job = replace(_job(files, tmp_path, parent.info.run_id, "linear_probe"), seed=7)
        study = run_search(job, n_trials=2, workers=2)
    assert finished_trials(study) == 2
    children = _children(parent.info.run_id)
    assert len(children) == 2 and {r.info.status for r in children} == {"FINISHED"}
    assert {r.info.experiment_id for r in children} == {parent.info.experiment_id}
