"""The labels HDF5: its layout, the writer's header and the reader issue 7's probes train on.

**File layout** (written by :func:`exprflow.data.basenji_labels.build_labels`, read by
:func:`read_labels`):
``{bin_size}bp_bins`` float32 ``(regions, n_bins, tracks)`` (``128bp_bins`` by default;
the name carries the bin size so another size is never mistaken for it), chunked one
region per chunk; ``single_bin`` float32 ``(regions, 1, tracks)``, chunked 4,096 regions
per chunk (18 values a region are too few for a chunk each); both shuffle + gzip.
``chrom``, ``start``, ``end``, ``fold``: the region table in input order, as in the
embeddings file (:mod:`exprflow.embedding.layout`). ``targets``: one compound record per
track (index, genome, identifier, file, clip, clip_soft (NaN: none), scale, sum_stat,
description). Attributes ``layout`` (:data:`LAYOUT`), ``layout_version``, ``bin_size``,
``crop_bp``, ``n_bins``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from exprflow.data.label_targets import LabelTarget
from exprflow.embedding.layout import read_region_table, write_region_table
from exprflow.errors import InputError
from exprflow.genome._closing import Closing

__all__ = [
    "LAYOUT",
    "Labels",
    "bins_dataset",
    "check_same_regions",
    "create_label_file",
    "finite_means",
    "read_labels",
]

#: Value of the file attribute ``layout``; ``layout_version`` is :data:`_VERSION`.
LAYOUT = "exprflow.basenji_labels"
_VERSION = 1
_SINGLE = "single_bin"
_TARGETS = "targets"
_SINGLE_CHUNK = 4096
_STRING = h5py.string_dtype("utf-8")
_TARGET_DTYPE = np.dtype(
    [
        ("index", "i8"),
        ("genome", "i8"),
        ("identifier", _STRING),
        ("file", _STRING),
        ("clip", "f8"),
        ("clip_soft", "f8"),
        ("scale", "f8"),
        ("sum_stat", _STRING),
        ("description", _STRING),
    ]
)


def bins_dataset(bin_size: int) -> str:
    """Name of the binned labels dataset: ``f"{bin_size}bp_bins"`` (``128bp_bins``)."""
    return f"{bin_size}bp_bins"


def _record(t: LabelTarget) -> tuple[object, ...]:
    """One ``targets`` record (fields of ``_TARGET_DTYPE``)."""
    soft = np.nan if t.clip_soft is None else t.clip_soft
    fields = (t.clip, soft, t.scale, t.sum_stat, t.description)
    return (t.index, t.genome, t.identifier, str(t.file), *fields)


def create_label_file(
    h5: h5py.File,
    regions: pd.DataFrame,
    targets: Sequence[LabelTarget],
    geometry: tuple[int, int, int],
) -> tuple[h5py.Dataset, h5py.Dataset]:
    """Write the region table, the targets records and the attributes; create the datasets.

    Parameters
    ----------
    h5 : h5py.File
        A new file, open for writing.
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end``, ``fold``.
    targets : sequence of LabelTarget
        The tracks, in the order of the last axis.
    geometry : (int, int, int)
        ``bin_size``, ``crop_bp``, ``n_bins``.

    Returns
    -------
    binned, single : h5py.Dataset
        The empty ``{bin_size}bp_bins`` and ``single_bin`` datasets, to fill.
    """
    bin_size, crop_bp, n_bins = geometry
    write_region_table(h5, regions)
    records = [_record(t) for t in targets]
    h5.create_dataset(_TARGETS, data=np.array(records, dtype=_TARGET_DTYPE))
    h5.attrs.update(
        {"layout": LAYOUT, "layout_version": _VERSION, "bin_size": bin_size}
        | {"crop_bp": crop_bp, "n_bins": n_bins}
    )
    n, tracks = len(regions), len(targets)
    filters = {"compression": "gzip", "shuffle": True, "dtype": "f4"}
    binned = h5.create_dataset(
        bins_dataset(bin_size), (n, n_bins, tracks), chunks=(1, n_bins, tracks), **filters
    )
    chunk = (min(n, _SINGLE_CHUNK), 1, tracks)
    return binned, h5.create_dataset(_SINGLE, (n, 1, tracks), chunks=chunk, **filters)


class Labels(Closing):
    """An open labels file (layout in the module docstring).

    Parameters
    ----------
    path : str or PathLike
        The HDF5 written by :func:`~exprflow.data.basenji_labels.build_labels`.

    Attributes
    ----------
    path : Path
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end``, ``fold``; row *i* is region *i*.
    targets : pandas.DataFrame
        One row per track: index, genome, identifier, file, clip, clip_soft, scale,
        sum_stat, description.
    bins : h5py.Dataset
        float32 ``(regions, n_bins, tracks)``, read lazily.
    single_bin : h5py.Dataset
        float32 ``(regions, 1, tracks)``, read lazily.
    bin_size, crop_bp : int
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "labels file not found.", fix="run prepare with regions.")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(self.path, f"cannot be opened as HDF5 ({exc}).") from None
        attrs = self._file.attrs
        if attrs.get("layout") != LAYOUT or attrs.get("layout_version") != _VERSION:
            self.close()
            raise InputError(
                self.path,
                f"is not a labels file of layout {LAYOUT} v{_VERSION} (found "
                f"{attrs.get('layout')!r} v{attrs.get('layout_version')!r}).",
                fix="pass the labels written by prepare (exprflow.data.basenji_labels).",
            )
        self.bin_size, self.crop_bp = int(attrs["bin_size"]), int(attrs["crop_bp"])
        self.bins: h5py.Dataset = self._file[bins_dataset(self.bin_size)]
        self.single_bin: h5py.Dataset = self._file[_SINGLE]
        self.regions: pd.DataFrame = read_region_table(self._file, str(self.path))
        records = self._file[_TARGETS][()]
        self.targets = pd.DataFrame(
            {
                name: [v.decode() if isinstance(v, bytes) else v for v in records[name]]
                for name in _TARGET_DTYPE.names or ()
            }
        )

    @property
    def track_names(self) -> list[str]:
        """The tracks' identifiers, in the order of the last axis."""
        return list(self.targets["identifier"])

    def __len__(self) -> int:
        return int(self.bins.shape[0])

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_labels(path: str | os.PathLike[str]) -> Labels:
    """Open a labels file; use it as a context manager or call ``close()``.

    Parameters
    ----------
    path : str or PathLike
        The HDF5 written by :func:`~exprflow.data.basenji_labels.build_labels`.

    Returns
    -------
    Labels
    """
    return Labels(path)


