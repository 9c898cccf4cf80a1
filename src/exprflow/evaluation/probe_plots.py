"""Plots of probe-head predictions against their labels, written as PNG files.

Two figures, built like those of :mod:`exprflow.evaluation.plots` (matplotlib
:class:`~matplotlib.figure.Figure` on the Agg canvas, no pyplot, atomic writes):

- :func:`plot_tracks_scatter`: predicted against observed values, one panel per track,
  titled with that track's Pearson r over every finite pair (the rule of the per-track
  headline of :func:`~exprflow.evaluation.track_metrics.track_metrics`). Inputs have tracks on the
  **last** axis: ``(regions, tracks)`` for single-bin heads, ``(regions, bins, tracks)``
  for binned ones. Points are subsampled (seeded) per panel so 100k+ bins draw fast.
- :func:`plot_track_region`: a genome-track view of one region, a row per track, labels
  as a filled step area and predictions as a line along the bins' genomic coordinates.
  Inputs are ``(bins, tracks)``; a single-bin head passes ``(1, tracks)`` and is drawn
  as one horizontal segment over the window it summarises.

NaN in ``observed`` means no data (e.g. methylation in a bin without CpG): such pairs
are left out of the scatter and the correlations, and leave a gap in the track rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.evaluation.plots import _fmt, _grid, _save
from exprflow.evaluation.stats import MIN_VALUES

__all__ = ["plot_track_region", "plot_tracks_scatter", "region_bin_edges"]

_LOG = logging.getLogger(__name__)


def _check_tracks(
    predicted: np.ndarray, observed: np.ndarray, tracks: Sequence[str], ndims: tuple[int, ...]
) -> None:
    """Refuse arrays whose shapes differ, have the wrong rank, or miss track names."""
    if predicted.shape != observed.shape:
        raise ValueError(
            f"predicted {predicted.shape} and observed {observed.shape} must have the same shape"
        )
    if predicted.ndim not in ndims:
        raise ValueError(
            f"predicted and observed must have {' or '.join(map(str, ndims))} axes "
            f"(tracks last), got shape {predicted.shape}"
        )
    if predicted.shape[-1] != len(tracks) or not tracks:
        raise ValueError(
            f"{len(tracks)} track names for shape {predicted.shape} "
            f"({predicted.shape[-1]} tracks on the last axis)"
        )


def _at_least_one(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _shown(tracks: Sequence[str], max_tracks: int) -> list[str]:
    """The first ``max_tracks`` track names, logging those left out."""
    _at_least_one("max_tracks", max_tracks)
    if len(tracks) > max_tracks:
        _LOG.info(
            "showing the first %d of %d tracks; left out: %s",
            max_tracks,
            len(tracks),
            ", ".join(tracks[max_tracks:]),
        )
    return list(tracks[:max_tracks])


def _pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Pearson r over the jointly finite pairs and their number (r NaN when undefined).

    The rule of :func:`~exprflow.evaluation.stats.correlation` (at least
    :data:`~exprflow.evaluation.stats.MIN_VALUES` pairs, neither side constant) without
    its Spearman, whose ranking is what costs on millions of bins.
    """
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep].astype(np.float64), y[keep].astype(np.float64)
    if len(x) < MIN_VALUES or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), len(x)
    return float(np.corrcoef(x, y)[0, 1]), len(x)


