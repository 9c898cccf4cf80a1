from __future__ import annotations

import math

import mlflow
from mlflow import MlflowClient

from exprflow.tracking.history import log_history


def test_every_epoch_is_logged_at_its_step_and_non_finite_values_are_left_out(
    tracking: str,
) -> None:
    history = [
        {"epoch": 1, "train_loss": 2.0, "val_loss": 3.0},
        {"epoch": 2, "train_loss": 1.0, "val_loss": math.nan},
        {"train_loss": 0.5},  # no epoch: its position
    ]
    with mlflow.start_run() as run:
        log_history(run.info.run_id, history)
    client = MlflowClient()
    train = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted((m.step, m.value) for m in train) == [(1, 2.0), (2, 0.5), (2, 1.0)]
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val_loss")] == [
        (1, 3.0)
    ]


def test_more_than_a_thousand_metrics_go_in_several_requests(tracking: str) -> None:
    history = [{"epoch": e, **{f"m{k}": float(k) for k in range(30)}} for e in range(40)]
    with mlflow.start_run() as run:
        log_history(run.info.run_id, history)
    assert len(MlflowClient().get_metric_history(run.info.run_id, "m29")) == 40
