"""Inputs by URI: local paths, ``file://``, ``runs:/``, ``models:/``, ``s3://``.

Steps receive their inputs as URIs and call :func:`local_path` to get a readable local
copy; remote URIs are fetched once per process through MLflow's artifact repositories
(which read the standard MLflow/AWS variables for credentials and endpoints).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import mlflow

from exprflow.errors import InputError

__all__ = ["is_remote", "local_path"]

_REMOTE_SCHEMES = {"runs", "models", "s3", "mlflow-artifacts", "http", "https", "gs", "wasbs"}


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names something that must be fetched before it can be read."""
    return urlparse(uri).scheme in _REMOTE_SCHEMES


def local_path(uri: str) -> Path:
    """Return a local path holding the content of ``uri``.

    Raises
    ------
    InputError
        If a local path does not exist.
    """
    if is_remote(uri):
        return _download(uri)
    parsed = urlparse(uri)
    path = Path(parsed.path if parsed.scheme == "file" else uri).expanduser()
    if not path.exists():
        raise InputError(uri, "does not exist.", fix="check the path or URI passed to the step.")
    return path


@lru_cache(maxsize=256)
def _download(uri: str) -> Path:
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
