"""The runner stops on a step whose run recorded an error, even if its process exited 0."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import pytest

from exprflow.pipeline import runner
from exprflow.pipeline.runner import PipelineError, run_steps
from exprflow.steps import simulate


def test_a_step_that_recorded_an_error_fails_the_pipeline(
    tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container engine may report exit 0 for a failed step; its run's tag still tells."""
    experiment_id = mlflow.set_experiment("runner").experiment_id

    def fake_project_run(**kwargs: object) -> SimpleNamespace:
        with mlflow.start_run(nested=True) as run:
            mlflow.set_tag("exprflow.error", "MlflowException: no beluga.pt")
        return SimpleNamespace(run_id=run.info.run_id)

    monkeypatch.setattr(runner.mlflow.projects, "run", fake_project_run)
    with mlflow.start_run(), pytest.raises(PipelineError, match=r"'simulate' failed.*beluga\.pt"):
        run_steps([simulate.STEP], {}, ".", experiment_id)


def test_a_step_takes_its_overrides_for_the_world_size(
    tracking: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``by_size`` applies on the size ``main`` runs, and only there."""
    experiment_id = mlflow.set_experiment("runner-sizes").experiment_id
    spec = replace(simulate.STEP, by_size={"tiny": {"seed": 7}})
    seen: list[dict[str, str]] = []

    def fake_project_run(**kwargs: Any) -> SimpleNamespace:
        seen.append(dict(kwargs["parameters"]))
        with mlflow.start_run(nested=True) as run:
            mlflow.set_tag("exprflow.output.world", str(tmp_path))
        return SimpleNamespace(run_id=run.info.run_id)

    monkeypatch.setattr(runner.mlflow.projects, "run", fake_project_run)
    for size in ("tiny", "demo"):
        with mlflow.start_run():
            run_steps([spec], {"size": size, "seed": 0}, ".", experiment_id)
    assert [(p["size"], p["seed"]) for p in seen] == [("tiny", "7"), ("demo", "0")]
