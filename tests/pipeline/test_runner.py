"""The runner stops on a step whose run recorded an error, even if its process exited 0."""

from __future__ import annotations

from types import SimpleNamespace

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
