"""Log a whole training history to a run in batched requests (grids of many runs)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

__all__ = ["log_history"]

#: Metrics per ``log_batch`` request (MLflow's limit).
_BATCH = 1000


def log_history(run_id: str, history: Sequence[dict[str, float]]) -> None:
    """Log every epoch record of ``history`` to ``run_id``, 1,000 metrics a request.

    Parameters
    ----------
    run_id : str
        The run.
    history : sequence of dict
        One record per epoch, metric name → value; the step is the record's ``epoch``
        (its position when absent). Non-finite values are left out.
    """
    now = int(time.time() * 1000)
    metrics = [
        Metric(key, float(value), now, int(record.get("epoch", step)))
        for step, record in enumerate(history)
        for key, value in record.items()
        if key != "epoch" and math.isfinite(value)
    ]
    client = MlflowClient()
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])
