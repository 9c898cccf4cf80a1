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
from mlflow.tracking import MlflowClient

__all__ = [
    "DEFAULT_EXPERIMENT",
    "DEFAULT_TRACKING_URI",
    "configure",
    "data_root",
    "mark_model_training",
]

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


#: Experiment tag the MLflow 3 UI reads to open an experiment on its runs table
#: ("Model training") rather than its GenAI trace views.
_EXPERIMENT_KIND_TAG = "mlflow.experimentKind"


def mark_model_training(experiment_id: str) -> None:
    """Tag the experiment as model training, once, so the UI lists its runs to compare."""
    client = MlflowClient()
    if _EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags:
        client.set_experiment_tag(experiment_id, _EXPERIMENT_KIND_TAG, "custom_model_development")


def data_root() -> Path:
    """Folder for large step outputs (``EXPRFLOW_DATA_ROOT``, default ``./data``)."""
    return Path(os.environ.get("EXPRFLOW_DATA_ROOT", "data")).resolve()
