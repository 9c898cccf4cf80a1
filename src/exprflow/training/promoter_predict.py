"""Predictions and scores of a promoter model on a task's rows, as the published evaluation.

- Outputs become predictions per task kind (:func:`outputs_to_predictions`): regression
  values as they are, binary probabilities (sigmoid), multiclass probabilities (softmax
  over the classes of every head × cell; ``(n, n_logits)`` head-major, see
  :func:`~exprflow.training.promoter_loss.multiclass_view`).
- RNASeq (:data:`AVERAGED_TASKS`): every row gets the mean prediction of its gene's
  windows (``group``), and metrics count each gene once.

:func:`predict_task` is the public entry; :func:`head_outputs` gives the raw logits of
any head on any task's sequences (zero-shot transfer); :func:`evaluate_tasks` scores test
rows after a fit. Both restore the model's device and every submodule's train/eval mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from exprflow.training.promoter_data import CountScanner, TaskTorchData
from exprflow.training.promoter_loss import multiclass_view
from exprflow.training.promoter_metrics import task_metrics

if TYPE_CHECKING:
    from exprflow.data.promoter_tasks import TaskData, TaskSpec
    from exprflow.models.promoter.model import PromoterModel

__all__ = [
    "AVERAGED_TASKS",
    "device_for",
    "evaluate_tasks",
    "head_outputs",
    "outputs_to_predictions",
    "predict_task",
    "score_task",
]

#: Tasks whose rows of one ``group`` (a gene's windows) are averaged at evaluation.
AVERAGED_TASKS = ("RNASeq",)


def device_for(device: str | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else the CPU; ``"gpu"`` → CUDA; else as given."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device("cuda" if device == "gpu" else device)


def outputs_to_predictions(spec: TaskSpec, logits: Tensor) -> np.ndarray:
    """Head outputs ``(n, n_logits)`` → predictions ``(n, n_logits)`` float64 (see module)."""
    logits = logits.float()
    if spec.kind == "binary":
        logits = torch.sigmoid(logits)
    elif spec.kind == "multiclass":
        logits = torch.softmax(multiclass_view(spec, logits), dim=-1).reshape(len(logits), -1)
    return logits.double().numpy()


def _averaged(spec: TaskSpec, predictions: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each row's group mean for :data:`AVERAGED_TASKS`; ``predictions`` otherwise."""
    if spec.name not in AVERAGED_TASKS:
        return predictions
    _, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), predictions.shape[1]))
    np.add.at(sums, inverse, predictions)
    averaged: np.ndarray = (sums / counts[:, None])[inverse]
    return averaged


def score_task(
    spec: TaskSpec, logits: Tensor, targets: Tensor, mask: Tensor, group: Tensor
) -> tuple[np.ndarray, dict[str, float]]:
    """Predictions (group-averaged where published) and metrics of one task's rows.

    Parameters
    ----------
    spec : TaskSpec
        The task.
    logits : torch.Tensor
        Head outputs ``(n, n_logits)``.
    targets, mask : torch.Tensor
        ``(n, T)`` targets and bool labelled mask.
    group : torch.Tensor
        int64 ``(n,)``.

    Returns
    -------
    predictions : numpy.ndarray
        float64 ``(n, n_logits)``.
    metrics : dict of str to float
        :func:`~exprflow.training.promoter_metrics.task_metrics`.
    """
    groups = group.numpy()
    predictions = _averaged(spec, outputs_to_predictions(spec, logits), groups)
    rows = np.arange(len(groups))
    if spec.name in AVERAGED_TASKS:
        rows = np.unique(groups, return_index=True)[1]
    metrics = task_metrics(
        spec,
        predictions[rows],
        targets.numpy()[rows],
        mask.numpy()[rows],
        group=groups[rows],
    )
    return predictions, metrics


