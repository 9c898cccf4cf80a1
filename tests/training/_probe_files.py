"""Tiny embeddings and labels files with a planted signal the probe heads can learn.

64 regions of 18,432 bp (16 bins of 128 bp between 8,192 bp crops; 44 train, 10 valid,
10 test) × 8 channels, three tracks on very
different scales. Binned labels are ``scale_k · softplus(emb · w_k)`` per bin (so the
linear probe can fit them exactly); single-bin labels are their mean over the bins. A few
labels are NaN (no data) and must be masked by the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from exprflow.data.label_file import create_label_file
from exprflow.data.label_targets import LabelTarget
from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.merge import merge_blocks

N, BINS, CHANNELS = 64, 16, 8
TRACKS = ("lamina", "lads", "cpg")
SCALES = np.array([100.0, 0.01, 1.0])
LENGTH = 2 * 8192 + BINS * 128
FOLDS = np.array(["train"] * 44 + ["valid"] * 10 + ["test"] * 10)


def regions(n: int = N) -> pd.DataFrame:
    """The region table (chr1, every 20 kb; folds as :data:`FOLDS`)."""
    starts = np.arange(n) * 20_000
    table = {"chrom": "chr1", "start": starts, "end": starts + LENGTH, "fold": FOLDS[:n]}
    return pd.DataFrame(table)


def embedding_values(seed: int = 0) -> np.ndarray:
    """``(N, BINS, CHANNELS)`` float16 embeddings."""
    return np.random.default_rng(seed).normal(0, 1, size=(N, BINS, CHANNELS)).astype("float16")


def label_values(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binned ``(N, BINS, 3)`` and single-bin ``(N, 1, 3)`` labels of the planted signal."""
    emb = embedding_values(seed).astype(np.float64)
    weights = np.random.default_rng(seed + 1).normal(0, 0.7, size=(CHANNELS, len(TRACKS)))
    binned = SCALES * np.logaddexp(0.0, emb @ weights)
    binned[3, 2:5, 1] = np.nan
    single = binned.mean(axis=1, keepdims=True)
    single[5, 0, 0] = np.nan
    return binned.astype(np.float32), single.astype(np.float32)


def write_embeddings_file(root: Path, values: np.ndarray, table: pd.DataFrame) -> Path:
    """Write ``values`` ``(regions, bins, channels)`` as ``root/embeddings.h5`` (embed layout)."""
    n, bins, channels = values.shape
    manifest = {
        "n_regions": n, "bins": bins, "channels": channels, "level": 1, "key": {},
        "attributes": {"alphabet": "ACGT", "bin_size": 128},
    }  # fmt: skip
    work = WorkFolder(root / "work", manifest)
    work.save_regions(table)
    with ThreadPoolExecutor(2) as encoder:
        work.write_block(0, values, encoder)
    merge_blocks(work, str(root / "embeddings.h5"))
    return root / "embeddings.h5"


def write_labels_file(
    path: Path,
    table: pd.DataFrame,
    tracks: Sequence[str],
    binned: np.ndarray,
    single: np.ndarray,
) -> Path:
    """Write a labels file (layout of ``prepare``, 128 bp bins, 8,192 bp crops) at ``path``."""
    targets = [
        LabelTarget(k, 0, name, Path(f"{name}.bw"), np.inf, 1.0, "mean", name, None)
        for k, name in enumerate(tracks)
    ]
    with h5py.File(path, "w", libver="latest") as h5:
        datasets = create_label_file(h5, table, targets, (128, 8192, binned.shape[1]))
        datasets[0][...], datasets[1][...] = binned, single
    return path


def write_embeddings(root: Path, seed: int = 0, table: pd.DataFrame | None = None) -> Path:
    """Write the planted embeddings (the first ``len(table)`` regions) under ``root``."""
    table = regions() if table is None else table
    return write_embeddings_file(root, embedding_values(seed)[: len(table)], table)


def write_labels(path: Path, seed: int = 0, table: pd.DataFrame | None = None) -> Path:
    """Write the planted labels (the first ``len(table)`` regions) at ``path``."""
    table = regions() if table is None else table
    binned, single = label_values(seed)
    return write_labels_file(path, table, TRACKS, binned[: len(table)], single[: len(table)])


def write_files(root: Path) -> tuple[Path, Path]:
    """Both files in ``root``; returns ``(embeddings, labels)``."""
    root.mkdir(parents=True, exist_ok=True)
    return write_embeddings(root), write_labels(root / "labels.h5")
