"""Small synthetic promoter tasks (TaskData) for the promoter training tests."""

from __future__ import annotations

import numpy as np

from exprflow.data.promoter_codes import encode_codes
from exprflow.data.promoter_tasks import TaskData, TaskSpec

CELLS = ("JURKAT", "K562", "THP1")
MOTIF = "GATAAG"


def random_codes(rng: np.random.Generator, n: int, width: int, lengths: np.ndarray) -> np.ndarray:
    """Random ACGT codes right-padded with 5 beyond each row's length."""
    codes = rng.integers(0, 4, size=(n, width)).astype(np.int8)
    codes[np.arange(width)[None, :] >= lengths[:, None]] = 5
    return codes


def random_splits(rng: np.random.Generator, n: int, seeds: int) -> np.ndarray:
    """70/10/20 train/val/test per split column (every split non-empty)."""
    columns = []
    for _ in range(seeds):
        split = np.zeros(n, dtype=np.int8)
        order = rng.permutation(n)
        split[order[int(0.7 * n) : int(0.8 * n)]] = 1
        split[order[int(0.8 * n) :]] = 2
        columns.append(split)
    return np.stack(columns, axis=1)


def fluorescence(n: int = 300, length: int = 250, seed: int = 0, seeds: int = 2) -> TaskData:
    """Fluorescence = number of planted ``MOTIF`` copies (0..4) per cell, plus small noise."""
    rng = np.random.default_rng(seed)
    lengths = np.full(n, length, dtype=np.int32)
    codes = random_codes(rng, n, length, lengths)
    motif = encode_codes([MOTIF])[0]
    copies = rng.integers(0, 5, size=n)
    slots = length // 10
    for row, k in enumerate(copies):
        for slot in rng.choice(slots, size=k, replace=False):
            codes[row, slot * 10 : slot * 10 + len(motif)] = motif
    scale = np.array([1.0, 0.8, 1.2], dtype=np.float32)
    targets = copies[:, None] * scale[None, :] + rng.normal(0, 0.1, (n, 3)).astype(np.float32)
    spec = TaskSpec("FluorescenceData", "regression", CELLS, 3, max_length=length)
    return TaskData(
        spec,
        np.array([f"p{i}" for i in range(n)]),
        codes,
        lengths,
        targets.astype(np.float32),
        np.ones((n, 3), dtype=bool),
        random_splits(rng, n, seeds),
        np.arange(n, dtype=np.int64),
    )


def chip(n: int = 120, width: int = 80, seed: int = 1) -> TaskData:
    """Binary multi-label task with variable lengths and masked labels."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(width // 2, width + 1, size=n).astype(np.int32)
    outputs = ("K562:ATF3", "K562:GATA1", "HepG2:FOXA2")
    targets = rng.integers(0, 2, size=(n, 3)).astype(np.float32)
    mask = rng.random((n, 3)) < 0.7
    spec = TaskSpec("ENCODETFChIPSeq", "binary", outputs, 3, max_length=width)
    return TaskData(
        spec,
        np.array([f"c{i}" for i in range(n)]),
        random_codes(rng, n, width, lengths),
        lengths,
        targets,
        mask,
        random_splits(rng, n, 1),
        np.arange(n, dtype=np.int64),
    )


def sure(n: int = 100, width: int = 60, seed: int = 2) -> TaskData:
    """Multiclass SuRE-like task: 4 genome heads × 2 cells × 5 classes."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(width // 2, width + 1, size=n).astype(np.int32)
    spec = TaskSpec(
        "SuRE_classification", "multiclass", ("K562", "HepG2"), 40, 4, 5, max_length=width
    )
    return TaskData(
        spec,
        np.array([f"s{i}" for i in range(n)]),
        random_codes(rng, n, width, lengths),
        lengths,
        rng.integers(0, 5, size=(n, 2)).astype(np.int64),
        np.ones((n, 2), dtype=bool),
        random_splits(rng, n, 1),
        rng.integers(0, 4, size=n).astype(np.int64),
    )


def rnaseq(genes: int = 30, width: int = 50, seed: int = 3) -> TaskData:
    """Regression with three windows (rows) per gene sharing the gene's targets."""
    rng = np.random.default_rng(seed)
    n = 3 * genes
    lengths = np.full(n, width, dtype=np.int32)
    gene_targets = rng.normal(size=(genes, 2)).astype(np.float32)
    gene_split = random_splits(rng, genes, 1)
    group = np.repeat(np.arange(genes, dtype=np.int64), 3)
    spec = TaskSpec("RNASeq", "regression", ("E123", "E118"), 2, max_length=width)
    return TaskData(
        spec,
        np.array([f"g{g}_w{k}" for g in range(genes) for k in range(3)]),
        random_codes(rng, n, width, lengths),
        lengths,
        gene_targets[group],
        np.ones((n, 2), dtype=bool),
        gene_split[group],
        group,
    )


def sharpr(n: int = 120, width: int = 145, seed: int = 4) -> TaskData:
    """Regression with 4 outputs, two of them ``*_avg`` (the ones averaged)."""
    rng = np.random.default_rng(seed)
    lengths = np.full(n, width, dtype=np.int32)
    outputs = ("k562_minp_rep1", "k562_minp_avg", "hepg2_minp_rep1", "hepg2_minp_avg")
    spec = TaskSpec("Sharpr_MPRA", "regression", outputs, 4, max_length=width)
    return TaskData(
        spec,
        np.array([f"t{i}" for i in range(n)]),
        random_codes(rng, n, width, lengths),
        lengths,
        rng.normal(size=(n, 4)).astype(np.float32),
        np.ones((n, 4), dtype=bool),
        random_splits(rng, n, 1),
        np.arange(n, dtype=np.int64),
    )
