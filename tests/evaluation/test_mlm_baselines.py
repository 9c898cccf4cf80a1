"""Tests of the genotype baselines: best eQTL SNP, eQTL-table r and elastic net."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exprflow.evaluation.mlm_baselines import (
    GeneDosages,
    best_eqtl_baseline,
    best_eqtl_snp,
    elastic_net_baseline,
    eqtl_table_row,
    genotype_dosages,
)
from exprflow.evaluation.mlm_regression import sample_folds

S, V = 90, 6


def _dosages(gene: str = "G1", seed: int = 0) -> GeneDosages:
    rng = np.random.default_rng(seed)
    snps = pd.DataFrame(
        {
            "chrom": ["chr1"] * V,
            "pos": [100, 200, 300, 400, 500, 600],
            "id": ["rs1", "rs2", "rs3", ".", "rs5", "rs6"],
        }
    )
    samples = tuple(f"S{i}" for i in range(S))
    return GeneDosages(gene, samples, rng.binomial(2, 0.4, (S, V)).astype(float), snps)


def _eqtl(gene: str, snp: str, pos: int, rvalue: float, chrom: str = "1") -> dict[str, object]:
    return {"SNP_ID": snp, "GENE_ID": gene, "CHR_SNP": chrom, "SNPpos": pos, "rvalue": rvalue}


def test_genotype_dosages_codes() -> None:
    out = genotype_dosages(["RFMBN", "BBRRF"])
    np.testing.assert_array_equal(out[0, :4], [0, 1, 1, 2])
    assert np.isnan(out[0, 4])
    np.testing.assert_array_equal(out[1], [2, 2, 0, 0, 1])


def test_genotype_dosages_refuse_bad_strings() -> None:
    with pytest.raises(ValueError, match=r"only R, F, M, B, N; found \['0', 'X'\]"):
        genotype_dosages(["RX0"])
    with pytest.raises(ValueError, match=r"differ in length: \[2, 3\]"):
        genotype_dosages(["RR", "RRR"])


def test_gene_dosages_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(samples, SNPs\) = \(2, 1\), got \(2, 2\)"):
        GeneDosages("G", ("a", "b"), np.zeros((2, 2)), pd.DataFrame({"pos": [1]}))
    with pytest.raises(ValueError, match="needs a 'pos' column"):
        GeneDosages("G", ("a",), np.zeros((1, 1)), pd.DataFrame({"position": [1]}))


def test_best_eqtl_snp_picks_max_abs_rvalue_among_the_genes_snps() -> None:
    eqtls = pd.DataFrame(
        [
            _eqtl("G1", "rs1", 100, 0.4),
            _eqtl("G1", "rs3", 300, -0.7),  # the best among the gene's SNPs
            _eqtl("G1", "rs9", 900, 0.95),  # not one of the gene's SNPs
            _eqtl("G1", "rsX", 200, 0.9),  # position of rs2 but another id
            _eqtl("G1", "rs5", 500, 0.8, chrom="2"),  # other chromosome
            _eqtl("G1", "rs44", 400, 0.6),  # the gene's SNP has no id: position decides
            _eqtl("G2", "rs6", 600, 0.99),  # another gene
        ]
    )
    found = best_eqtl_snp(_dosages(), eqtls)
    assert found is not None
    column, row = found
    assert column == 2 and row["SNP_ID"] == "rs3"
    lead = eqtl_table_row("G1", eqtls)
    assert lead["r"] == pytest.approx(0.95) and lead["r2"] == pytest.approx(0.95**2)
    assert lead["detail"] == "rs9" and lead["family"] == "baseline"


def test_best_eqtl_baseline_reproduces_a_known_r() -> None:
    dosages = _dosages()
    rng = np.random.default_rng(5)
    observed = 0.8 * dosages.dosages[:, 4] + rng.normal(size=S)
    folds = sample_folds(S, 5, seed=0)
    row = best_eqtl_baseline(dosages, pd.DataFrame([_eqtl("G1", "rs5", 500, 0.5)]), observed, folds)
    expected = np.empty(S)
    for k in range(5):
        test = folds == k
        slope, intercept = np.polyfit(dosages.dosages[~test, 4], observed[~test], 1)
        expected[test] = slope * dosages.dosages[test, 4] + intercept
    assert row["r"] == pytest.approx(np.corrcoef(expected, observed)[0, 1], abs=1e-12)
    assert row["r"] > 0.3 and row["status"] == "evaluated" and row["n_samples"] == S
    assert row["detail"] == "rs5 (rvalue 0.500)"


def test_genes_without_eqtls_get_nan_with_a_reason() -> None:
    dosages = _dosages()
    observed, folds = np.random.default_rng(0).normal(size=S), sample_folds(S)
    other_gene = pd.DataFrame([_eqtl("G2", "rs1", 100, 0.5)])
    none = best_eqtl_baseline(dosages, other_gene, observed, folds)
    assert np.isnan(none["r"]) and none["status"] == "no_eqtl"
    table = eqtl_table_row("G1", other_gene)
    assert np.isnan(table["r"]) and table["status"] == "no_eqtl"
    elsewhere = pd.DataFrame([_eqtl("G1", "rs9", 900, 0.5)])
    outside = best_eqtl_baseline(dosages, elsewhere, observed, folds)
    assert np.isnan(outside["r"]) and outside["status"] == "no_eqtl_among_snps"


def test_elastic_net_finds_a_planted_two_snp_effect() -> None:
    rng = np.random.default_rng(7)
    n, v = 120, 40
    x = rng.binomial(2, 0.3, (n, v)).astype(float)
    x[rng.random((n, v)) < 0.02] = np.nan  # unknown calls, mean-imputed
    signal = np.nan_to_num(x[:, 3], nan=0.6) - np.nan_to_num(x[:, 17], nan=0.6)
    observed = signal + 0.3 * rng.normal(size=n)
    dosages = GeneDosages(
        "G1", tuple(map(str, range(n))), x, pd.DataFrame({"pos": np.arange(v) + 1})
    )
    row = elastic_net_baseline(dosages, observed, sample_folds(n))
    assert row["r"] > 0.85 and row["method"] == "elastic_net" and row["detail"] == "40 SNPs"


def test_elastic_net_without_snps() -> None:
    empty = GeneDosages("G1", ("a", "b", "c"), np.zeros((3, 0)), pd.DataFrame({"pos": []}))
    row = elastic_net_baseline(empty, np.array([1.0, 2.0, 3.0]), np.array([0, 1, 0]))
    assert np.isnan(row["r"]) and row["status"] == "no_snps"
