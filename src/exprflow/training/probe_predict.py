"""Predict a fold with a trained probe head, and correlate head-layout arrays per track.

Heads output ``(regions, tracks)`` or ``(regions, tracks, bins)``;
:func:`~exprflow.evaluation.track_metrics.track_metrics` takes tracks on the last axis.
:func:`tracks_last_metrics` bridges the two; :func:`predict_fold` runs a head over one
fold of :class:`~exprflow.data.probe_data.ProbeData` in file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from exprflow.data.probe_data import ProbeData
from exprflow.evaluation.track_metrics import TrackMetrics, track_metrics

__all__ = ["FoldPredictions", "predict_fold", "tracks_last_metrics"]


def tracks_last_metrics(
    predicted: np.ndarray, observed: np.ndarray, tracks: Sequence[str]
) -> TrackMetrics:
    """:func:`track_metrics` of head-layout arrays ``(N, tracks[, bins])``."""
    if predicted.ndim == 3:
        predicted, observed = predicted.transpose(0, 2, 1), observed.transpose(0, 2, 1)
    return track_metrics(predicted, observed, tracks)


@dataclass(frozen=True)
class FoldPredictions:
    """A head's predictions on one fold, beside the labels, in head layout.

    Attributes
    ----------
    predicted, observed : numpy.ndarray
        float32 ``(regions, tracks)`` or ``(regions, tracks, bins)``; NaN observed = no data.
    rows : numpy.ndarray
        The regions' rows of the region table.
    metrics : TrackMetrics
        Per-track and pooled correlations.
    """

    predicted: np.ndarray
    observed: np.ndarray
    rows: np.ndarray
    metrics: TrackMetrics


@torch.no_grad()
def predict_fold(model: torch.nn.Module, data: ProbeData, batch_size: int = 16) -> FoldPredictions:
    """Run ``model`` (label units out) over a fold in order; return :class:`FoldPredictions`.

    Parameters
    ----------
    model : torch.nn.Module
        A trained head (e.g. :attr:`ProbeFit.task`), used in eval mode on its device.
    data : ProbeData
        The fold.
    batch_size : int, optional
        Regions per call. Default 16.

    Returns
    -------
    FoldPredictions
    """
    model.eval()
    device = next(model.parameters()).device
    predicted, observed, rows = [], [], []
    for batch in data.loader(batch_size, shuffle=False):
        predicted.append(model(batch.embedding.to(device)).float().cpu().numpy())
        observed.append(batch.labels.numpy())
        rows.append(batch.region.numpy())
    pred, obs = np.concatenate(predicted), np.concatenate(observed)
    return FoldPredictions(
        pred, obs, np.concatenate(rows), tracks_last_metrics(pred, obs, data.track_names)
    )
