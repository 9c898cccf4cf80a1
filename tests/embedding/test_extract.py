from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.extract import batches, embed_regions
from exprflow.embedding.layout import DATASET
from exprflow.genome.fasta import Genome

LENGTH, BINS = 64, 8


def _fake_runner(calls: list[int]):  # type: ignore[no-untyped-def]
    """Per-bin base counts (A, C, G, T) and the batch slot: embeddings we can predict."""

    def run(onehot: np.ndarray) -> np.ndarray:
        calls.append(len(onehot))
        counts = onehot.reshape(len(onehot), BINS, LENGTH // BINS, 4).sum(axis=2)
        return counts.astype("float16")

    return run


@pytest.fixture()
def genome(tmp_path: Path) -> Genome:
    rng = np.random.default_rng(1)
    path = tmp_path / "g.fa"
    seqs = {c: "".join(rng.choice(list("ACGTN"), 1000)) for c in ("chr1", "chr2")}
    path.write_text("".join(f">{c}\n{s}\n" for c, s in seqs.items()))
    with Genome(path) as opened:
        yield opened


def _regions(n: int) -> pd.DataFrame:
    starts = [37 * i for i in range(n)]
    return pd.DataFrame(
        {
            "chrom": ["chr1", "chr2"] * (n // 2) + ["chr1"] * (n % 2),
            "start": starts,
            "end": [s + LENGTH for s in starts],
            "fold": "train",
        }
    )


def _expected(genome: Genome, regions: pd.DataFrame) -> np.ndarray:
    out = []
    for row in regions.itertuples():
        seq = np.frombuffer(genome.fetch(row.chrom, row.start, row.end).encode(), "S1")
        per_bin = seq.reshape(BINS, LENGTH // BINS)
        out.append([[(b == base.encode()).sum() for base in "ACGT"] for b in per_bin])
    return np.asarray(out, dtype="float16")


def _work(tmp_path: Path, n: int) -> WorkFolder:
    manifest = {"n_regions": n, "bins": BINS, "channels": 4, "level": 1, "key": {}}
    return WorkFolder(tmp_path / "work", manifest)


def _stored(work: WorkFolder) -> np.ndarray:
    parts = []
    for block in work.blocks():
        with h5py.File(block.path) as handle:
            parts.append(handle[DATASET][()])
    return np.concatenate(parts)


def test_batches_split_at_gaps_and_size() -> None:
    assert batches([0, 1, 2, 3, 4], 2) == [[0, 1], [2, 3], [4]]
    assert batches([0, 1, 3, 4, 5, 9], 4) == [[0, 1], [3, 4, 5], [9]]
    assert batches([], 3) == []


def test_embed_regions_writes_what_the_runner_returns(tmp_path: Path, genome: Genome) -> None:
    regions = _regions(7)
    work = _work(tmp_path, 7)
    calls: list[int] = []
    result = embed_regions(
        _fake_runner(calls), genome, regions, list(range(7)), work, batch_size=3, threads=2
    )
    assert calls == [3, 3, 3]  # the last batch is padded to the fixed shape
    assert result.regions == 7 and [b.first for b in result.blocks] == [0, 3, 6]
    np.testing.assert_array_equal(_stored(work), _expected(genome, regions))
    assert result.bytes_written == sum(b.path.stat().st_size for b in work.blocks())


def test_only_pending_regions_are_computed(tmp_path: Path, genome: Genome) -> None:
    regions = _regions(6)
    work = _work(tmp_path, 6)
    runner = _fake_runner([])
    embed_regions(runner, genome, regions, [1, 2, 4], work, batch_size=4)
    assert work.pending(0, 6) == [0, 3, 5]
    calls: list[int] = []
    result = embed_regions(_fake_runner(calls), genome, regions, work.pending(0, 6), work,
                           batch_size=4)  # fmt: skip
    assert result.regions == 3 and len(calls) == 3  # three separate gaps, three blocks
    np.testing.assert_array_equal(_stored(work), _expected(genome, regions))


def test_runner_error_propagates_and_keeps_finished_blocks(tmp_path: Path, genome: Genome) -> None:
    regions = _regions(6)
    work = _work(tmp_path, 6)
    inner = _fake_runner([])
    seen: list[int] = []

    def failing(onehot: np.ndarray) -> np.ndarray:
        seen.append(1)
        if len(seen) == 3:
            raise RuntimeError("device lost")
        return inner(onehot)

    with pytest.raises(RuntimeError, match="device lost"):
        embed_regions(failing, genome, regions, list(range(6)), work, batch_size=2)
    assert work.pending(0, 6) == [4, 5]
