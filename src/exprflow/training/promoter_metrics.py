"""Metrics of the promoter tasks, per output and averaged, with flat MLflow-safe names.

:func:`task_metrics` scores one task's predictions over its labelled entries:

- regression: ``<output>_pearson``, ``<output>_spearman``, ``<output>_r2`` and their
  ``mean_*`` (Sharpr: the mean over the four ``*_avg`` outputs, as published);
- binary (predictions are probabilities): ``<output>_auroc`` (NaN with one class
  only) and ``<output>_accuracy`` (threshold 0.5), means over the finite values;
- multiclass (predictions ``(n, n_logits)`` probabilities or logits, head-major as
  :func:`~exprflow.training.promoter_loss.multiclass_view`; each row scored on its own
  genome head ``group``): ``<cell>_accuracy`` and ``mean_accuracy``.

Output names are made MLflow-safe (:func:`metric_name`): characters other than letters,
digits, ``_ - . /`` and space become ``_`` (ChIP-seq outputs ``K562:ATF3`` →
``K562_ATF3``).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from exprflow.evaluation.stats import correlation
from exprflow.training.promoter_loss import multiclass_view

if TYPE_CHECKING:
    from exprflow.data.promoter_tasks import TaskSpec

__all__ = ["mean_outputs", "metric_name", "task_metrics"]

_UNSAFE = re.compile(r"[^\w\-./ ]")


def metric_name(name: str) -> str:
    """``name`` with characters MLflow refuses replaced by ``_``."""
    return _UNSAFE.sub("_", name)


def mean_outputs(spec: TaskSpec) -> list[int]:
    """Columns averaged into ``mean_*``: the ``*_avg`` outputs when any, else all."""
    averaged = [k for k, name in enumerate(spec.outputs) if name.endswith("_avg")]
    return averaged or list(range(len(spec.outputs)))


def task_metrics(
    spec: TaskSpec,
    predictions: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    *,
    group: np.ndarray | None = None,
) -> dict[str, float]:
    """Per-output and mean metrics of one task.

    Parameters
    ----------
    spec : TaskSpec
        The task (kind, outputs, heads).
    predictions : numpy.ndarray
        ``(n, T)`` values (regression) or probabilities (binary); ``(n, n_logits)``
        probabilities or logits (multiclass).
    targets : numpy.ndarray
        ``(n, T)`` values, 0/1 labels, or class indices.
    mask : numpy.ndarray
        bool ``(n, T)``: True where labelled.
    group : numpy.ndarray, optional
        int ``(n,)`` genome head of each row; needed by multiclass tasks with more than
        one head.

    Returns
    -------
    dict of str to float
        Flat names (module docstring); NaN where a metric is undefined.

    Raises
    ------
    ValueError
        On mismatched shapes, an unknown kind or a missing ``group``.
    """
    targets, mask = np.asarray(targets), np.asarray(mask, dtype=bool)
    predictions = np.asarray(predictions, dtype=np.float64)
    if targets.shape != mask.shape or len(predictions) != len(targets):
        raise ValueError(
            f"{spec.name}: predictions {predictions.shape}, targets {targets.shape} and "
            f"mask {mask.shape} do not match"
        )
    if spec.kind == "multiclass":
        return _multiclass(spec, predictions, targets, mask, group)
    if predictions.shape != targets.shape:
        raise ValueError(f"{spec.name}: predictions {predictions.shape} ≠ {targets.shape}")
    per_output = {"regression": _regression, "binary": _binary}.get(spec.kind)
    if per_output is None:
        raise ValueError(f"{spec.name}: unknown task kind {spec.kind!r}")
    out: dict[str, dict[str, float]] = {}
    for k, name in enumerate(spec.outputs):
        keep = mask[:, k]
        out[name] = per_output(predictions[keep, k], targets[keep, k].astype(np.float64))
    return _flatten(out, [spec.outputs[k] for k in mean_outputs(spec)])


def _flatten(per_output: dict[str, dict[str, float]], averaged: list[str]) -> dict[str, float]:
    """``<output>_<metric>`` and ``mean_<metric>`` over the ``averaged`` outputs."""
    flat: dict[str, float] = {}
    metrics = next(iter(per_output.values())).keys() if per_output else []
    for metric in metrics:
        values = [per_output[name][metric] for name in averaged]
        finite = [v for v in values if math.isfinite(v)]
        flat[f"mean_{metric}"] = float(np.mean(finite)) if finite else math.nan
    for name, scores in per_output.items():
        for metric, value in scores.items():
            flat[f"{metric_name(name)}_{metric}"] = value
    return flat


def _regression(predicted: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman (:func:`~exprflow.evaluation.stats.correlation`) and R²."""
    total = float(np.sum((observed - observed.mean()) ** 2)) if len(observed) else 0.0
    r2 = 1.0 - float(np.sum((observed - predicted) ** 2)) / total if total > 0 else math.nan
    both = correlation(predicted, observed)
    return {"pearson": both.pearson, "spearman": both.spearman, "r2": r2}


def _binary(probability: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """AUROC (NaN with a single class) and accuracy at 0.5."""
    if len(label) == 0:
        return {"auroc": math.nan, "accuracy": math.nan}
    auroc = float(roc_auc_score(label, probability)) if len(np.unique(label)) == 2 else math.nan
    return {"auroc": auroc, "accuracy": float(np.mean((probability > 0.5) == (label > 0.5)))}


def _multiclass(
    spec: TaskSpec,
    predictions: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    group: np.ndarray | None,
) -> dict[str, float]:
    """Accuracy per cell on each row's own head."""
    views = multiclass_view(spec, torch.as_tensor(predictions)).numpy()
    if group is None:
        if spec.n_heads > 1:
            raise ValueError(f"{spec.name}: {spec.n_heads} heads need each row's group")
        group = np.zeros(len(views), dtype=np.int64)
    own = views[np.arange(len(views)), np.asarray(group, dtype=np.int64)]
    called = own.argmax(axis=-1)
    out = {}
    for k, name in enumerate(spec.outputs):
        keep = mask[:, k]
        hit = called[keep, k] == targets[keep, k]
        out[name] = {"accuracy": float(hit.mean()) if keep.any() else math.nan}
    return _flatten(out, list(spec.outputs))