def _subsample(
    x: np.ndarray, y: np.ndarray, max_points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The jointly finite pairs of ``x`` and ``y``, at most ``max_points`` (in order)."""
    keep = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if keep.size > max_points:
        keep = np.sort(rng.choice(keep, size=max_points, replace=False))
    return x[keep], y[keep]


def plot_tracks_scatter(
    predicted: np.ndarray,
    observed: np.ndarray,
    tracks: Sequence[str],
    path: str | Path,
    *,
    title: str = "",
    max_points: int = 20000,
    seed: int = 0,
    max_tracks: int = 24,
) -> Path:
    """Scatter predicted against observed values, one panel per track, with its Pearson r.

    Parameters
    ----------
    predicted, observed : numpy.ndarray
        Same shape, tracks on the last axis: ``(regions, tracks)`` or
        ``(regions, bins, tracks)``. NaN (no data) pairs are left out.
    tracks : sequence of str
        Track names, in axis order.
    path : str or Path
        PNG file to write.
    title : str, default ""
        Figure title (the number of points drawn per panel at most is appended).
    max_points : int, default 20000
        Pairs drawn per panel at most, a seeded random subset; r is over all of them.
    seed : int, default 0
        Seed of the subsampling (panel ``k`` draws from ``default_rng((seed, k))``).
    max_tracks : int, default 24
        Panels at most (the first tracks); those left out are logged.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        Shapes that differ or are not 2-D/3-D, track names that do not match the last
        axis, ``max_points`` or ``max_tracks`` below 1.
    """
    predicted, observed = np.asarray(predicted), np.asarray(observed)  # no float64 copy
    _check_tracks(predicted, observed, tracks, (2, 3))
    _at_least_one("max_points", max_points)
    shown = _shown(tracks, max_tracks)
    flat_p = predicted.reshape(-1, len(tracks))
    flat_o = observed.reshape(-1, len(tracks))
    figure, axes = _grid(len(shown), "predicted", "observed", panel=(3.0, 3.0))
    for k, (ax, track) in enumerate(zip(axes, shown, strict=True)):
        r, n = _pearson(flat_p[:, k], flat_o[:, k])
        x, y = _subsample(flat_p[:, k], flat_o[:, k], max_points, np.random.default_rng((seed, k)))
        _scatter_panel(ax, x, y)
        ax.set_title(f"{track}\nr={_fmt(r)} (n={n:,})", fontsize=8)
    figure.suptitle(f"{title} (at most {max_points:,} points drawn per panel)".strip())
    return _save(figure, path)


def _scatter_panel(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    """Points and the y = x line, or a note when there is nothing to draw."""
    if not x.size:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    ax.plot(x, y, ".", ms=1.5, alpha=0.3, color="tab:blue", rasterized=True)
    low, high = min(x.min(), y.min()), max(x.max(), y.max())
    ax.plot([low, high], [low, high], color="k", lw=0.8, ls="--")
    ax.tick_params(labelsize=7)


def region_bin_edges(
    region: Mapping[str, Any], n_bins: int, *, bin_size: int = 128, crop_bp: int | None = None
) -> np.ndarray:
    """Genomic edges of the bins that cover the central part of a region.

    Parameters
    ----------
    region : mapping or pandas.Series
        With ``start`` and ``end`` (0-based, end exclusive), e.g. a row of the regions
        table.
    n_bins : int
        Bins of the predictions; 1 for single-bin heads.
    bin_size : int, default 128
        Width of a bin in bp, used when ``n_bins > 1`` or ``crop_bp`` is None.
    crop_bp : int, optional
        bp trimmed from each end (the label file's ``crop_bp``). Default None: the bins
        are centred, ``crop = ((end - start) - n_bins * bin_size) // 2``. Given, a single
        bin covers the whole window ``[start + crop_bp, end - crop_bp)`` (what a
        single-bin label summarises), and ``n_bins > 1`` bins must tile that window.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n_bins + 1,)``: bin ``i`` is ``[edges[i], edges[i + 1])``.

    Raises
    ------
    ValueError
        ``n_bins`` or ``bin_size`` below 1, a negative ``crop_bp``, or bins that do not
        fit (or, with ``crop_bp``, do not tile) the region.
    """
    start, end = int(region["start"]), int(region["end"])
    _at_least_one("n_bins", n_bins)
    _at_least_one("bin_size", bin_size)
    length = end - start
    if crop_bp is None:
        crop, width = (length - n_bins * bin_size) // 2, bin_size
    else:
        window = length - 2 * crop_bp
        crop, width = crop_bp, (window if n_bins == 1 else bin_size)
    tiles = crop_bp is None or length - 2 * crop_bp == n_bins * width
    if crop < 0 or width < 1 or crop + n_bins * width > length or not tiles:
        space = f"{length:,} bp" if crop_bp is None else f"{length - 2 * crop_bp:,} bp once "
        space += "" if crop_bp is None else f"crop_bp={crop_bp} is trimmed from each end"
        raise ValueError(
            f"{n_bins} bins of {width:,} bp ({n_bins * width:,} bp) do not "
            f"{'fit' if crop_bp is None else 'tile'} region {start:,}-{end:,} ({space})"
        )
    return start + crop + width * np.arange(n_bins + 1, dtype=np.int64)


def plot_track_region(
    predicted: np.ndarray,
    observed: np.ndarray,
    tracks: Sequence[str],
    region: Mapping[str, Any],
    path: str | Path,
    *,
    bin_size: int = 128,
    crop_bp: int | None = None,
    title: str = "",
    max_tracks: int = 16,
) -> Path:
    """Genome-track plot of one region: labels and predictions along it, a row per track.

    Parameters
    ----------
    predicted, observed : numpy.ndarray
        Same shape ``(bins, tracks)``; ``(1, tracks)`` for a single-bin head, drawn as one
        horizontal segment per row. NaN labels (no data) leave a gap.
    tracks : sequence of str
        Track names, in axis order.
    region : mapping or pandas.Series
        With ``chrom``, ``start``, ``end``, e.g. a row of the regions table.
    path : str or Path
        PNG file to write.
    bin_size : int, default 128
        Width of a bin in bp.
    crop_bp : int, optional
        bp trimmed from each end of the region (the label file's ``crop_bp``); pass it
        for single-bin heads so the segment spans the window its value summarises.
        Default None: centred bins (see :func:`region_bin_edges`).
    title : str, default ""
        Figure title; default the region.
    max_tracks : int, default 16
        Rows at most (the first tracks); those left out are logged.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        Shapes that differ or are not ``(bins, tracks)``, track names that do not match,
        bins that do not fit the region, ``max_tracks`` below 1.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    _check_tracks(predicted, observed, tracks, (2,))
    edges = region_bin_edges(region, len(predicted), bin_size=bin_size, crop_bp=crop_bp) / 1e6
    shown = _shown(tracks, max_tracks)
    figure, axes = _rows(len(shown))
    for k, (ax, track) in enumerate(zip(axes, shown, strict=True)):
        _track_row(ax, edges, predicted[:, k], observed[:, k])
        r = _pearson(predicted[:, k], observed[:, k])[0]
        label = track if len(predicted) == 1 else f"{track}  (r={_fmt(r)} in this region)"
        ax.set_title(label, loc="left", fontsize=8)
    axes[0].legend(fontsize=7, loc="upper right", ncols=2)
    name = f"{region['chrom']}:{int(region['start']):,}-{int(region['end']):,}"
    axes[-1].set_xlabel(f"{name} (Mb)")
    figure.suptitle(title or name)
    return _save(figure, path)


def _rows(n_rows: int) -> tuple[Figure, list[Axes]]:
    """A figure of ``n_rows`` stacked axes sharing the x axis (fixed margins, in inches)."""
    width, height = 10.0, 1.15 * n_rows + 1.2
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(
        left=0.7 / width,
        right=1 - 0.2 / width,
        bottom=0.55 / height,
        top=1 - 0.8 / height,
        hspace=0.45,
    )
    return figure, list(figure.subplots(n_rows, 1, sharex=True, squeeze=False)[:, 0])


def _track_row(ax: Axes, edges: np.ndarray, predicted: np.ndarray, observed: np.ndarray) -> None:
    """Labels as a filled step area, predictions as a line (one segment for one bin)."""
    corners = np.repeat(edges, 2)[1:-1]  # each bin's left and right edge: a step outline
    ax.fill_between(corners, np.repeat(observed, 2), color="0.6", alpha=0.7, label="observed")
    if len(predicted) == 1:
        ax.hlines(predicted, edges[0], edges[-1], color="tab:red", lw=1.5, label="predicted")
    else:
        centres = (edges[:-1] + edges[1:]) / 2
        ax.plot(centres, predicted, color="tab:red", lw=0.9, label="predicted")
    ax.tick_params(labelsize=7)
    ax.margins(x=0, y=0.15)
