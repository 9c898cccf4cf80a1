"""Tests of the MLM expression comparison: inputs, table, summary, files, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.evaluation.mlm_baselines import GeneDosages
from exprflow.evaluation.mlm_expression import (
    ExpressionComparison,
    ExpressionSettings,
    GeneEmbeddings,
    compare_expression,
    comparison_metrics,
    observed_expression,
    write_comparison,
)
from exprflow.evaluation.mlm_expression_report import COMPARISON_FILES, SUMMARY_COLUMNS
from exprflow.evaluation.mlm_regression import TABLE_COLUMNS, score, transform_expression

S, D, V = 60, 8, 5
SAMPLES = tuple(f"HG{i:03d}" for i in range(S))
SETTINGS = ExpressionSettings(models=("ridge",))


def _world() -> tuple[list[GeneEmbeddings], pd.DataFrame, pd.DataFrame, dict[str, GeneDosages]]:
    """Genes A (eQTL + dosages), B (dosages, no eQTL), C (no dosages); signal in dim 0."""
    rng = np.random.default_rng(0)
    embeddings, rpkm, dosages = [], {}, {}
    snps = pd.DataFrame({"chrom": "1", "pos": 100 * np.arange(1, V + 1), "id": "."})
    for gene in ("A", "B", "C"):
        x = rng.binomial(2, 0.4, (S, V)).astype(float)
        log_expr = x[:, 1] + 0.2 * rng.normal(size=S)
        father, mother = rng.normal(size=(S, D)), rng.normal(size=(S, D))
        father[:, 0] = log_expr - mother[:, 0]  # father + mother carries the signal
        embeddings.append(GeneEmbeddings(gene, SAMPLES, father, mother))
        rpkm[gene] = 2.0**log_expr
        if gene != "C":
            dosages[gene] = GeneDosages(gene, SAMPLES[::-1], x[::-1], snps)
    expression = pd.DataFrame(rpkm, index=SAMPLES).T
    expression["EXTRA_SAMPLE"] = 1.0
    eqtls = pd.DataFrame(
        {"SNP_ID": ["rsA"], "GENE_ID": ["A"], "CHR_SNP": ["1"], "SNPpos": [200], "rvalue": [0.8]}
    )
    return embeddings, expression, eqtls, dosages


@pytest.fixture(scope="module")
def world() -> tuple[list[GeneEmbeddings], pd.DataFrame, pd.DataFrame, dict[str, GeneDosages]]:
    return _world()


@pytest.fixture(scope="module")
def comparison(world: tuple) -> ExpressionComparison:
    embeddings, expression, eqtls, dosages = world
    extra = pd.DataFrame(
        np.log2(expression.loc[["A", "B"], list(SAMPLES)].to_numpy()), ["A", "B"], SAMPLES
    )
    return compare_expression(
        embeddings,
        expression,
        eqtls=eqtls,
        dosages=dosages,
        extra_predictions={"finetuned": extra},
        settings=SETTINGS,
    )


def _row(table: pd.DataFrame, gene: str, method: str, features: str) -> pd.Series:
    chosen = table[
        (table.gene_id == gene) & (table.method == method) & (table.features == features)
    ]
    assert len(chosen) == 1
    return chosen.iloc[0]


def test_table_columns_and_rows(comparison: ExpressionComparison) -> None:
    table = comparison.table
    assert tuple(table.columns) == TABLE_COLUMNS
    assert tuple(comparison.summary.columns) == SUMMARY_COLUMNS
    # 3 genes × 3 combinations ridge + 3 genes × 3 baselines + 2 extra
    assert len(table) == 9 + 9 + 2
    assert set(table.family) == {"mlm", "baseline", "extra"}


def test_planted_signal_recovered_and_sum_equals_mean(comparison: ExpressionComparison) -> None:
    table = comparison.table
    for gene in "ABC":
        assert _row(table, gene, "ridge", "sum").r > 0.9
        assert _row(table, gene, "ridge", "sum").r == pytest.approx(
            _row(table, gene, "ridge", "mean").r, abs=1e-9
        )
    assert comparison.best_mlm() is not None and comparison.best_mlm()[0] == "ridge"


def test_baseline_rows_and_reasons(comparison: ExpressionComparison) -> None:
    table = comparison.table
    assert _row(table, "A", "best_eqtl_snp", "dosage").r > 0.8
    assert _row(table, "A", "eqtl_table", "rvalue").r == pytest.approx(0.8)
    for method, features in (("best_eqtl_snp", "dosage"), ("eqtl_table", "rvalue")):
        assert _row(table, "B", method, features).status == "no_eqtl"
    assert _row(table, "B", "elastic_net", "dosages").r > 0.8  # dosages re-ordered to match
    for method, features in (("best_eqtl_snp", "dosage"), ("elastic_net", "dosages")):
        row = _row(table, "C", method, features)
        assert row.status == "no_dosages" and np.isnan(row.r)


def test_extra_predictions_scored_on_transformed_expression(
    comparison: ExpressionComparison, world: tuple
) -> None:
    expression = world[1]
    row = _row(comparison.table, "A", "finetuned", "predictions")
    observed = transform_expression(expression.loc["A", list(SAMPLES)].to_numpy())
    expected = score(observed, np.log2(expression.loc["A", list(SAMPLES)].to_numpy()))
    assert row.family == "extra" and row.r == pytest.approx(expected.r)
    assert row.r2 == pytest.approx(expected.r2) and row.n_samples == S


def test_summary_counts(comparison: ExpressionComparison) -> None:
    summary = comparison.summary.set_index(["method", "features"])
    assert summary.loc[("ridge", "sum"), "n_genes"] == 3
    assert summary.loc[("ridge", "sum"), "frac_r_above"] == 1.0
    assert summary.loc[("best_eqtl_snp", "dosage"), "n_evaluated"] == 1
    assert summary["median_r"].is_monotonic_decreasing


def test_write_comparison_files_and_metrics(comparison: ExpressionComparison, tmp_path) -> None:
    paths = write_comparison(comparison, tmp_path / "out")
    assert {p.name for p in paths.values()} == set(COMPARISON_FILES.values())
    table = pd.read_csv(paths["table"])
    assert tuple(table.columns) == TABLE_COLUMNS and len(table) == len(comparison.table)
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(COMPARISON_FILES.values())
    metrics = comparison_metrics(comparison)
    best = comparison.best_mlm()
    assert best is not None
    assert metrics["expr_best_mlm_median_r"] == metrics[f"expr_{best[0]}_{best[1]}_median_r"]
    assert metrics["expr_eqtl_table_rvalue_median_r"] == pytest.approx(0.8)


def test_plot_without_eqtl_baseline(world: tuple, tmp_path) -> None:
    embeddings, expression, _, _ = world
    only = compare_expression(
        embeddings[:1],
        expression,
        settings=ExpressionSettings(models=("ridge",), combinations=("sum",)),
    )
    assert set(only.table.method) == {"ridge"}
    assert write_comparison(only, tmp_path)["figure"].stat().st_size > 0


def test_embedding_samples_missing_from_expression(world: tuple) -> None:
    embeddings, expression, _, _ = world
    expression = expression.drop(columns=["HG003", "HG007"])
    expression.attrs["path"] = "GD660.GeneQuantRPKM.txt.gz"
    with pytest.raises(
        InputError, match=r"GD660.*2 of 60 samples have no expression: HG003, HG007"
    ):
        compare_expression(embeddings, expression, settings=SETTINGS)


def test_gene_absent_from_expression(world: tuple) -> None:
    embeddings, expression, _, _ = world
    with pytest.raises(InputError, match="gene A is not in the expression table"):
        compare_expression(embeddings, expression.drop(index="A"), settings=SETTINGS)


def test_dosages_and_extra_predictions_missing_samples(world: tuple) -> None:
    embeddings, expression, _, dosages = world
    short = GeneDosages("A", SAMPLES[1:], dosages["A"].dosages[1:], dosages["A"].snps)
    with pytest.raises(ValueError, match=r"gene A: dosages lack 1 sample.*HG000"):
        compare_expression(embeddings[:1], expression, dosages={"A": short}, settings=SETTINGS)
    extra = pd.DataFrame(0.0, index=["A"], columns=SAMPLES[2:])
    with pytest.raises(
        ValueError, match=r"'ft', gene A: no prediction for 2 sample\(s\): HG000, HG001"
    ):
        compare_expression(
            embeddings[:1], expression, extra_predictions={"ft": extra}, settings=SETTINGS
        )


def test_gene_embeddings_validation() -> None:
    with pytest.raises(ValueError, match=r"\(samples=2, d\); got \(2, 3\) and \(2, 4\)"):
        GeneEmbeddings("G", ("a", "b"), np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        GeneEmbeddings("G", ("a",), np.full((1, 2), np.nan), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="sample ids repeat"):
        GeneEmbeddings("G", ("a", "a"), np.zeros((2, 2)), np.zeros((2, 2)))
    stacked = np.arange(12.0).reshape(2, 2, 3)
    emb = GeneEmbeddings.from_stacked("G", ["a", "b"], stacked)
    np.testing.assert_array_equal(emb.father, stacked[:, 0])
    np.testing.assert_array_equal(emb.mother, stacked[:, 1])
    with pytest.raises(ValueError, match=r"\(S, 2, d\), got \(2, 3\)"):
        GeneEmbeddings.from_stacked("G", ["a", "b"], np.zeros((2, 3)))


def test_settings_and_duplicate_genes_refused(world: tuple) -> None:
    with pytest.raises(ValueError, match=r"models \['forest'\] unknown"):
        ExpressionSettings(models=("forest",))
    with pytest.raises(ValueError, match=r"combinations \['max'\] unknown"):
        ExpressionSettings(combinations=("max",))
    embeddings, expression, _, _ = world
    with pytest.raises(ValueError, match=r"embeddings repeat genes: \['A'\]"):
        compare_expression([embeddings[0], embeddings[0]], expression, settings=SETTINGS)


def test_observed_expression_uses_the_given_samples(world: tuple) -> None:
    expression = world[1]
    observed = observed_expression(expression, "A", SAMPLES[:10])
    np.testing.assert_allclose(
        observed, transform_expression(expression.loc["A", list(SAMPLES[:10])].to_numpy())
    )
