"""The two write paths and the codecs of the Basenji2 embedding benchmark, without TensorFlow.

* :func:`published_embed`: the CS282A notebook's loop — one batch at a time on the main
  thread: fetch + one-hot, the model, then ``dataset[i:j] = values`` into one
  preallocated h5py dataset ``embeddings`` (N, bins, C) float16, chunks (1, bins, C),
  gzip level 9 without shuffle, so HDF5 compresses serially on the model's thread;
* :func:`exprflow_embed`: :func:`~exprflow.embedding.extract.embed_regions` into a
  :class:`~exprflow.embedding.blocks.WorkFolder` (reader thread; shuffle + deflate level 1
  on a thread pool in a writer thread), then :func:`~exprflow.embedding.merge.merge_blocks`;
* :func:`codec_speeds`: the compression alone on the same chunks — gzip-9 on one thread
  against shuffle + deflate-1 (:func:`~exprflow.embedding.layout.encode_chunk`) on one
  and on several threads (zlib releases the GIL); both give exactly the bytes HDF5
  stores for such a chunk.

The model is any callable with ``batch_size`` and ``out_shape``: the compiled trunk (in
``_embed_basenji2_child.py``) or a :class:`StubRunner` that returns fixed embeddings, which
measures each write path as if the model took no time.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.extract import embed_regions
from exprflow.embedding.layout import DEFAULT_LEVEL, encode_chunk
from exprflow.embedding.merge import merge_blocks
from exprflow.genome.fasta import Genome
from exprflow.genome.onehot import ACGT, one_hot

__all__ = [
    "StubRunner",
    "TimedRunner",
    "codec_speeds",
    "exprflow_embed",
    "gzip9",
    "published_embed",
]


class TimedRunner:
    """Wrap a runner and add up the seconds spent in it."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.batch_size = runner.batch_size
        self.out_shape = runner.out_shape
        self.seconds = 0.0

    def __call__(self, onehot: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        values = self.runner(onehot)
        self.seconds += time.perf_counter() - started
        return values


class StubRunner:
    """A model that takes no time: returns ``values`` (cycled to the batch size) every call.

    Parameters
    ----------
    values : numpy.ndarray
        ``(k, bins, channels)`` float16 embeddings.
    batch_size : int
        Sequences per call.
    """

    def __init__(self, values: np.ndarray, batch_size: int) -> None:
        self.batch_size = batch_size
        self.out_shape = (int(values.shape[1]), int(values.shape[2]))
        self._values = values[np.arange(batch_size) % len(values)]

    def __call__(self, onehot: np.ndarray) -> np.ndarray:
        return self._values


def _one_hot_batch(genome: Genome, rows: pd.DataFrame, size: int, length: int) -> np.ndarray:
    out = np.zeros((size, length, 4), dtype=np.float32)
    for k, row in enumerate(rows.itertuples()):
        out[k] = one_hot(genome.fetch(row.chrom, int(row.start), int(row.end)), ACGT)
    return out


def published_embed(
    runner: TimedRunner, genome: Genome, regions: pd.DataFrame, output: Path
) -> dict[str, float]:
    """The published loop: read, model, gzip-9 h5py write, one batch at a time, serially.

    Parameters
    ----------
    runner : TimedRunner
        The compiled trunk (fixed batch size; the last batch is zero-padded).
    genome : Genome
        The FASTA.
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end`` of equal-length regions.
    output : Path
        The HDF5 file to write (dataset ``embeddings``).

    Returns
    -------
    dict
        ``wall_s`` (the file's close included) and its parts ``read_s``, ``model_s``,
        ``write_s`` (h5py assignment, where HDF5 compresses, and the final flush).
    """
    size, length = runner.batch_size, int(regions["end"].iloc[0] - regions["start"].iloc[0])
    n, (bins, channels) = len(regions), runner.out_shape
    read = write = 0.0
    started = time.perf_counter()
    with h5py.File(output, "w") as handle:
        dataset = handle.create_dataset(
            "embeddings", (n, bins, channels), dtype="float16", chunks=(1, bins, channels),
            compression="gzip", compression_opts=9,
        )  # fmt: skip
        for first in range(0, n, size):
            stop = min(first + size, n)
            tick = time.perf_counter()
            onehot = _one_hot_batch(genome, regions.iloc[first:stop], size, length)
            read += time.perf_counter() - tick
            values = runner(onehot)[: stop - first]
            tick = time.perf_counter()
            dataset[first:stop] = values.astype(np.float16)
            write += time.perf_counter() - tick
        tick = time.perf_counter()
        handle.flush()  # the chunks still in h5py's cache are compressed here
        write += time.perf_counter() - tick
    wall = time.perf_counter() - started
    return {"wall_s": wall, "read_s": read, "model_s": runner.seconds, "write_s": write}


def exprflow_embed(
    runner: TimedRunner,
    genome: Genome,
    regions: pd.DataFrame,
    work_dir: Path,
    output: Path,
    *,
    threads: int,
    attributes: dict[str, Any],
) -> dict[str, float]:
    """exprflow: ``embed_regions`` into a fresh work folder, then ``merge_blocks``.

    Parameters
    ----------
    runner : TimedRunner
        The compiled trunk.
    genome : Genome
        The FASTA.
    regions : pandas.DataFrame
        The region table (``sequences.bed`` columns).
    work_dir : Path
        The work folder (must not hold another extraction).
    output : Path
        The merged file.
    threads : int
        Chunk-compression threads.
    attributes : dict
        The merged file's attributes.

    Returns
    -------
    dict
        ``wall_s`` = ``embed_s`` + ``merge_s``, ``model_s`` (inside ``embed_s``) and
        ``blocks_bytes``.
    """
    bins, channels = runner.out_shape
    manifest = {
        "n_regions": len(regions), "bins": bins, "channels": channels,
        "level": DEFAULT_LEVEL, "key": {"benchmark": "embed_basenji2"}, "attributes": attributes,
    }  # fmt: skip
    work = WorkFolder(work_dir, manifest)
    work.save_regions(regions)
    started = time.perf_counter()
    result = embed_regions(
        runner, genome, regions, work.pending(0, len(regions)), work,
        batch_size=runner.batch_size, threads=threads,
    )  # fmt: skip
    embedded = time.perf_counter()
    merge_blocks(work, str(output))
    merged = time.perf_counter()
    return {
        "wall_s": merged - started, "embed_s": embedded - started, "merge_s": merged - embedded,
        "model_s": runner.seconds, "blocks_bytes": result.bytes_written,
    }  # fmt: skip


def gzip9(chunk: np.ndarray) -> bytes:
    """The published codec: HDF5's deflate filter at level 9, no shuffle."""
    return zlib.compress(np.ascontiguousarray(chunk, dtype="<f2").tobytes(), 9)


def _deflate1(chunk: np.ndarray) -> bytes:
    return encode_chunk(chunk, 1)


def _time_codec(
    encode: Callable[[np.ndarray], bytes], chunks: np.ndarray, threads: int
) -> tuple[float, float, int]:
    """Wall and CPU seconds (all threads) of encoding ``chunks``, and the bytes out."""
    started, cpu = time.perf_counter(), time.process_time()
    if threads == 1:
        out = [encode(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(threads) as pool:
            out = list(pool.map(encode, chunks))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu, sum(len(data) for data in out)


def codec_speeds(values: np.ndarray, threads: int, repeats: int = 1) -> list[dict[str, Any]]:
    """Time each codec on the same chunks (one region each): MB/s of raw float16.

    Parameters
    ----------
    values : numpy.ndarray
        ``(regions, bins, channels)`` float16 embeddings, one chunk per region.
    threads : int
        exprflow's compression threads.
    repeats : int, optional
        Timings of each; the fastest is kept. Default 1.

    Returns
    -------
    list of dict
        Per codec and thread count: ``codec``, ``threads``, ``seconds``, ``cpu_seconds``
        (of every thread; ``cpu_seconds / seconds`` is the cores the threads got),
        ``mb_per_s`` (raw), ``compressed_bytes`` (what HDF5 stores for these chunks),
        ``compression_ratio``.
    """
    raw = values.size * 2
    plans = [("gzip-9, no shuffle (published)", gzip9, 1),
             ("shuffle + deflate-1 (exprflow)", _deflate1, 1)]  # fmt: skip
    if threads > 1:
        plans.append(("shuffle + deflate-1 (exprflow)", _deflate1, threads))
    rows = []
    for codec, encode, n in plans:
        seconds, cpu, compressed = min(_time_codec(encode, values, n) for _ in range(repeats))
        rows.append({
            "codec": codec, "threads": n, "seconds": seconds, "cpu_seconds": cpu,
            "mb_per_s": raw / seconds / 1e6,
            "raw_bytes": raw, "compressed_bytes": compressed,
            "compression_ratio": raw / compressed,
        })  # fmt: skip
    return rows
