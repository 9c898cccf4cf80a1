"""Planted causal variants and chromatin tracks against SNP rankings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.evaluation.mlm_enrichment import (
    chromatin_enrichment,
    planted_recovery,
    read_causal_variants,
)
from exprflow.genome.bigwig import write_bigwig


def _ranking(positions: list[int], chrom: str = "1") -> pd.DataFrame:
    """A rank_snps-like table: SNPs ranked in the order given."""
    n = len(positions)
    return pd.DataFrame(
        {
            "chrom": chrom,
            "pos": positions,
            "id": [f"rs{p}" for p in positions],
            "seq_idx": range(n),
            "score": np.linspace(1.0, 0.0, n),
            "rank": np.arange(1, n + 1),
        }
    )


def test_planted_recovery_pools_genes_and_reports_unmatched_variants() -> None:
    rankings = {
        "ENSG1": _ranking(list(range(1000, 1010))),  # causal 1000 at rank 1 of 10
        "ENSG2.4": _ranking(list(range(2000, 2030))),  # causal 2006 at rank 7 of 30
        "ENSG3.1": _ranking([3000, 3001]),  # causal 3500 not among its SNPs
    }
    causal = pd.DataFrame(
        {
            "gene_id": ["ENSG1.1", "ENSG2.4", "ENSG3.1", "ENSG4.1", "ENSG1.1"],
            "chrom": ["chr1", "chr1", "chr1", "chr1", "chr1"],
            "pos": [1000, 2006, 3500, 4000, 1000],  # the last is a duplicate
            "id": ["rsA", "rsB", "rsC", "rsD", "rsA"],
        }
    )
    result = planted_recovery(rankings, causal)
    summary = result.summary.set_index("k")
    np.testing.assert_allclose(summary["precision"], [1 / 2, 1 / 10, 2 / 20, 2 / 30])
    np.testing.assert_allclose(summary["recall"], [0.5, 0.5, 1.0, 1.0])
    chance = np.array([1 / 10 + 1 / 30, 5 / 10 + 5 / 30, 1 + 10 / 30, 1 + 20 / 30])
    np.testing.assert_allclose(summary["random_precision"], chance / [2, 10, 20, 30])
    np.testing.assert_allclose(summary["random_recall"], chance / 2)
    assert summary["hits"].tolist() == [1, 1, 2, 2]
    assert set(summary["n_genes"]) == {2} and set(summary["n_causal"]) == {2}
    ranks = result.causal_ranks
    assert ranks["id"].tolist() == ["rsA", "rsB", "rsC", "rsD"]
    assert ranks["rank"].tolist()[:2] == [1.0, 7.0] and ranks["rank"][2:].isna().all()
    assert ranks["n_snps"].tolist() == [10, 30, 2, 0]
    assert ranks["status"].tolist() == [*("ranked", "ranked", "not among SNPs", "gene not ranked")]
    assert result.unmatched["id"].tolist() == ["rsC", "rsD"]


def test_planted_recovery_matches_contig_too_and_rejects_bad_input() -> None:
    rankings = {"ENSG1": _ranking([1000, 1001], chrom="2")}
    causal = pd.DataFrame({"gene_id": ["ENSG1"], "chrom": ["chr1"], "pos": [1000]})
    result = planted_recovery(rankings, causal, ks=(1,))
    assert result.causal_ranks["status"].tolist() == ["not among SNPs"]
    assert np.isnan(result.summary.loc[0, "precision"])
    with pytest.raises(ValueError, match=r"causal lacks columns \['pos'\]"):
        planted_recovery(rankings, causal.drop(columns="pos"))
    with pytest.raises(ValueError, match="ks must be"):
        planted_recovery(rankings, causal, ks=(0, 5))
    with pytest.raises(ValueError, match=r"gene 'ENSG1' lacks columns \['rank'\]"):
        planted_recovery({"ENSG1": _ranking([1]).drop(columns="rank")}, causal)


@pytest.fixture
def track(tmp_path: Path) -> Path:
    """chr1 of 10 kb: signal 10 on bases [100, 200), 1 on [0, 100) and [200, 9000)."""
    path = tmp_path / "H3K27ac.bigWig"
    write_bigwig(path, {"chr1": 10_000}, {"chr1": ([0, 100, 200], [100, 200, 9000], [1, 10, 1])})
    return path


def test_chromatin_enrichment_top_snps_on_high_signal(track: Path) -> None:
    # 1-based positions 101..200 are bases 100..199 (signal 10); ranked first.
    high, low = list(range(101, 201, 10)), list(range(300, 8000, 100))
    rankings = {"ENSG1": _ranking(high + low), "ENSG2": _ranking(low[:5] + high[:2])}
    table = chromatin_enrichment(rankings, {"H3K27ac": track}, top_k=10)
    row = table.iloc[0]
    assert (row["track"], row["n_top"], row["n_other"]) == ("H3K27ac", 17, len(low))
    expected_top = (10 * 10 + 5 * 1 + 2 * 10) / 17
    np.testing.assert_allclose([row["mean_top"], row["mean_other"]], [expected_top, 1.0])
    np.testing.assert_allclose(row["ratio"], expected_top)
    assert row["p_value"] < 1e-6
    reverse = {"ENSG1": _ranking(low + high)}
    flipped = chromatin_enrichment(reverse, {"H3K27ac": track}, top_k=10).iloc[0]
    assert flipped["ratio"] < 1 and flipped["p_value"] > 0.5


def test_chromatin_enrichment_flank_windows_are_exact_at_edges(track: Path) -> None:
    def mean_top(pos: int, flank: int) -> float:
        rankings = {"ENSG1": _ranking([pos, 5000])}
        table = chromatin_enrichment(rankings, {"t": track}, top_k=1, flank=flank)
        return float(table.loc[0, "mean_top"])

    assert mean_top(100, 1) == pytest.approx((1 + 1 + 10) / 3)  # bases 98, 99, 100
    assert mean_top(1, 2) == pytest.approx(3 / 5)  # bases -2..2; negatives count 0
    assert mean_top(9000, 1) == pytest.approx(2 / 3)  # bases 8998..9000; 9000 uncovered
    assert mean_top(150, 0) == 10.0


def test_chromatin_enrichment_empty_groups_and_bad_input(track: Path) -> None:
    row = chromatin_enrichment({"ENSG1": _ranking([150, 160])}, {"t": track}, top_k=5).iloc[0]
    assert row["n_other"] == 0 and np.isnan(row["p_value"]) and np.isnan(row["ratio"])
    with pytest.raises(InputError, match=r"contig '7' is not in the file.*chr1"):
        chromatin_enrichment({"ENSG1": _ranking([150], chrom="7")}, {"t": track})
    with pytest.raises(InputError, match="bigWig file not found"):
        chromatin_enrichment({"ENSG1": _ranking([150])}, {"t": track.with_name("no.bw")})
    with pytest.raises(ValueError, match="need top_k >= 1 and flank >= 0"):
        chromatin_enrichment({}, {"t": track}, top_k=0)


def _truth(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(content))
    return path


def test_read_causal_variants(tmp_path: Path) -> None:
    records = [
        {"gene_id": "ENSG1.1", "chrom": "chr1", "pos": 72632, "ref": "G", "alt": "C"},
        {"gene_id": "ENSG2.9", "chrom": "chr2", "pos": 11, "ref": "C", "alt": "G"},
    ]
    table = read_causal_variants(_truth(tmp_path, {"causal_variants": records, "seed": 0}))
    assert table.to_dict("records") == records
    assert table["pos"].dtype == np.int64
    empty = read_causal_variants(_truth(tmp_path, {"causal_variants": []}))
    assert list(empty.columns) == ["gene_id", "chrom", "pos"] and empty.empty


def test_read_causal_variants_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="truth file not found"):
        read_causal_variants(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_causal_variants(bad)
    with pytest.raises(InputError, match="no list 'causal_variants'"):
        read_causal_variants(_truth(tmp_path, {"seed": 0}))
    record = {"gene_id": "ENSG1", "chrom": "chr1"}
    with pytest.raises(InputError, match=r"causal_variants\[0\].*lacks \['pos'\]"):
        read_causal_variants(_truth(tmp_path, {"causal_variants": [record]}))
