"""Test-set metrics of one chromatin → expression fold, NaN where undefined.

Regression (log2(RPKM + 1)): Pearson and Spearman correlation (scipy), R² (sklearn) and
MSE. Classification (above-median label, prediction P(label = 1)): AUROC and AUPRC
(sklearn) and accuracy at P ≥ 0.5. A metric that is undefined on the fold (a constant
prediction or target, a single class, fewer than two genes) is NaN with a logged warning
rather than an error, so one degenerate fold does not stop a cross-validation grid.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, average_precision_score, r2_score, roc_auc_score

__all__ = ["METRICS", "fold_metrics"]

log = logging.getLogger(__name__)

#: Metric names per task, as :func:`fold_metrics` returns them.
METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("pearson", "spearman", "r2", "mse"),
    "classification": ("auroc", "auprc", "accuracy"),
}


def _undefined(names: tuple[str, ...], why: str) -> dict[str, float]:
    """NaN for ``names``, with a logged warning saying why."""
    log.warning("%s undefined: %s", "/".join(names), why)
    return dict.fromkeys(names, float("nan"))


def _regression_metrics(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman, R² and MSE (NaN where a side is constant)."""
    out = {"mse": float(np.mean((target - prediction) ** 2))}
    if np.ptp(target) == 0 or np.ptp(prediction) == 0:
        out |= _undefined(("pearson", "spearman"), "constant target or prediction")
    else:
        out["pearson"] = float(stats.pearsonr(target, prediction)[0])
        out["spearman"] = float(stats.spearmanr(target, prediction)[0])
    if np.ptp(target) == 0:
        out |= _undefined(("r2",), "constant target")
    else:
        out["r2"] = float(r2_score(target, prediction))
    return out


def _classification_metrics(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """AUROC, AUPRC (NaN with one class) and accuracy at P ≥ 0.5."""
    if not np.isin(target, (0, 1)).all():
        raise ValueError(f"classification targets must be 0/1, got {np.unique(target)[:5]}")
    out = {"accuracy": float(accuracy_score(target, prediction >= 0.5))}
    if len(np.unique(target)) < 2:
        return out | _undefined(("auroc", "auprc"), "the target has one class")
    out["auroc"] = float(roc_auc_score(target, prediction))
    out["auprc"] = float(average_precision_score(target, prediction))
    return out


def fold_metrics(task: str, target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Test-set metrics of one fold.

    Parameters
    ----------
    task : str
        ``"regression"``: ``pearson``, ``spearman``, ``r2``, ``mse``;
        ``"classification"``: ``auroc``, ``auprc``, ``accuracy`` (P(label = 1) ≥ 0.5).
    target : numpy.ndarray
        ``(N,)`` true values or 0/1 labels.
    prediction : numpy.ndarray
        ``(N,)`` predicted values or P(label = 1), finite.

    Returns
    -------
    dict of str to float
        NaN (with a logged warning) where a metric is undefined: a constant target or
        prediction (correlations), a constant target (R²), one class (AUROC, AUPRC),
        fewer than two genes (all).

    Raises
    ------
    ValueError
        On an unknown task, shapes that differ or are not 1-D, non-finite values, or
        classification targets other than 0/1.
    """
    names = METRICS.get(task)
    if names is None:
        raise ValueError(f"task must be one of {sorted(METRICS)}, got {task!r}")
    target = np.asarray(target, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    if target.ndim != 1 or target.shape != prediction.shape:
        raise ValueError(
            f"target and prediction must be 1-D of one length, got {target.shape} and "
            f"{prediction.shape}"
        )
    if not (np.isfinite(target).all() and np.isfinite(prediction).all()):
        raise ValueError("target and prediction must be finite")
    if len(target) < 2:
        return _undefined(names, f"{len(target)} genes")
    if task == "regression":
        return _regression_metrics(target, prediction)
    return _classification_metrics(target, prediction)
