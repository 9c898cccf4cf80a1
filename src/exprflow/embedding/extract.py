"""Run a Basenji2 trunk over regions in batches and write finished blocks as it goes.

Three stages overlap: a reader thread fetches each batch's sequences from the FASTA and
one-hot encodes them (channels ``A, C, G, T``, ``N`` all zero), the model runs on the
main thread, and a writer thread compresses and stores the previous batch
(:meth:`~exprflow.embedding.blocks.WorkFolder.write_block`). Every batch has the same
shape — the last one is padded with empty sequences — so a compiled graph is traced
once and a region's embedding does not depend on the batch it landed in: one run, a
sharded run and a resumed run give identical bytes.

Batches never span a finished region, so a resumed run computes exactly the regions no
block holds. The model pass itself (and its reverse-complement averaging) is the
``runner``'s: :class:`~exprflow.models.basenji2.trunk.TrunkRunner`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from exprflow.embedding.blocks import Block, WorkFolder
from exprflow.genome.fasta import Genome
from exprflow.genome.onehot import ACGT, one_hot

__all__ = ["ExtractResult", "batches", "embed_regions"]

log = logging.getLogger(__name__)
_IN_FLIGHT = 2  # batches read ahead, and blocks being written, at most


@dataclass(frozen=True)
class ExtractResult:
    """What one :func:`embed_regions` call did."""

    regions: int
    blocks: list[Block]
    seconds: float

    @property
    def bytes_written(self) -> int:
        """Size of the blocks written."""
        return sum(block.path.stat().st_size for block in self.blocks)


def batches(indices: Sequence[int], batch_size: int) -> list[list[int]]:
    """Split sorted region indices into batches of consecutive regions, ≤ ``batch_size``.

    A gap (a region already done) always starts a new batch, so every batch is one block.
    """
    out: list[list[int]] = []
    for index in indices:
        if out and len(out[-1]) < batch_size and out[-1][-1] == index - 1:
            out[-1].append(index)
        else:
            out.append([index])
    return out


def _one_hot_batch(
    genome: Genome, regions: pd.DataFrame, batch: list[int], size: int
) -> np.ndarray:
    """One-hot ``(size, length, 4)`` float32 of the batch's regions, zero-padded rows after."""
    rows = regions.iloc[batch]
    length = int(rows["end"].iloc[0] - rows["start"].iloc[0])
    out = np.zeros((size, length, 4), dtype=np.float32)
    for k, row in enumerate(rows.itertuples()):
        out[k] = one_hot(genome.fetch(row.chrom, int(row.start), int(row.end)), ACGT)
    return out


def _ahead(items: Iterator[Future[np.ndarray]]) -> Iterator[np.ndarray]:
    """Yield results of futures in order, keeping up to :data:`_IN_FLIGHT` running."""
    pending: deque[Future[np.ndarray]] = deque()
    for future in items:
        pending.append(future)
        if len(pending) > _IN_FLIGHT:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def embed_regions(
    runner: Callable[[np.ndarray], np.ndarray],
    genome: Genome,
    regions: pd.DataFrame,
    pending: Sequence[int],
    work: WorkFolder,
    *,
    batch_size: int,
    threads: int = 4,
) -> ExtractResult:
    """Embed the ``pending`` regions into finished blocks of ``work``.

    Parameters
    ----------
    runner : callable
        Maps a ``(batch_size, length, 4)`` batch to ``(batch_size, bins, channels)``,
        e.g. :class:`~exprflow.models.basenji2.trunk.TrunkRunner`.
    genome : Genome
        The FASTA the regions are read from (used only by the reader thread).
    regions : pandas.DataFrame
        The whole region table (``chrom``, ``start``, ``end``); indices refer to its rows.
    pending : sequence of int
        Sorted region indices to compute (:meth:`WorkFolder.pending`).
    work : WorkFolder
        Where the blocks go.
    batch_size : int
        Sequences per model call.
    threads : int, optional
        Chunk-compression threads. Default 4.

    Returns
    -------
    ExtractResult
    """
    started = time.perf_counter()
    plan = batches(pending, batch_size)
    written: list[Block] = []
    # Exits run in reverse: on an error the blocks already computed are still written.
    with (
        ThreadPoolExecutor(max(1, threads), thread_name_prefix="embed-deflate") as encoder,
        ThreadPoolExecutor(1, thread_name_prefix="embed-write") as writer,
        ThreadPoolExecutor(1, thread_name_prefix="embed-read") as reader,
        tqdm(total=len(pending), desc="embedding", unit="region") as progress,
    ):
        inputs = (reader.submit(_one_hot_batch, genome, regions, b, batch_size) for b in plan)
        blocks: deque[Future[Block]] = deque()
        for batch, onehot in zip(plan, _ahead(inputs), strict=True):
            values = runner(onehot)[: len(batch)]
            blocks.append(writer.submit(work.write_block, batch[0], values, encoder))
            while len(blocks) > _IN_FLIGHT:
                written.append(blocks.popleft().result())
            progress.update(len(batch))
        written.extend(future.result() for future in blocks)
    return ExtractResult(len(pending), written, time.perf_counter() - started)
