"""Torch view of one promoter task's rows: the batches the promoter models train on.

:class:`TaskTorchData` serves the rows ``indices`` of a
:class:`~exprflow.data.promoter_tasks.TaskData` as batch dicts::

    {"x":      float32 (B, L, 4) one-hot (ACGT; N = 0.25 everywhere; padding all 0),
               trimmed to the batch's longest sequence (or padded to ``fixed_length``),
               or float32 (B, n_motifs) motif counts for the motif-count backbones,
     "target": float32 (B, T) (regression, binary) or int64 (B, T) class indices (multiclass),
     "mask":   bool (B, T), True = labelled,
     "group":  int64 (B,) (RNASeq gene, SuRE genome, else the row),
     "row":    int64 (B,) position of the row in ``indices``}

Batches are fetched whole (``__getitems__``), so a DataLoader needs :func:`collate_batch`
(the identity) as its ``collate_fn``; :meth:`TaskTorchData.loader` builds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from exprflow.data.promoter_codes import codes_to_onehot

if TYPE_CHECKING:
    from exprflow.data.promoter_tasks import TaskData

__all__ = ["INPUT_KINDS", "Batch", "CountScanner", "TaskTorchData", "collate_batch"]

#: What a backbone reads: one-hot sequences or a motif-count vector.
INPUT_KINDS = ("onehot", "motif_counts")

Batch = dict[str, Tensor]


class CountScanner(Protocol):
    """What :class:`TaskTorchData` needs of a motif scanner (``MotifScanner``)."""

    @property
    def n_motifs(self) -> int:
        """Number of motifs counted."""

    def counts(self, codes: np.ndarray) -> np.ndarray:
        """Motif counts ``(N, n_motifs)`` float32 of int8 codes ``(N, L)``."""


class TaskTorchData(Dataset[Batch]):
    """The rows ``indices`` of one task as whole batches.

    Parameters
    ----------
    task : TaskData
        The task (codes, targets, mask, group).
    indices : numpy.ndarray
        int ``(n,)`` rows of ``task`` served, in this order.
    input_kind : {"onehot", "motif_counts"}
        What the backbone reads.
    scanner : CountScanner, optional
        Counts the motifs of every row once, here; required for ``"motif_counts"``.
    fixed_length : int, optional
        Pad every one-hot batch to this length (a backbone with a fixed input length);
        a row longer than it is a ValueError. Default None: trim to the batch's longest.

    Raises
    ------
    ValueError
        On an unknown ``input_kind``, a missing scanner, indices outside the task, or a
        sequence longer than ``fixed_length``.
    """

    def __init__(
        self,
        task: TaskData,
        indices: np.ndarray | Sequence[int],
        input_kind: str,
        scanner: CountScanner | None = None,
        *,
        fixed_length: int | None = None,
    ) -> None:
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
        rows = np.asarray(indices, dtype=np.int64)
        n = len(task.codes)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise ValueError(f"{task.spec.name}: indices outside 0..{n - 1}")
        self.name, self.input_kind, self.rows = task.spec.name, input_kind, rows
        self.lengths = np.asarray(task.lengths, dtype=np.int64)[rows]
        if fixed_length is not None and self.lengths.size and self.lengths.max() > fixed_length:
            raise ValueError(
                f"{self.name} has sequences of up to {int(self.lengths.max())} bp; the "
                f"backbone reads exactly {fixed_length} bp"
            )
        self.fixed_length = fixed_length
        self.codes = np.ascontiguousarray(task.codes[rows])
        multiclass = task.spec.kind == "multiclass"
        self.target = torch.as_tensor(
            np.asarray(task.targets[rows], dtype=np.int64 if multiclass else np.float32)
        )
        self.mask = torch.as_tensor(np.asarray(task.mask[rows], dtype=bool))
        self.group = torch.as_tensor(np.asarray(task.group, dtype=np.int64)[rows])
        self.counts: Tensor | None = None
        if input_kind == "motif_counts":
            if scanner is None:
                raise ValueError(f"{self.name}: motif-count inputs need a motif scanner")
            self.counts = torch.as_tensor(np.asarray(scanner.counts(self.codes), np.float32))

    def __len__(self) -> int:
        return len(self.rows)

    def _inputs(self, rows: np.ndarray) -> Tensor:
        """Model input of ``rows`` (positions in this dataset)."""
        if self.counts is not None:
            return self.counts[torch.as_tensor(rows)]
        longest = int(self.lengths[rows].max()) if rows.size else 0
        width = self.fixed_length or longest
        codes = np.full((len(rows), width), 5, dtype=np.int8)
        keep = min(width, self.codes.shape[1])
        codes[:, :keep] = self.codes[rows, :keep]
        onehot: Tensor = codes_to_onehot(torch.as_tensor(codes))
        return onehot

    def __getitems__(self, positions: Sequence[int]) -> Batch:
        """The batch of ``positions`` (a list of positions in this dataset)."""
        rows = np.asarray(positions, dtype=np.int64)
        index = torch.as_tensor(rows)
        return {
            "x": self._inputs(rows),
            "target": self.target[index],
            "mask": self.mask[index],
            "group": self.group[index],
            "row": index,
        }

    def __getitem__(self, position: int) -> Batch:
        """A batch of one row."""
        return self.__getitems__([position])

    def loader(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False
    ) -> DataLoader[Batch]:
        """Batches of ``batch_size`` rows, shuffled each epoch from ``seed`` when asked.

        Parameters
        ----------
        batch_size : int
            Rows per batch (the last may be smaller unless ``drop_last``).
        shuffle : bool, optional
            Reshuffle each epoch. Default False.
        seed : int, optional
            Seed of the shuffling generator. Default 0.
        drop_last : bool, optional
            Drop a last partial batch. Default False.

        Returns
        -------
        torch.utils.data.DataLoader
        """
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            drop_last=drop_last,
            collate_fn=collate_batch,
        )


def collate_batch(batch: Any) -> Any:
    """Identity: :class:`TaskTorchData` already returns whole batches."""
    return batch
