"""Multi-task batches of the promoter models: the published ``--train_mode``.

Training draws from every task at each step through Lightning's
:class:`~lightning.pytorch.utilities.combined_loader.CombinedLoader`; a step's batch is
a dict ``{task: batch}`` (batches of :mod:`exprflow.training.promoter_data`):

- ``min_size``: each step one batch from every task (effective batch = batch size ×
  tasks); the epoch ends when the shortest loader runs out.
- ``max_size_cycle``: the epoch lasts as long as the longest loader; shorter loaders
  start over when they run out.

Validation and test go through every task's rows once, one task after another
(``sequential``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

from lightning.pytorch.utilities.combined_loader import CombinedLoader
from torch.utils.data import DataLoader

from exprflow.training.promoter_data import Batch, TaskTorchData

__all__ = ["TRAIN_MODES", "evaluation_loader", "train_loader"]

#: The published ``--train_mode`` values.
TRAIN_MODES = ("min_size", "max_size_cycle")


def train_loader(
    datasets: Mapping[str, TaskTorchData], batch_size: int, mode: str, *, seed: int = 0
) -> CombinedLoader:
    """Shuffled training batches of every task, combined by ``mode``.

    Parameters
    ----------
    datasets : mapping of str to TaskTorchData
        Task name → its training rows (none empty).
    batch_size : int
        Rows per task per step.
    mode : {"min_size", "max_size_cycle"}
        How loaders of different lengths combine (see the module docstring).
    seed : int, optional
        Seed of the shuffling; task ``k`` (in mapping order) shuffles from ``seed + k``.
        Default 0.

    Returns
    -------
    CombinedLoader
        Iterating yields ``({task: batch}, batch_idx, 0)``; Lightning passes the dict to
        ``training_step``.

    Raises
    ------
    ValueError
        On an unknown mode, no tasks, a batch size < 1 or a task without rows.
    """
    if mode not in TRAIN_MODES:
        raise ValueError(f"train_mode must be one of {TRAIN_MODES}, got {mode!r}")
    loaders = _loaders(datasets, batch_size, shuffle=True, seed=seed)
    return CombinedLoader(loaders, mode=cast(Literal["min_size", "max_size_cycle"], mode))


def evaluation_loader(datasets: Mapping[str, TaskTorchData], batch_size: int) -> CombinedLoader:
    """Unshuffled batches of every task, one task after the other.

    Parameters
    ----------
    datasets : mapping of str to TaskTorchData
        Task name → its validation (or test) rows (none empty).
    batch_size : int
        Rows per batch.

    Returns
    -------
    CombinedLoader
        ``sequential`` mode: yields ``(batch, batch_idx, dataloader_idx)`` with
        ``dataloader_idx`` the task's position in ``datasets``.

    Raises
    ------
    ValueError
        On no tasks, a batch size < 1 or a task without rows.
    """
    return CombinedLoader(_loaders(datasets, batch_size, shuffle=False), mode="sequential")


def _loaders(
    datasets: Mapping[str, TaskTorchData], batch_size: int, *, shuffle: bool, seed: int = 0
) -> dict[str, DataLoader[Batch]]:
    """One DataLoader per task, in mapping order."""
    if not datasets:
        raise ValueError("no tasks to batch")
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    empty = [name for name, data in datasets.items() if len(data) == 0]
    if empty:
        raise ValueError(f"tasks without rows in this split: {', '.join(empty)}")
    return {
        name: data.loader(batch_size, shuffle=shuffle, seed=seed + k)
        for k, (name, data) in enumerate(datasets.items())
    }
