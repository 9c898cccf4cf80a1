"""Losses of the promoter tasks and their learnable uncertainty weights (Kendall et al.).

- :func:`task_loss`: MSE (regression), binary cross-entropy on logits over the labelled
  entries only (binary; ChIP-seq tracks of other biosamples are masked), cross-entropy
  of each row's own genome head (multiclass: SuRE's 4 genomes × 2 cells × 5 classes).
- :class:`UncertaintyWeights`: per task a learnable ``s`` (initialised at 0) stored as
  the parameter ``<task>_loss``; the weighted loss is ``L / ((1 + [regression]) e^s)
  + s / 2`` (as torchmtl in the published code). With a single task ``s`` stays 0 (not
  learnable), so a regression MSE is halved.

Multiclass logits ``(B, n_heads · n_cells · n_classes)`` are laid out head-major:
column ``(h · n_cells + c) · n_classes + k`` is class ``k`` of cell ``c`` on head ``h``
(:func:`multiclass_view`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from exprflow.data.promoter_tasks import TaskSpec

__all__ = ["TASK_KINDS", "UncertaintyWeights", "multiclass_view", "task_loss"]

#: The task kinds of :class:`~exprflow.data.promoter_tasks.TaskSpec`.
TASK_KINDS = ("regression", "binary", "multiclass")


def multiclass_view(spec: TaskSpec, logits: Tensor) -> Tensor:
    """Multiclass logits ``(B, n_logits)`` as ``(B, n_heads, n_cells, n_classes)``.

    Parameters
    ----------
    spec : TaskSpec
        A multiclass task (``n_heads``, ``n_classes``; cells = ``len(outputs)``).
    logits : torch.Tensor
        ``(B, n_heads · n_cells · n_classes)``.

    Returns
    -------
    torch.Tensor
    """
    shape = (spec.n_heads, len(spec.outputs), spec.n_classes)
    if logits.shape[1:] != (shape[0] * shape[1] * shape[2],):
        raise ValueError(
            f"{spec.name}: logits of shape {tuple(logits.shape)}, expected (B, "
            f"{shape[0]}·{shape[1]}·{shape[2]})"
        )
    return logits.reshape(len(logits), *shape)


def task_loss(spec: TaskSpec, logits: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """Unweighted loss of one task's batch, in float32 (0 when nothing is labelled).

    Parameters
    ----------
    spec : TaskSpec
        The task (``kind`` picks the loss).
    logits : torch.Tensor
        The head's output ``(B, n_logits)``.
    batch : mapping of str to torch.Tensor
        ``target`` ``(B, T)``, ``mask`` bool ``(B, T)``, ``group`` ``(B,)`` (the genome
        head of a multiclass row).

    Returns
    -------
    torch.Tensor
        Scalar: the mean over labelled entries.

    Raises
    ------
    ValueError
        On an unknown kind or logits of the wrong width.
    """
    logits, target, mask = logits.float(), batch["target"], batch["mask"]
    if spec.kind == "multiclass":
        views = multiclass_view(spec, logits)
        rows = torch.arange(len(views), device=views.device)
        own = views[rows, batch["group"]]  # (B, n_cells, n_classes)
        if not bool(mask.any()):
            return own.sum() * 0.0
        return F.cross_entropy(own[mask], target[mask])
    if spec.kind not in TASK_KINDS:
        raise ValueError(f"{spec.name}: kind must be one of {TASK_KINDS}, got {spec.kind!r}")
    if logits.shape != target.shape:
        raise ValueError(
            f"{spec.name}: logits {tuple(logits.shape)} do not match targets {tuple(target.shape)}"
        )
    if not bool(mask.any()):
        return logits.sum() * 0.0
    if spec.kind == "binary":
        return F.binary_cross_entropy_with_logits(logits[mask], target[mask].float())
    return F.mse_loss(logits[mask], target[mask].float())


class UncertaintyWeights(nn.Module):
    """Learnable per-task loss weights: ``L / ((1 + [regression]) e^s) + s / 2``.

    Parameters
    ----------
    tasks : mapping of str to TaskSpec
        The tasks trained together. One task: ``s`` is fixed at 0.

    Attributes
    ----------
    learnable : bool
        Whether the ``s`` are trained (more than one task).
    """

    def __init__(self, tasks: Mapping[str, TaskSpec]) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("UncertaintyWeights needs at least one task")
        self.learnable = len(tasks) > 1
        self._factor = {
            name: 2.0 if spec.kind == "regression" else 1.0 for name, spec in tasks.items()
        }
        for name in tasks:
            self.register_parameter(
                f"{name}_loss", nn.Parameter(torch.zeros(()), requires_grad=self.learnable)
            )

    def log_variance(self, task: str) -> Tensor:
        """The task's ``s`` (scalar parameter ``<task>_loss``)."""
        value: Tensor = getattr(self, f"{task}_loss")
        return value

    def as_dict(self) -> dict[str, float]:
        """Each task's current ``s``."""
        return {task: float(self.log_variance(task).detach()) for task in self._factor}

    def weighted(self, task: str, loss: Tensor) -> Tensor:
        """One task's weighted loss ``loss / (factor · e^s) + s / 2``.

        Parameters
        ----------
        task : str
            A task given at construction.
        loss : torch.Tensor
            Its unweighted scalar loss.

        Returns
        -------
        torch.Tensor
        """
        if task not in self._factor:
            raise KeyError(f"no loss weight for task {task!r}; have {sorted(self._factor)}")
        s = self.log_variance(task)
        return loss / (self._factor[task] * torch.exp(s)) + s / 2

    def forward(self, losses: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Total and per-task weighted losses.

        Parameters
        ----------
        losses : mapping of str to torch.Tensor
            Unweighted scalar loss of each task present in the step.

        Returns
        -------
        total : torch.Tensor
            Sum of the weighted losses.
        weighted : dict of str to torch.Tensor
            Each task's weighted loss.
        """
        weighted = {task: self.weighted(task, loss) for task, loss in losses.items()}
        total = torch.stack(list(weighted.values())).sum()
        return total, weighted
