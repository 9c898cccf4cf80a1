"""Per-track correlations for multi-track predictions, and the pooled figure beside them.

Probe heads predict several tracks at once (lamina association in many cell types, CpG
methylation, CpG counts). The published CS282A notebooks reported one correlation over
(regions × tracks) flattened, which rewards getting the *between-track* scale right: a
model that predicts each track's mean and nothing else still scores high. The headline
here is per track — Pearson and Spearman over that track's (regions × bins) values — and
their mean over tracks; the pooled figure is kept beside it, named as such, for
comparison with the published numbers.

Every correlation is over the jointly finite entries (NaN labels: no data, e.g.
methylation where a bin holds no CpG), and undefined (NaN) with fewer than
:data:`~exprflow.evaluation.stats.MIN_VALUES` pairs or a constant side
(:func:`~exprflow.evaluation.stats.correlation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exprflow.evaluation.stats import correlation

__all__ = ["TrackMetrics", "track_metrics"]


@dataclass(frozen=True)
class TrackMetrics:
    """Per-track and pooled correlations of one evaluation.

    Attributes
    ----------
    per_track : pandas.DataFrame
        Index: track names; columns ``pearson``, ``spearman``, ``n`` (finite pairs).
    pooled_pearson, pooled_spearman : float
        Over every finite (region, bin, track) value flattened together — the published
        figure, inflated by between-track differences.
    """

    per_track: pd.DataFrame
    pooled_pearson: float
    pooled_spearman: float

    @property
    def mean_pearson(self) -> float:
        """Mean per-track Pearson over tracks where it is defined (the headline)."""
        return float(np.nanmean(self.per_track["pearson"])) if self._any else float("nan")

    @property
    def mean_spearman(self) -> float:
        """Mean per-track Spearman over tracks where it is defined."""
        return float(np.nanmean(self.per_track["spearman"])) if self._any else float("nan")

    @property
    def _any(self) -> bool:
        return bool(np.isfinite(self.per_track["pearson"]).any())

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """The correlations as MLflow metrics, NaN values left out.

        Names: ``<prefix>_pearson`` (mean per track), ``<prefix>_spearman``,
        ``<prefix>_pooled_pearson``, ``<prefix>_pooled_spearman`` and one
        ``<prefix>_pearson.<track>`` per track.
        """
        metrics = {
            f"{prefix}_pearson": self.mean_pearson,
            f"{prefix}_spearman": self.mean_spearman,
            f"{prefix}_pooled_pearson": self.pooled_pearson,
            f"{prefix}_pooled_spearman": self.pooled_spearman,
        }
        for track, value in self.per_track["pearson"].items():
            metrics[f"{prefix}_pearson.{track}"] = float(value)
        return {name: value for name, value in metrics.items() if np.isfinite(value)}


def track_metrics(
    predicted: np.ndarray, observed: np.ndarray, tracks: Sequence[str]
) -> TrackMetrics:
    """Correlate predictions with labels per track, and pooled.

    Parameters
    ----------
    predicted, observed : numpy.ndarray
        Same shape, tracks on the **last** axis: ``(regions, tracks)`` for single-bin
        targets, ``(regions, bins, tracks)`` for binned ones.
    tracks : sequence of str
        Names of the tracks, in axis order.

    Returns
    -------
    TrackMetrics
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    if predicted.shape != observed.shape:
        raise ValueError(f"predicted {predicted.shape} and observed {observed.shape} differ")
    if predicted.shape[-1] != len(tracks):
        raise ValueError(f"{len(tracks)} track names for {predicted.shape[-1]} tracks")
    flat_p = predicted.reshape(-1, len(tracks))
    flat_o = observed.reshape(-1, len(tracks))
    rows = []
    for k in range(len(tracks)):
        both = np.isfinite(flat_p[:, k]) & np.isfinite(flat_o[:, k])
        result = correlation(flat_p[:, k], flat_o[:, k])
        rows.append({"pearson": result.pearson, "spearman": result.spearman, "n": int(both.sum())})
    pooled = correlation(flat_p.ravel(), flat_o.ravel())
    table = pd.DataFrame(rows, index=pd.Index(list(tracks), name="track"))
    return TrackMetrics(table, pooled.pearson, pooled.spearman)
