"""Read an embeddings file region by region, from a local path or straight from S3.

An ``s3://`` file is opened through :class:`~exprflow.storage.range_file.S3RangeFile`: h5py
reads the superblock, the few metadata blocks and each requested region's chunk with
ranged GETs, so reading one region of a 100 GB file fetches a few megabytes, never the
file. Layout in :mod:`~exprflow.embedding.layout`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import h5py
import numpy as np
import pandas as pd

from exprflow.embedding.layout import DATASET, LAYOUT_VERSION, read_region_table
from exprflow.errors import InputError
from exprflow.storage.range_file import open_readable

__all__ = ["EmbeddingFile"]


class EmbeddingFile:
    """An open embeddings file.

    Parameters
    ----------
    uri : str
        Local path or ``s3://bucket/key``.

    Attributes
    ----------
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end``, ``fold``; row *i* is region *i*.
    embeddings : h5py.Dataset
        ``(regions, bins, channels)`` float16, read lazily.
    attrs : dict
        The file's attributes (model config, weights, alphabet, …).
    """

    def __init__(self, uri: str) -> None:
        self.uri = str(uri)
        self._source = open_readable(self.uri)
        try:
            self._file = h5py.File(self._source, "r")
        except OSError as exc:
            raise InputError(self.uri, f"cannot open as HDF5 ({exc}).") from None
        version = self._file.attrs.get("layout_version")
        if DATASET not in self._file or version != LAYOUT_VERSION:
            self.close()
            raise InputError(
                self.uri,
                f"is not an embeddings file of layout {LAYOUT_VERSION} (found version "
                f"{version!r}, dataset {DATASET!r} {'present' if version else 'absent'}).",
                fix="pass the output of embed_basenji2.",
            )
        self.embeddings: h5py.Dataset = self._file[DATASET]
        self.regions: pd.DataFrame = read_region_table(self._file, self.uri)
        self.attrs: dict[str, Any] = dict(self._file.attrs)

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(regions, bins, channels)``."""
        n, bins, channels = self.embeddings.shape
        return int(n), int(bins), int(channels)

    def region(self, index: int) -> np.ndarray:
        """Region ``index``'s ``(bins, channels)`` float16 embedding (one chunk read)."""
        if not 0 <= index < len(self):
            raise IndexError(f"region {index} out of range for {len(self)} regions")
        return np.asarray(self.embeddings[index])

    def fold(self, name: str) -> np.ndarray:
        """Indices of the regions of fold ``name`` (``train``, ``valid``, ``test``)."""
        return np.flatnonzero(self.regions["fold"].to_numpy() == name)

    def close(self) -> None:
        """Close the file (and its S3 connection)."""
        if getattr(self, "_file", None) is not None:
            self._file.close()
        if hasattr(self._source, "close"):
            self._source.close()

    def __enter__(self) -> EmbeddingFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
