"""score_genes on the tiny world: equals the naive path, shards, resumes, de-duplicates."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pandas as pd
import pytest
from tests.scoring._standin import StandIn
from tests.scoring.conftest import Tiny

from exprflow.errors import ExprflowError
from exprflow.scoring.engine import ScoringResult, score_genes
from exprflow.scoring.merge import merge_shards, predictions_table
from exprflow.scoring.naive import score_genes_naive
from exprflow.scoring.shards import shard_genes
from exprflow.scoring.store import read_gene

log = logging.getLogger(__name__)

N_SAMPLES = 5


class Run(NamedTuple):
    out_dir: Path
    result: ScoringResult
    table: pd.DataFrame
    genes: pd.DataFrame
    samples: list[str]


def _genes(tiny: Tiny) -> pd.DataFrame:
    """Three tiny-world genes, both strands, two contigs."""
    return tiny.genes.iloc[[0, 4, 7]].reset_index(drop=True)


@pytest.fixture(scope="module")
def one_run(tiny: Tiny, tmp_path_factory: pytest.TempPathFactory) -> Run:
    genes, samples = _genes(tiny), tiny.samples[:N_SAMPLES]
    model = StandIn()
    out = tmp_path_factory.mktemp("one_run")
    result = score_genes(
        genes, tiny.genome, tiny.vcf, samples, model.chromatin, model.reduce, model.heads,
        out, save_features=True, progress=False,
    )  # fmt: skip
    assert model.windows == result.evaluations
    return Run(out, result, predictions_table(out), genes, samples)


def test_dedup_equals_naive_exactly(one_run: Run, tiny: Tiny, tmp_path: Path) -> None:
    model = StandIn()
    naive = score_genes_naive(
        one_run.genes, tiny.genome, tiny.vcf, one_run.samples, model.chromatin, model.reduce,
        model.heads, tmp_path, save_features=True, save_chromatin=True, progress=False,
    )  # fmt: skip
    rows = 1 + 2 * N_SAMPLES
    assert naive.requested == naive.evaluations == model.windows == 3 * rows * 200
    assert one_run.result.requested == naive.requested
    assert one_run.result.evaluations < naive.evaluations / 2
    for gene_id in one_run.genes["gene_id"]:
        fast = read_gene(one_run.out_dir / "genes" / f"{gene_id}.npz")
        slow = read_gene(tmp_path / "genes" / f"{gene_id}.npz")
        assert fast.rows == slow.rows and fast.tissues == slow.tissues == model.tissues
        assert fast.predictions.dtype == np.float32
        np.testing.assert_array_equal(fast.predictions, slow.predictions)
        assert fast.features is not None and slow.features is not None
        assert fast.features.dtype == np.float16 and fast.features.shape == (rows, 12)
        np.testing.assert_array_equal(fast.features, slow.features)
        with h5py.File(tmp_path / "chromatin" / f"{gene_id}_chromatin.h5") as handle:
            assert handle["chromatin_preds"].shape == (rows, 200, 6)
            assert handle["chromatin_preds"].dtype == np.float64
            assert [r.decode() for r in handle["record_ids"][:]] == fast.rows
    assert naive.chromatin_bytes >= 3 * rows * 200 * 6 * 8
    pd.testing.assert_frame_equal(predictions_table(tmp_path), one_run.table)


def test_long_table_layout(one_run: Run) -> None:
    table = one_run.table
    assert list(table.columns) == [
        "gene_id",
        "sample",
        "haplotype",
        "tissue0",
        "tissue1",
        "tissue2",
    ]
    assert len(table) == 3 * (1 + 2 * N_SAMPLES)
    first = table[table["gene_id"] == table["gene_id"].iloc[0]]
    assert first["sample"].tolist()[:3] == ["ref", one_run.samples[0], one_run.samples[0]]
    assert first["haplotype"].tolist()[:3] == [0, 1, 2]
    assert table["tissue0"].dtype == np.float32


def test_shards_and_merge_equal_one_run(one_run: Run, tiny: Tiny, tmp_path: Path) -> None:
    model = StandIn()
    for chunk in range(2):
        part = shard_genes(one_run.genes, 2, chunk)
        for out in (tmp_path / "shared", tmp_path / f"chunk{chunk}"):
            score_genes(
                part, tiny.genome, tiny.vcf, one_run.samples, model.chromatin, model.reduce,
                model.heads, out, progress=False,
            )  # fmt: skip
    merged = merge_shards(tmp_path / "shared", tmp_path / "merged.tsv.gz")
    pd.testing.assert_frame_equal(merged, one_run.table)
    back = pd.read_csv(tmp_path / "merged.tsv.gz", sep="\t")
    tissues = ["tissue0", "tissue1", "tissue2"]
    back[tissues] = back[tissues].astype(np.float32)
    back["haplotype"] = back["haplotype"].astype(np.int8)
    pd.testing.assert_frame_equal(back, one_run.table, check_exact=True)
    merge_shards([tmp_path / "chunk0", tmp_path / "chunk1"], tmp_path / "merged.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "merged.parquet"), one_run.table)


def test_killed_run_resumes_without_recomputing(one_run: Run, tiny: Tiny, tmp_path: Path) -> None:
    args = (one_run.genes, tiny.genome, tiny.vcf, one_run.samples)
    killed = StandIn()
    killed.fail_at_call = 3  # one chromatin call per gene: dies on the third gene
    with pytest.raises(ExprflowError, match="killed"):
        score_genes(
            *args, killed.chromatin, killed.reduce, killed.heads, tmp_path / "out",
            batch_size=100_000, genes_per_batch=1, progress=False,
        )  # fmt: skip
    done = sorted(path.stem for path in (tmp_path / "out" / "genes").iterdir())
    assert done == sorted(one_run.genes["gene_id"][:2])
    assert not list((tmp_path / "out").rglob("*partial*"))

    resumed = StandIn()
    result = score_genes(
        *args, resumed.chromatin, resumed.reduce, resumed.heads, tmp_path / "out",
        batch_size=100_000, genes_per_batch=1, progress=False,
    )  # fmt: skip
    last = one_run.genes["gene_id"].iloc[2]
    assert result.skipped == one_run.genes["gene_id"][:2].tolist() and result.scored == [last]
    fresh = StandIn()
    alone = score_genes(
        *args, fresh.chromatin, fresh.reduce, fresh.heads, tmp_path / "alone",
        gene_ids=[last], progress=False,
    )  # fmt: skip
    assert resumed.windows == result.evaluations == alone.evaluations == fresh.windows
    pd.testing.assert_frame_equal(predictions_table(tmp_path / "out"), one_run.table)


def test_reference_only_without_a_vcf(one_run: Run, tiny: Tiny, tmp_path: Path) -> None:
    model = StandIn()
    result = score_genes(
        one_run.genes, tiny.genome, None, [], model.chromatin, model.reduce, model.heads,
        tmp_path, tissues=["a", "b", "c"], progress=False,
    )  # fmt: skip
    assert result.requested == result.evaluations == 3 * 200
    table = predictions_table(tmp_path)
    assert table["sample"].unique().tolist() == ["ref"]
    expected = one_run.table[one_run.table["sample"] == "ref"].reset_index(drop=True)
    np.testing.assert_array_equal(
        table[["a", "b", "c"]].to_numpy(), expected.iloc[:, 3:].to_numpy()
    )


def test_dedup_ratio_on_the_tiny_world(tiny: Tiny, tmp_path: Path) -> None:
    model = StandIn()
    genes = tiny.genes.iloc[::4]
    result = score_genes(
        genes, tiny.genome, tiny.vcf, tiny.samples, model.chromatin, model.reduce,
        model.heads, tmp_path, progress=False,
    )  # fmt: skip
    log.info(
        "tiny world, %d genes x %d samples: %d windows requested, %d evaluated (x%.1f)",
        len(genes), len(tiny.samples), result.requested, result.evaluations, result.dedup_ratio,
    )  # fmt: skip
    assert result.requested == len(genes) * (1 + 2 * len(tiny.samples)) * 200
    assert model.windows == result.evaluations
    assert result.dedup_ratio > 4
