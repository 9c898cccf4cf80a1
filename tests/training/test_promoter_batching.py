"""Promoter task batches: one-hot trimming/padding, motif counts, CombinedLoader modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tests.training._promoter_tasks import chip, fluorescence, sure

from exprflow.data.promoter_codes import codes_to_onehot
from exprflow.training.promoter_batching import evaluation_loader, train_loader
from exprflow.training.promoter_data import TaskTorchData


class _CountA:
    """Stand-in scanner: one 'motif' = the number of A bases."""

    n_motifs = 1

    def counts(self, codes: np.ndarray) -> np.ndarray:
        return (codes == 0).sum(axis=1, keepdims=True).astype(np.float32)


def test_batch_is_trimmed_to_its_longest_sequence() -> None:
    task = chip()
    rows = np.array([3, 7, 11])
    data = TaskTorchData(task, rows, "onehot")
    batch = data.__getitems__([0, 1, 2])
    longest = int(task.lengths[rows].max())
    assert batch["x"].shape == (3, longest, 4)
    assert batch["x"].dtype == torch.float32
    expected = codes_to_onehot(torch.as_tensor(task.codes[rows, :longest]))
    assert torch.equal(batch["x"], expected)
    assert torch.equal(batch["target"], torch.as_tensor(task.targets[rows]))
    assert torch.equal(batch["mask"], torch.as_tensor(task.mask[rows]))
    assert batch["row"].tolist() == [0, 1, 2]


def test_fixed_length_pads_with_zeros_and_refuses_longer() -> None:
    task = chip(width=80)
    data = TaskTorchData(task, np.arange(5), "onehot", fixed_length=100)
    x = data.__getitems__([0, 1])["x"]
    assert x.shape == (2, 100, 4)
    assert float(x[:, 80:].abs().sum()) == 0.0
    with pytest.raises(ValueError, match=r"ENCODETFChIPSeq has sequences of up to .* exactly 50"):
        TaskTorchData(task, np.arange(len(task)), "onehot", fixed_length=50)


def test_multiclass_targets_are_int64_and_group_kept() -> None:
    task = sure()
    batch = TaskTorchData(task, np.arange(10), "onehot").__getitems__(list(range(4)))
    assert batch["target"].dtype == torch.int64
    assert batch["group"].tolist() == task.group[:4].tolist()


def test_motif_counts_are_computed_once_by_the_scanner() -> None:
    task = fluorescence(n=20)
    data = TaskTorchData(task, np.arange(20), "motif_counts", _CountA())
    x = data.__getitems__([2, 5])["x"]
    assert x.shape == (2, 1)
    assert x[:, 0].tolist() == [float((task.codes[k] == 0).sum()) for k in (2, 5)]


def test_bad_inputs_are_refused() -> None:
    task = chip()
    with pytest.raises(ValueError, match="input_kind"):
        TaskTorchData(task, [0], "kmers")
    with pytest.raises(ValueError, match="need a motif scanner"):
        TaskTorchData(task, [0], "motif_counts")
    with pytest.raises(ValueError, match="indices outside"):
        TaskTorchData(task, [len(task)], "onehot")
    data = {"a": TaskTorchData(task, np.arange(10), "onehot")}
    with pytest.raises(ValueError, match="train_mode"):
        train_loader(data, 4, "max_size")
    with pytest.raises(ValueError, match="without rows"):
        train_loader({"a": TaskTorchData(task, [], "onehot")}, 4, "min_size")


def _two_tasks() -> dict[str, TaskTorchData]:
    """10 rows of one task (3 batches of 4) and 25 of another (7 batches of 4)."""
    return {
        "short": TaskTorchData(chip(), np.arange(10), "onehot"),
        "long": TaskTorchData(sure(), np.arange(25), "onehot"),
    }


def _count(mode: str) -> tuple[int, dict[str, int], dict[str, int]]:
    loader = train_loader(_two_tasks(), 4, mode, seed=0)
    steps, batches, rows = 0, {"short": 0, "long": 0}, {"short": 0, "long": 0}
    for batch, _, _ in loader:
        steps += 1
        for name, part in batch.items():
            batches[name] += 1
            rows[name] += len(part["x"])
    assert len(loader) == steps
    return steps, batches, rows


def test_min_size_draws_from_every_task_until_the_shortest_ends() -> None:
    steps, batches, rows = _count("min_size")
    assert steps == math.ceil(10 / 4) == 3
    assert batches == {"short": 3, "long": 3}
    assert rows == {"short": 10, "long": 12}


def test_max_size_cycle_cycles_the_shorter_task() -> None:
    steps, batches, rows = _count("max_size_cycle")
    assert steps == math.ceil(25 / 4) == 7
    assert batches == {"short": 7, "long": 7}
    assert rows["long"] == 25
    assert rows["short"] == 10 + 10 + 4  # two passes of 3 batches, then one more batch


def test_training_batches_are_reshuffled_deterministically() -> None:
    def rows(seed: int) -> list[list[int]]:
        loader = train_loader(_two_tasks(), 4, "min_size", seed=seed)
        return [batch["short"]["row"].tolist() for batch, _, _ in loader]

    first = rows(0)
    assert first == rows(0)
    assert first != rows(1)
    assert sorted(row for batch in first for row in batch) == list(range(10))


def test_evaluation_goes_through_each_task_once_in_order() -> None:
    loader = evaluation_loader(_two_tasks(), 8)
    seen = [(idx, len(batch["x"])) for batch, _, idx in loader]
    assert seen == [(0, 8), (0, 2), (1, 8), (1, 8), (1, 8), (1, 1)]
