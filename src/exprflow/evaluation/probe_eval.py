"""Evaluate a trained probe head on the valid and test folds: metrics, tables, plots.

For each fold the head predicts every region (:func:`~exprflow.training.probe_loop.predict_fold`)
and the per-track Pearson and Spearman are the headline (``<fold>_pearson`` is their mean
over tracks), with the pooled figures beside them (``<fold>_pooled_pearson``: every
(region, bin, track) value flattened, the way CS282A reported, inflated by differences
between tracks). Written to ``folder``:

- ``<fold>_tracks.csv``: one row per track — ``pearson``, ``spearman``, ``n``;
- ``<fold>_scatter.png``: predicted against observed, one panel per track;
- ``test_region.png``: predictions and labels along the first test region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.data.label_file import read_labels
from exprflow.data.probe_data import ProbeData
from exprflow.evaluation.probe_plots import plot_track_region, plot_tracks_scatter
from exprflow.evaluation.track_metrics import TrackMetrics
from exprflow.models.probes.saved import SavedProbe
from exprflow.training.probe_predict import FoldPredictions, predict_fold

__all__ = ["ProbeEvaluation", "evaluate_probe"]


@dataclass(frozen=True)
class ProbeEvaluation:
    """Per-fold metrics of one head, and the files written.

    Attributes
    ----------
    metrics : dict of str to TrackMetrics
        Fold name → its per-track and pooled correlations.
    files : list of Path
        Tables and plots written.
    """

    metrics: dict[str, TrackMetrics]
    files: list[Path]

    def as_metrics(self) -> dict[str, float]:
        """Every fold's MLflow metrics (``<fold>_pearson``, …, ``<fold>_pearson.<track>``)."""
        out: dict[str, float] = {}
        for fold, metrics in self.metrics.items():
            out |= metrics.as_metrics(fold)
        return out


def _tracks_last(predictions: FoldPredictions) -> tuple[np.ndarray, np.ndarray]:
    """``(regions, [bins,] tracks)`` views of the head-layout arrays."""
    pred, obs = predictions.predicted, predictions.observed
    if pred.ndim == 3:
        return pred.transpose(0, 2, 1), obs.transpose(0, 2, 1)
    return pred, obs


def evaluate_probe(
    probe: SavedProbe,
    embeddings: str,
    labels: str | Path,
    folder: str | Path,
    *,
    folds: Sequence[str] = ("valid", "test"),
    cache_bytes: int = 0,
) -> ProbeEvaluation:
    """Predict ``folds`` with ``probe``; write per-track tables and plots to ``folder``.

    Parameters
    ----------
    probe : SavedProbe
        The trained head.
    embeddings : str
        Embeddings file (path or ``s3://``).
    labels : str or Path
        Labels file.
    folder : str or Path
        Where tables and plots go (created).
    folds : sequence of str, optional
        Folds to evaluate. Default valid and test.
    cache_bytes : int, optional
        Decoded-item cache of each fold (see ``ProbeData``). Default 0.

    Returns
    -------
    ProbeEvaluation
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, TrackMetrics] = {}
    files: list[Path] = []
    with read_labels(labels) as label_file:
        bin_size, crop_bp = label_file.bin_size, label_file.crop_bp
    for fold in folds:
        with ProbeData(
            embeddings,
            labels,
            fold=fold,
            target=probe.target,
            tracks=probe.tracks,
            cache_bytes=cache_bytes,
        ) as data:
            predictions = predict_fold(probe.module, data)
            regions = data.regions
        metrics[fold] = predictions.metrics
        table = folder / f"{fold}_tracks.csv"
        with atomic_path(table) as tmp:
            predictions.metrics.per_track.to_csv(tmp)
        pred, obs = _tracks_last(predictions)
        title = f"{probe.head}, {fold} ({len(pred)} regions)"
        files += [
            table,
            plot_tracks_scatter(
                pred, obs, probe.tracks, folder / f"{fold}_scatter.png", title=title
            ),
        ]
        if fold == "test":
            first = pred[0] if pred.ndim == 3 else pred[:1]
            observed = obs[0] if obs.ndim == 3 else obs[:1]
            files.append(
                plot_track_region(
                    first,
                    observed,
                    probe.tracks,
                    regions.iloc[0],
                    folder / "test_region.png",
                    bin_size=bin_size,
                    crop_bp=crop_bp,
                    title=f"{probe.head}: first test region",
                )
            )
    return ProbeEvaluation(metrics, files)
