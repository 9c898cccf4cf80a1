"""Training data of a Basenji2 model: chromatin-mark targets, label geometry, folds, means.

Basenji2 was trained on 5,313 chromatin and CAGE tracks (``targets_human.txt``) before
it was frozen and probed; on a synthetic world, :func:`world_mark_targets` gives the
analogous table: every chromatin mark bigWig of every cell type (DNase and the histone
marks; never the probes' lamina or CpG methylation tracks), pooled by ``mean`` per bin.

:func:`label_geometry` derives the label bins from the model (bin = total pooling,
crop = the trunk's cropping), so labels built with it line up with the model's output
bins (128 bp and 8,192 bp for the published and tiny models). :class:`RegionBatches`
reads one batch at a time: one-hot ``A, C, G, T`` from the FASTA and the batch's rows of
the labels HDF5 divided by the per-track training means (:func:`track_means`); NaN
labels (bins without data) stay NaN for the loss to skip. Nothing holds more than one
batch, so the published 38,171 regions train as the demo's 146 do.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from exprflow.data.label_file import finite_means
from exprflow.data.label_targets import LabelTarget
from exprflow.errors import InputError
from exprflow.models.basenji2.config import Basenji2Config, Cropping
from exprflow.simulate.world import load_manifest

__all__ = [
    "EXCLUDED_TRACKS",
    "fold_rows",
    "label_geometry",
    "track_means",
    "world_mark_targets",
]

#: Track files of a world that are probe targets, never Basenji2 training targets.
EXCLUDED_TRACKS = ("lamina", "CpG_methylation")
_MEAN_BLOCK = 64


def world_mark_targets(world: str | os.PathLike[str]) -> list[LabelTarget]:
    """Label targets of a world's chromatin marks: ``<eid>_<mark>``, ``mean`` per bin.

    For each cell type of ``tracks/cell_types.tsv`` in its order, every
    ``tracks/<eid>/<mark>.bigWig`` but :data:`EXCLUDED_TRACKS`, marks sorted by name;
    scale 1, no clip. The demo world's 5 cell types × 8 marks give 40 tracks.

    Parameters
    ----------
    world : str or PathLike
        World folder (``world.json``).

    Returns
    -------
    list of LabelTarget

    Raises
    ------
    InputError
        When the cell type table is missing or a cell type has no mark bigWig.
    """
    tracks = load_manifest(Path(world)).path("tracks")
    table = tracks / "cell_types.tsv"
    if not table.is_file():
        raise InputError(table, "cell type table not found.", fix="rebuild the world.")
    cells = pd.read_csv(table, sep="\t", dtype=str)
    targets: list[LabelTarget] = []
    for eid, name in zip(cells["eid"], cells["name"], strict=True):
        files = sorted(f for f in (tracks / eid).glob("*.bigWig") if f.stem not in EXCLUDED_TRACKS)
        if not files:
            raise InputError(
                tracks / eid,
                f"cell type {eid} has no chromatin mark bigWig (<mark>.bigWig other than "
                f"{', '.join(EXCLUDED_TRACKS)}).",
                fix="rebuild the world, or pass a targets table.",
            )
        for file in files:
            ident = f"{eid}_{file.stem}"
            targets.append(
                LabelTarget(
                    len(targets), 0, ident, file, np.inf, 1.0, "mean", f"{file.stem}:{name}"
                )
            )
    return targets


def label_geometry(config: Basenji2Config) -> tuple[int, int]:
    """The label ``bin_size`` and ``crop_bp`` that match the model's output bins.

    Parameters
    ----------
    config : Basenji2Config
        The model.

    Returns
    -------
    bin_size, crop_bp : int
        Bases per output bin (the total pooling) and bases cropped at each end
        (128 and 8,192 for the published and tiny models; 8 and 16 for ``toy_params``).

    Raises
    ------
    InputError
        When ``seq_length`` is not a whole number of bins (same-padded pooling of an
        odd length), so labels cannot line up with the output.
    """
    crop = sum(b.cropping for b in config.trunk if isinstance(b, Cropping))
    bins = config.out_length + 2 * crop
    bin_size = config.seq_length // bins
    if bin_size * bins != config.seq_length:
        raise InputError(
            "params",
            f"seq_length {config.seq_length} is not {bins} whole bins after pooling.",
            record="model.seq_length",
            fix="use a seq_length divisible by the product of the pool sizes.",
        )
    return bin_size, crop * bin_size


def fold_rows(regions: pd.DataFrame, fold: str, source: str) -> np.ndarray:
    """Row indices of the regions in ``fold``; refuse an empty fold.

    Parameters
    ----------
    regions : pandas.DataFrame
        With a ``fold`` column.
    fold : str
        ``"train"``, ``"valid"`` or ``"test"``.
    source : str
        The regions file, named in the error.

    Returns
    -------
    numpy.ndarray
        int64 row indices, ascending.
    """
    rows = np.flatnonzero(regions["fold"].to_numpy() == fold)
    if not rows.size:
        counts = regions["fold"].value_counts().to_dict()
        raise InputError(
            source,
            f"has no region in fold {fold!r} (folds: {counts}); training needs 'train' and "
            "'valid' regions.",
            fix="mark some regions of sequences.bed as train and some as valid.",
        )
    return rows


def track_means(labels: h5py.Dataset, rows: np.ndarray, names: list[str]) -> np.ndarray:
    """Per-track mean over the bins with data of ``rows`` (the training fold).

    Parameters
    ----------
    labels : h5py.Dataset
        ``(regions, bins, tracks)`` labels.
    rows : numpy.ndarray
        Ascending region rows to average over.
    names : list of str
        Track identifiers, named in errors.

    Returns
    -------
    numpy.ndarray
        float64 ``(tracks,)``, every value positive.

    Raises
    ------
    InputError
        When a track has no data or a mean that is not positive over ``rows`` (a
        Poisson target must be non-negative with some signal).
    """
    means = finite_means(labels, rows, _MEAN_BLOCK)
    bad = np.flatnonzero(~(means > 0))
    if bad.size:
        raise InputError(
            labels.file.filename,
            f"track {names[bad[0]]!r} has mean {means[bad[0]]} over the training regions "
            f"({bad.size} track(s) without positive signal); Poisson targets need some.",
            record=names[bad[0]],
            fix="drop the track from the targets table or add training regions it covers.",
        )
    return means