def _logits(
    model: PromoterModel,
    data: TaskTorchData,
    batch_size: int,
    device: torch.device,
    head: str | None = None,
) -> Tensor:
    """Outputs of ``head`` (default the data's task) on every row of ``data`` (CPU, float32).

    The model's device and every submodule's train/eval mode are restored.
    """
    first = next(model.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    modes = {module: module.training for module in model.modules()}
    parts = []
    try:
        model.to(device).eval()
        with torch.no_grad():
            for batch in data.loader(batch_size):
                parts.append(model(batch["x"].to(device), head or data.name).float().cpu())
    finally:
        model.to(home)
        for module, training in modes.items():
            module.training = training
    return torch.cat(parts) if parts else torch.zeros(0, 0)


def predict_task(
    model: PromoterModel,
    task: TaskData,
    indices: np.ndarray | Sequence[int],
    *,
    scanner: CountScanner | None = None,
    batch_size: int = 256,
    device: str | None = None,
) -> np.ndarray:
    """Predictions of ``task``'s head on its rows ``indices``.

    Parameters
    ----------
    model : PromoterModel
        With a head named ``task.spec.name``.
    task : TaskData
        The task's data.
    indices : array-like of int
        Rows to predict, in this order.
    scanner : CountScanner, optional
        Motif scanner of a motif-count backbone.
    batch_size : int, optional
        Rows per forward pass. Default 256.
    device : str, optional
        "auto"/None (default), "cpu", "gpu" or a torch device string.

    Returns
    -------
    numpy.ndarray
        float64 ``(n, n_logits)``: values (regression), probabilities (binary; multiclass,
        softmax per head and cell); RNASeq rows carry their gene's window mean.
    """
    if task.spec.name not in model.heads:
        raise ValueError(f"model has no head {task.spec.name!r}; heads: {sorted(model.heads)}")
    data = _task_data(model, task, indices, scanner)
    logits = _logits(model, data, batch_size, device_for(device))
    return _averaged(task.spec, outputs_to_predictions(task.spec, logits), data.group.numpy())


def head_outputs(
    model: PromoterModel,
    task: TaskData,
    indices: np.ndarray | Sequence[int],
    head: str,
    *,
    scanner: CountScanner | None = None,
    batch_size: int = 256,
    device: str | None = None,
) -> np.ndarray:
    """Raw outputs (logits) of any head on ``task``'s rows: zero-shot transfer.

    Parameters
    ----------
    model : PromoterModel
        With a head named ``head``.
    task : TaskData
        Whose sequences are read (e.g. the fluorescence promoters).
    indices : array-like of int
        Rows, in this order.
    head : str
        The head (e.g. a pretraining task's).
    scanner : CountScanner, optional
        Motif scanner of a motif-count backbone.
    batch_size : int, optional
        Rows per forward pass. Default 256.
    device : str, optional
        "auto"/None (default), "cpu", "gpu" or a torch device string.

    Returns
    -------
    numpy.ndarray
        float64 ``(n, n_logits of head)``, no group averaging.
    """
    if head not in model.heads:
        raise ValueError(f"model has no head {head!r}; heads: {sorted(model.heads)}")
    data = _task_data(model, task, indices, scanner)
    return _logits(model, data, batch_size, device_for(device), head).double().numpy()


def _task_data(
    model: PromoterModel,
    task: TaskData,
    indices: np.ndarray | Sequence[int],
    scanner: CountScanner | None,
) -> TaskTorchData:
    """``task``'s rows as ``model``'s backbone reads them."""
    backbone = model.backbone
    return TaskTorchData(
        task, indices, backbone.input_kind, scanner, fixed_length=backbone.fixed_length
    )


def evaluate_tasks(
    model: PromoterModel,
    specs: Mapping[str, TaskSpec],
    datasets: Mapping[str, TaskTorchData],
    batch_size: int,
    device: torch.device,
) -> dict[str, dict[str, float]]:
    """Metrics of every task on its rows in ``datasets`` (e.g. the test split).

    Parameters
    ----------
    model : PromoterModel
        The model to score.
    specs : mapping of str to TaskSpec
        Task name → spec.
    datasets : mapping of str to TaskTorchData
        Task name → rows.
    batch_size : int
        Rows per forward pass.
    device : torch.device
        Where to run.

    Returns
    -------
    dict of str to dict of str to float
    """
    scores = {}
    for name, data in datasets.items():
        logits = _logits(model, data, batch_size, device)
        _, scores[name] = score_task(specs[name], logits, data.target, data.mask, data.group)
    return scores
