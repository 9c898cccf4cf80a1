"""Step inputs as MLflow dataset inputs: the URI as the source, the fingerprint as digest.

MLflow resolves local paths and object-store URIs (``s3://`` …) to dataset sources itself
but has none for MLflow's own URIs (``runs:/``, ``models:/``, ``mlflow-artifacts:/``), by
which steps pass outputs downstream; :class:`MlflowUriSource` covers those.
"""

from __future__ import annotations

import warnings
from typing import Any
from urllib.parse import urlparse

import mlflow
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import register_dataset_source, resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset

__all__ = ["MlflowUriSource", "dataset_input"]

_MLFLOW_SCHEMES = ("runs", "models", "mlflow-artifacts")


class MlflowUriSource(DatasetSource):
    """A dataset source addressed by an MLflow URI (``runs:/<id>/path`` and the like)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return "mlflow_uri"

    def load(self, dst_path: str | None = None) -> str:
        """Download the content; return its local path."""
        return mlflow.artifacts.download_artifacts(artifact_uri=self.uri, dst_path=dst_path)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, str) and urlparse(raw_source).scheme in _MLFLOW_SCHEMES

    @classmethod
    def _resolve(cls, raw_source: Any) -> MlflowUriSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[Any, Any]:
        """Serialise for the tracking store."""
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> MlflowUriSource:
        """Inverse of :meth:`to_dict`."""
        return cls(source_dict["uri"])


register_dataset_source(MlflowUriSource)  # type: ignore[arg-type]  # takes the class


def dataset_input(name: str, uri: str, digest: str) -> MetaDataset:
    """A metadata-only dataset named ``name`` for ``uri`` with content digest ``digest``."""
    with warnings.catch_warnings():  # MLflow registers its local source class twice
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        source = resolve_dataset_source(uri)
    # MetaDataset is concrete at run time; its stubs leave `profile` abstract.
    return MetaDataset(source=source, name=name, digest=digest)  # type: ignore[abstract]
