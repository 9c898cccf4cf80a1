"""The loss and the metric of Basenji2 training: masked Poisson, mean per-track Pearson r.

:func:`masked_poisson` is Keras' Poisson loss, ``mean(pred - y·log(pred + 1e-7))``, over
the labels with data only (NaN labels, bins a track has no data for, are skipped).
:class:`TrackPearson` is Basenji's ``PearsonR``: each track's correlation across every
labelled bin of the evaluation, averaged over tracks (NaN labels skipped).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["TrackPearson", "masked_poisson"]

_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="exprflow")
def masked_poisson(y_true: Any, y_pred: Any) -> Any:
    """Poisson loss per region over the labels with data (NaN labels are skipped).

    Parameters
    ----------
    y_true : tensor
        ``(N, bins, tracks)`` targets, NaN where there is no data.
    y_pred : tensor
        ``(N, bins, tracks)`` positive predictions.

    Returns
    -------
    tensor
        ``(N,)`` float32: the mean of ``pred - y·log(pred + 1e-7)`` over each region's
        labelled values (0 for a region without any).
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    known = ops.logical_not(ops.isnan(y_true))
    term = y_pred - ops.where(known, y_true, 0.0) * ops.log(y_pred + _EPSILON)
    total = ops.sum(ops.where(known, term, 0.0), axis=(1, 2))
    return total / ops.maximum(ops.sum(ops.cast(known, "float32"), axis=(1, 2)), 1.0)


class TrackPearson(keras.metrics.Metric):
    """Mean over tracks of each track's Pearson r across every labelled bin seen.

    Sums are kept per track in float64 over the whole evaluation (not per batch), NaN
    labels are skipped, and tracks with no variance in labels or predictions are left
    out of the mean.

    Parameters
    ----------
    tracks : int
        Number of tracks (last axis).
    name : str, optional
        Metric name. Default ``"pearson"``.
    """

    def __init__(self, tracks: int, name: str = "pearson", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.tracks = tracks
        self._sums = [
            self.add_variable(shape=(tracks,), initializer="zeros", dtype="float64", name=n)
            for n in ("n", "x", "y", "xx", "yy", "xy")
        ]

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch ``(N, bins, tracks)`` (``sample_weight`` is not supported)."""
        y_true = ops.cast(y_true, "float64")
        y_pred = ops.cast(y_pred, "float64")
        known = ops.logical_not(ops.isnan(y_true))
        x = ops.where(known, y_true, 0.0)
        y = ops.where(known, y_pred, 0.0)
        parts = (ops.cast(known, "float64"), x, y, x * x, y * y, x * y)
        for variable, part in zip(self._sums, parts, strict=True):
            variable.assign_add(ops.sum(part, axis=(0, 1)))

    def result(self) -> Any:
        """The mean per-track Pearson r (NaN when no track has variance)."""
        n, x, y, xx, yy, xy = self._sums
        var_x, var_y = n * xx - x * x, n * yy - y * y
        ok = ops.logical_and(var_x > 0, var_y > 0)
        r = ops.where(ok, (n * xy - x * y) / ops.sqrt(ops.where(ok, var_x * var_y, 1.0)), 0.0)
        return ops.cast(ops.sum(r) / ops.cast(ops.sum(ops.cast(ok, "int32")), "float64"), "float32")

    def reset_state(self) -> None:
        """Zero the sums."""
        for variable in self._sums:
            variable.assign(ops.zeros_like(variable))

    def get_config(self) -> dict[str, Any]:
        """Keras config (``tracks`` and the base metric's)."""
        return {**super().get_config(), "tracks": self.tracks}
