"""Where runs are tracked: the embedded default store, overridable by the environment.

Default: ``sqlite:///mlflow.db`` in the working folder, artifacts beside it (MLflow 3's own
default). The standard variables override it: ``MLFLOW_TRACKING_URI`` (e.g. a tracking
server ``http://host:5000``), ``MLFLOW_EXPERIMENT_NAME``, and for S3 artifacts
``MLFLOW_S3_ENDPOINT_URL`` / ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (read by
MLflow and boto3 themselves, never logged). ``EXPRFLOW_DATA_ROOT`` sets where steps write
large outputs (default ``./data``).
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow

__all__ = ["DEFAULT_EXPERIMENT", "DEFAULT_TRACKING_URI", "configure", "data_root"]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "exprflow"


def configure(experiment: str | None = None) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id.

    Inside ``mlflow run`` (``MLFLOW_EXPERIMENT_ID`` set) the experiment MLflow chose is kept.
    """
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(f"sqlite:///{Path('mlflow.db').resolve()}")
    if experiment_id := os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return experiment_id
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    return mlflow.set_experiment(name).experiment_id


def data_root() -> Path:
    """Folder for large step outputs (``EXPRFLOW_DATA_ROOT``, default ``./data``)."""
    return Path(os.environ.get("EXPRFLOW_DATA_ROOT", "data")).resolve()
