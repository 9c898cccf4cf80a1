"""Helpers shared by the step tests."""

from __future__ import annotations

import mlflow


def latest_run() -> mlflow.entities.Run:
    """The run started last in the current tracking store."""
    (latest,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return latest