def check_same_regions(labels: Labels, regions: pd.DataFrame, source: str) -> None:
    """Refuse labels whose regions are not ``regions`` row for row (an embeddings file's).

    Parameters
    ----------
    labels : Labels
        The labels.
    regions : pandas.DataFrame
        The other file's region table (``chrom``, ``start``, ``end``, optional ``fold``).
    source : str
        The other file, named in the error.

    Raises
    ------
    InputError
        Naming both files and the first region that differs (or the two counts).
    """
    fix = "build the labels and the embeddings from the same sequences.bed."
    if len(regions) != len(labels.regions):
        raise InputError(
            labels.path,
            f"holds {len(labels.regions):,} regions, {source} holds {len(regions):,}.",
            fix=fix,
        )
    columns = [c for c in ("chrom", "start", "end", "fold") if c in regions.columns]
    ours = labels.regions[columns].to_numpy()
    theirs = regions[columns].to_numpy()
    differ = np.flatnonzero((ours != theirs).any(axis=1))
    if differ.size:
        i = int(differ[0])
        raise InputError(
            labels.path,
            f"region {i} is {' '.join(map(str, ours[i]))} here but "
            f"{' '.join(map(str, theirs[i]))} in {source} ({differ.size} region(s) differ).",
            record=f"region {i}",
            fix=fix,
        )


def finite_means(
    values: h5py.Dataset | np.ndarray, rows: np.ndarray, block: int = 64
) -> np.ndarray:
    """Mean of each track's finite labels over ``rows``, read ``block`` regions at a time.

    Parameters
    ----------
    values : h5py.Dataset or numpy.ndarray
        Labels with regions first and tracks last: ``(regions, bins, tracks)`` or
        ``(regions, tracks)``.
    rows : numpy.ndarray
        Ascending region rows to average over.
    block : int, optional
        Regions read per slice (bounds memory on the HDF5). Default 64.

    Returns
    -------
    numpy.ndarray
        float64 ``(tracks,)``; NaN for a track without a finite value over ``rows``.
    """
    total = np.zeros(values.shape[-1])
    count = np.zeros(values.shape[-1])
    for first in range(0, len(rows), block):
        flat = np.asarray(values[rows[first : first + block]]).reshape(-1, values.shape[-1])
        total += np.nansum(flat, axis=0, dtype=np.float64)
        count += np.isfinite(flat).sum(axis=0)
    return np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)
