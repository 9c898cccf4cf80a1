"""The embeddings HDF5 layout, and the chunk codec that lets many threads compress it.

Layout of an embeddings file (``embed_basenji2``'s output, and of each work block):

``embeddings``
    float16 ``(regions, bins, channels)`` — Basenji2's trunk output, 896 × 1536
    published — chunked one region per chunk ``(1, bins, channels)``, filters *shuffle*
    then *deflate* (gzip, level :data:`DEFAULT_LEVEL` unless chosen), so one region is
    one compressed chunk any HDF5 reader decodes, and a reader range-reads one region
    without the rest.
``chrom``, ``start``, ``end``, ``fold``
    The region table in input (``sequences.bed``) order: UTF-8 strings and int64
    (0-based half-open). Written before ``embeddings`` so they sit at the front of the
    file.
attributes of the file
    :data:`LAYOUT_VERSION` under ``layout_version``, plus what the writer records (the
    model config JSON, the weights, the alphabet ``ACGT``, ``bin_size``, ``crop_bp``,
    ``reverse_complement``, ``precision``).

Files use the HDF5 1.10+ format (``libver="latest"``): a fixed-size chunked dataset
gets a *fixed array* chunk index, one contiguous table, so finding region *i* costs one
small read. :func:`encode_chunk` produces exactly the bytes HDF5's shuffle + deflate
pipeline would, in plain numpy + zlib (which releases the GIL), so chunks are
compressed on many threads and written with ``write_direct_chunk``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np
import pandas as pd

from exprflow.errors import InputError

__all__ = [
    "DATASET",
    "DEFAULT_LEVEL",
    "LAYOUT_VERSION",
    "REGION_COLUMNS",
    "create_embeddings",
    "encode_chunk",
    "read_region_table",
    "set_attributes",
    "write_region_table",
]

#: Name of the embeddings dataset.
DATASET = "embeddings"
#: Version of this layout, stored as attribute ``layout_version``.
LAYOUT_VERSION = 1
#: Default deflate level: level 1 compresses float16 embeddings nearly as well as 9 at
#: several times the speed (figures in ``benchmarks/``).
DEFAULT_LEVEL = 1
#: Region table datasets, in the order written.
REGION_COLUMNS = ("chrom", "start", "end", "fold")


def encode_chunk(chunk: np.ndarray, level: int) -> bytes:
    """Shuffle and deflate one chunk exactly as HDF5's filter pipeline does.

    Parameters
    ----------
    chunk : numpy.ndarray
        One chunk's values; cast to little-endian float16.
    level : int
        zlib level, 0–9.

    Returns
    -------
    bytes
        What ``write_direct_chunk`` stores for a dataset made by :func:`create_embeddings`.
    """
    data = np.ascontiguousarray(chunk, dtype="<f2").view(np.uint8)
    shuffled = data.reshape(-1, 2).T  # all low bytes, then all high bytes
    return zlib.compress(shuffled.tobytes(), level)


def create_embeddings(
    handle: h5py.File | h5py.Group, n_regions: int, bins: int, channels: int, level: int
) -> h5py.Dataset:
    """Create the ``embeddings`` dataset of the layout (one region per chunk).

    Parameters
    ----------
    handle : h5py.File or h5py.Group
        Where to create it.
    n_regions, bins, channels : int
        Its shape.
    level : int
        Deflate level, 0–9.

    Returns
    -------
    h5py.Dataset
    """
    return handle.create_dataset(
        DATASET,
        shape=(n_regions, bins, channels),
        dtype="<f2",
        chunks=(1, bins, channels),
        shuffle=True,
        compression="gzip",
        compression_opts=level,
    )


def write_region_table(handle: h5py.File, regions: pd.DataFrame) -> None:
    """Write the region table (:data:`REGION_COLUMNS`) as datasets of ``handle``."""
    strings = h5py.string_dtype("utf-8")
    for name in REGION_COLUMNS:
        values = regions[name].to_numpy()
        if name in ("start", "end"):
            handle.create_dataset(name, data=values.astype("int64"))
        else:
            handle.create_dataset(name, data=values.astype(object), dtype=strings)


def read_region_table(handle: h5py.File, source: str) -> pd.DataFrame:
    """Read the region table of an embeddings (or labels) file.

    Parameters
    ----------
    handle : h5py.File
        The open file.
    source : str
        Its path or URI, for the error.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REGION_COLUMNS`, one row per region.
    """
    missing = [name for name in REGION_COLUMNS if name not in handle]
    if missing:
        raise InputError(
            source,
            f"has no region table dataset(s) {missing}.",
            fix="pass a file written by embed_basenji2 (layout in exprflow.embedding.layout).",
        )
    columns: dict[str, Any] = {}
    for name in REGION_COLUMNS:
        dataset = handle[name]
        columns[name] = (
            dataset.asstr()[()] if h5py.check_string_dtype(dataset.dtype) else dataset[()]
        )
    return pd.DataFrame(columns)


def set_attributes(handle: h5py.File, attributes: Mapping[str, Any]) -> None:
    """Write ``layout_version`` and ``attributes`` (str, bool, int or float) on ``handle``."""
    handle.attrs["layout_version"] = LAYOUT_VERSION
    for key, value in attributes.items():
        handle.attrs[key] = value
