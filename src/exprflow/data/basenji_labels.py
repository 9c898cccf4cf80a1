"""Labels for Basenji2 probe heads: tracks pooled into bins of each region, in one HDF5.

For each region (a ``sequences.bed`` row, :func:`exprflow.data.regions.read_regions`)
and each target (a row of a label targets table, :mod:`exprflow.data.label_targets`):

1. **Window**: the central ``[start + crop_bp, end - crop_bp)`` in ``n_bins`` bins of
   ``bin_size`` bp; defaults 128 and 8,192 give 896 bins over 114,688 bp of a 131,072 bp
   region (CS282A's labels, Basenji2's output bins).
2. **Per-base values** ``x``: bigWig: the signal, NaN where the file has no data; BED: 1
   where any interval covers the base (overlapping intervals count once), else 0;
   FASTA ``count_<KMER>``: 1 where an occurrence of KMER starts (upper-cased sequence,
   so soft-masked bases count; it may run past the bin), else 0. ``sum_exp2`` takes
   ``2**x`` (CS282A's lamina transform of log2 enrichment). Then ``x *= scale``.
3. **Pooling per bin**, NaN meaning no data: ``sum``, ``sum_exp2``, ``count_*``: the sum
   over bases with data (0 when none); ``sum_sqrt``: ``-1 + sqrt(1 + sum)`` (NaN for a
   sum below -1, as in Basenji); ``mean``: the mean over bases with data, NaN when none
   (a BED's covered fraction); ``max``: the max over bases with data, NaN when none.
4. **single_bin**: the statistic over the whole window, per bin: the mean of the
   ``n_bins`` pooled values for sum-type statistics (CS282A: total / 896); for ``mean``
   the mean over every base with data in the window; for ``max`` the window's max.
5. **Clip** (bins and single_bin alike): above ``clip_soft``, ``v = clip_soft +
   sqrt(v - clip_soft)``; then hard clip to ``[-clip, clip]``. NaN stays NaN.

Steps 2–5 follow Basenji's ``basenji_data_read.py`` (scale per base, pool, soft then
hard clip) except: NaN bases are *no data* instead of being set to the region's 10th
percentile (methylation fractions exist only at CpGs; a baseline would invent values
elsewhere); no blacklist, no float16 cast and no data-set-wide 0.9999999-quantile clip
(labels stay float32 as CS282A's); baskerville's newer soft clip
``clip_soft - 1 + sqrt(v - clip_soft + 1)`` is not used.

**Contigs a track lacks** (after ``chr1``↔``1`` aliases): a bigWig or BED has no data
there (bigWig bases NaN, BED bases uncovered), as Basenji does for BED coverage, logged
once per file and contig — a warning for a bigWig, at info level for a BED (a BED cannot
list a contig without intervals: LAD calls simply have none on some contigs). Bases
past a track's contig end have no data likewise. A FASTA lacking the contig is an
error: counts there cannot be known.

The file layout and its reader are in :mod:`exprflow.data.label_file`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from exprflow.atomic import atomic_path
from exprflow.data._label_tracks import Reader, open_reader, pool_track
from exprflow.data.label_file import (
    LAYOUT,
    Labels,
    bins_dataset,
    check_same_regions,
    create_label_file,
    read_labels,
)
from exprflow.data.label_targets import LabelTarget, write_label_targets
from exprflow.errors import InputError
from exprflow.tracking.fingerprint import fingerprint

__all__ = [
    "DEFAULT_BIN_SIZE",
    "DEFAULT_CROP_BP",
    "LABELS_FILE",
    "LAYOUT",
    "TARGETS_FILE",
    "Labels",
    "PreparedLabels",
    "bins_dataset",
    "build_labels",
    "check_same_regions",
    "labels_key",
    "pool_track",
    "prepare_labels",
    "read_labels",
]

log = logging.getLogger(__name__)

DEFAULT_BIN_SIZE = 128
DEFAULT_CROP_BP = 8192
#: File names inside a keyed labels folder (:func:`prepare_labels`).
LABELS_FILE = "labels.h5"
TARGETS_FILE = "label_targets.txt"
_WRITE_BLOCK = 64
#: Version of the label definitions (module docstring), part of :func:`labels_key`.
_ALGORITHM = 1


def _geometry(regions: pd.DataFrame, bin_size: int, crop_bp: int, source: str) -> int:
    """Return ``n_bins``; refuse settings that do not cut every region into whole bins."""
    lengths = (regions["end"] - regions["start"]).to_numpy()
    inner = lengths - 2 * crop_bp
    bad = np.flatnonzero((inner <= 0) | (inner % max(bin_size, 1) != 0))
    if bin_size <= 0 or crop_bp < 0 or bad.size:
        i = int(bad[0]) if bad.size else 0
        raise InputError(
            source,
            f"region {i} ({lengths[i]:,} bp) less 2 × crop_bp ({crop_bp:,}) is not a positive "
            f"multiple of bin_size ({bin_size}).",
            record=f"region {i}",
            fix="choose label_bin_size and label_crop_bp that fit the region length.",
        )
    return int(inner[0] // bin_size)


def build_labels(
    regions: pd.DataFrame,
    targets: Sequence[LabelTarget],
    dest: str | os.PathLike[str],
    *,
    bin_size: int = DEFAULT_BIN_SIZE,
    crop_bp: int = DEFAULT_CROP_BP,
    source: str = "regions",
    progress: bool = True,
) -> Path:
    """Compute every region's labels and write the labels HDF5, atomically.

    Parameters
    ----------
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end``, ``fold`` (:func:`~exprflow.data.regions.read_regions`).
    targets : sequence of LabelTarget
        The tracks, in output order; each file is opened once.
    dest : str or PathLike
        The HDF5 to write (layout in :mod:`exprflow.data.label_file`).
    bin_size, crop_bp : int, optional
        Bin width and bases cropped at each end. Defaults 128 and 8,192.
    source : str, optional
        Where the regions come from, for errors. Default ``"regions"``.
    progress : bool, optional
        Show a progress bar. Default True.

    Returns
    -------
    Path
        ``dest``.
    """
    if not targets or regions.empty:
        raise InputError(
            source,
            f"{len(targets)} label targets and {len(regions)} regions; labels need both.",
            fix="pass a label targets table and a non-empty sequences.bed.",
        )
    n_bins = _geometry(regions, bin_size, crop_bp, source)
    with ExitStack() as stack:
        opened: dict[Path, Any] = {}
        readers = [open_reader(t, stack, opened) for t in targets]
        tmp = stack.enter_context(atomic_path(dest))
        with h5py.File(tmp, "w", libver="latest") as h5:
            geometry = (bin_size, crop_bp, n_bins)
            datasets = create_label_file(h5, regions, targets, geometry)
            _fill(regions, readers, targets, datasets, geometry, progress)
    return Path(dest)


def _fill(
    regions: pd.DataFrame,
    readers: list[Reader],
    targets: Sequence[LabelTarget],
    datasets: tuple[h5py.Dataset, h5py.Dataset],
    geometry: tuple[int, int, int],
    progress: bool,
) -> None:
    """Label the regions block by block and write each block."""
    bin_size, crop_bp, n_bins = geometry
    chroms = regions["chrom"].to_numpy()
    lows = regions["start"].to_numpy() + crop_bp
    bar = tqdm(total=len(regions), desc="labels", unit="region", disable=not progress)
    for first in range(0, len(regions), _WRITE_BLOCK):
        stop = min(first + _WRITE_BLOCK, len(regions))
        bins = np.empty((stop - first, n_bins, len(targets)), np.float32)
        single = np.empty((stop - first, 1, len(targets)), np.float32)
        for row in range(first, stop):
            lo, hi = int(lows[row]), int(lows[row]) + n_bins * bin_size
            for k, (read, target) in enumerate(zip(readers, targets, strict=True)):
                values, whole = pool_track(read(str(chroms[row]), lo, hi), target, n_bins)
                bins[row - first, :, k], single[row - first, 0, k] = values, whole
        datasets[0][first:stop], datasets[1][first:stop] = bins, single
        bar.update(stop - first)
    bar.close()


def labels_key(
    regions: pd.DataFrame, targets: Sequence[LabelTarget], bin_size: int, crop_bp: int
) -> str:
    """A 16-hex-digit key of everything the labels depend on.

    The region table's content, each target's settings and its file's content
    fingerprint (not its location), the bin settings, and :data:`_ALGORITHM` (bump it
    when the label definitions change).

    Parameters
    ----------
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end``, ``fold``.
    targets : sequence of LabelTarget
        The tracks.
    bin_size, crop_bp : int
        Bin settings.

    Returns
    -------
    str
    """
    table = regions[["chrom", "start", "end", "fold"]].to_csv(sep="\t", index=False)
    document = {
        "labels": [LAYOUT, _ALGORITHM],
        "bins": [bin_size, crop_bp],
        "regions": hashlib.sha256(table.encode()).hexdigest(),
        "targets": [
            [t.identifier, t.sum_stat, t.clip, t.clip_soft, t.scale, fingerprint(t.file)]
            for t in targets
        ],
    }
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PreparedLabels:
    """Where :func:`prepare_labels` left the labels.

    Attributes
    ----------
    path : Path
        The labels HDF5.
    table : Path
        The label targets table beside it (absolute file paths).
    reused : bool
        True when a complete file with the same key was there already.
    seconds : float
        Time spent (keying, and building unless reused).
    """

    path: Path
    table: Path
    reused: bool
    seconds: float


def _complete(path: Path, regions: pd.DataFrame, targets: Sequence[LabelTarget]) -> bool:
    """Whether ``path`` is a readable labels file for exactly these regions and tracks."""
    if not path.is_file():
        return False
    try:
        with read_labels(path) as labels:
            check_same_regions(labels, regions, "the requested regions")
            return labels.track_names == [t.identifier for t in targets]
    except (InputError, OSError, KeyError) as exc:
        log.warning("rebuilding %s: %s", path, exc)
        return False


def prepare_labels(
    regions: pd.DataFrame,
    targets: Sequence[LabelTarget],
    root: str | os.PathLike[str],
    *,
    bin_size: int = DEFAULT_BIN_SIZE,
    crop_bp: int = DEFAULT_CROP_BP,
    source: str = "regions",
    progress: bool = True,
) -> PreparedLabels:
    """Build the labels in ``root/<key>/`` (:func:`labels_key`), or reuse a complete file.

    Parameters
    ----------
    regions, targets, bin_size, crop_bp, source, progress
        As for :func:`build_labels`.
    root : str or PathLike
        Folder of keyed labels folders.

    Returns
    -------
    PreparedLabels
    """
    started = time.perf_counter()
    folder = Path(root) / labels_key(regions, targets, bin_size, crop_bp)
    table = write_label_targets(folder / TARGETS_FILE, targets)
    path = folder / LABELS_FILE
    reused = _complete(path, regions, targets)
    if reused:
        log.info("labels reused: %s", path)
    else:
        build_labels(
            regions,
            targets,
            path,
            bin_size=bin_size,
            crop_bp=crop_bp,
            source=source,
            progress=progress,
        )
    return PreparedLabels(path, table, reused, time.perf_counter() - started)
