from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from exprflow.errors import InputError
from exprflow.evaluation.expression import (
    cross_gene,
    cross_individual,
    log_expression,
    planted_recovery,
    unversioned,
)

SAMPLES = [f"HG{i:05d}" for i in range(10)]


def test_unversioned_strips_versions_and_refuses_repeats() -> None:
    frame = pd.DataFrame({"x": [1, 2]}, index=["ENSG1.3", "ENSG2"])
    assert list(unversioned(frame, "t.tsv").index) == ["ENSG1", "ENSG2"]
    with pytest.raises(InputError, match=r"t\.tsv: ENSG1: gene id appears twice"):
        unversioned(pd.DataFrame({"x": [1, 2]}, index=["ENSG1.3", "ENSG1.4"]), "t.tsv")


def test_log_expression() -> None:
    rpkm = pd.DataFrame({"E116": [0.0, 1.0]}, index=["a", "b"])
    rpkm.attrs["path"] = "r.tsv"
    logged = log_expression(rpkm, 0.01)
    np.testing.assert_allclose(logged["E116"], np.log([0.01, 1.01]))
    assert logged.attrs["path"] == "r.tsv"
    with pytest.raises(ValueError, match="pseudocount must be > 0"):
        log_expression(rpkm, 0.0)


def _reference_pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    """8 genes on chr1 / chr4; E116 predicted exactly, E123 reversed, E999 unobserved."""
    observed = pd.DataFrame(
        {"E116": np.arange(8.0), "E123": np.array([3.0, 1, 4, 1.5, 5, 9, 2, 6]), "E118": 0.0},
        index=[f"ENSG{i}.1" for i in range(8)],  # versioned: matched without version
    )
    observed.attrs["path"] = "roadmap.tsv"
    reference = pd.DataFrame(
        {
            "gene_id": [f"ENSG{i}" for i in range(8)],
            "chrom": ["chr1"] * 5 + ["4"] * 3,
            "tss": 100,
            "strand": "+",
            "E116": observed["E116"].to_numpy() * 2 + 1,
            "E123": -observed["E123"].to_numpy(),
            "E999": 1.0,
        }
    )
    reference.attrs["path"] = "reference_predictions.tsv"
    return reference, observed.drop(columns="E118")


def test_cross_gene_known_correlations() -> None:
    reference, observed = _reference_pair()
    result = cross_gene(reference, observed, ["chr4"])
    assert list(result.per_tissue.index) == ["E116", "E123"]
    assert result.test.sum() == 3 and list(result.test[result.test].index) == [
        "ENSG5",
        "ENSG6",
        "ENSG7",
    ]
    metrics = result.metrics()
    assert metrics["n_genes"] == 8 and metrics["n_test_genes"] == 3
    for name in ("test_spearman", "test_pearson", "all_spearman", "all_pearson"):
        assert metrics[f"{name}_E116"] == pytest.approx(1.0)
        assert metrics[f"{name}_E123"] == pytest.approx(-1.0)
        assert metrics[name] == pytest.approx(0.0)  # median of 1 and -1
    assert "test_spearman_E116" not in result.metrics(per_tissue=False)


def test_cross_gene_without_test_genes_has_nan_test_metrics() -> None:
    reference, observed = _reference_pair()
    metrics = cross_gene(reference, observed, ["chr9"]).metrics()
    assert metrics["n_test_genes"] == 0
    assert math.isnan(metrics["test_spearman"]) and metrics["all_spearman_E116"] == 1.0


def test_cross_gene_refuses_tables_without_shared_tissues_or_genes() -> None:
    reference, observed = _reference_pair()
    with pytest.raises(InputError, match=r"reference_predictions\.tsv: none of its tissue"):
        cross_gene(reference.drop(columns=["E116", "E123"]), observed, ["chr4"])
    other = observed.set_axis([f"OTHER{i}" for i in range(8)], axis=0)
    other.attrs["path"] = "roadmap.tsv"
    with pytest.raises(InputError, match=r"none of its 8 genes .* is in roadmap\.tsv"):
        cross_gene(reference, other, ["chr4"])


def _individuals() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Genes with known cross-individual behaviour over 10 individuals."""
    y = np.arange(10.0)
    observed = pd.DataFrame(
        {
            "good.2": y,  # predicted exactly
            "wrong": y,  # predicted reversed: significant, wrong sign
            "null": y,  # orthogonal prediction: r = 0, p = 1
            "flat": y,  # constant prediction
            "tiny": y,  # prediction varies by float32 rounding only: constant
            "flat_obs": 1.0,  # constant observed
            "sparse": y,  # prediction known for 2 individuals only
        }
    ).T.set_axis(SAMPLES, axis=1)
    observed.attrs["path"] = "gd660.txt"
    predicted = pd.DataFrame(
        {
            "good.1": y * 0.5,
            "wrong": -y,
            "null": [1.0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            "flat": 3.0,
            "tiny": 3.0 + np.arange(10) * 1e-8,
            "flat_obs": y,
            "sparse": [1.0, 2.0] + [np.nan] * 8,
            "unobserved": y,
        }
    ).T.set_axis(SAMPLES, axis=1)
    predicted["HG99999"] = 0.0  # an individual without observed expression
    predicted.attrs["path"] = "personalized.tsv.gz"
    return predicted, observed


def test_cross_individual_known_answers() -> None:
    predicted, observed = _individuals()
    result = cross_individual(predicted, observed, alpha=0.05)
    genes = result.per_gene.set_index("gene_id")
    assert list(result.per_gene.columns) == [
        "gene_id",
        "n_individuals",
        "spearman",
        "pearson",
        "p_value",
        "q_value",
        "significant",
        "status",
    ]
    assert sorted(genes.index) == sorted(
        ["good", "wrong", "null", "flat", "tiny", "flat_obs", "sparse"]
    )
    assert genes.loc["good", "spearman"] == pytest.approx(1.0)
    assert genes.loc["wrong", "pearson"] == pytest.approx(-1.0)
    assert genes.loc["null", "pearson"] == pytest.approx(0.0, abs=1e-12)
    assert genes.loc["good", "n_individuals"] == 10 and genes.loc["sparse", "n_individuals"] == 2
    assert dict(genes["status"]) == {
        "flat": "constant_prediction",
        "flat_obs": "constant_observed",
        "good": "evaluated",
        "null": "evaluated",
        "sparse": "too_few_individuals",
        "tiny": "constant_prediction",
        "wrong": "evaluated",
    }
    evaluated = genes[genes["status"] == "evaluated"]
    np.testing.assert_allclose(
        evaluated["q_value"], stats.false_discovery_control(evaluated["p_value"])
    )
    assert genes["q_value"][genes["status"] != "evaluated"].isna().all()
    assert set(genes.index[genes["significant"]]) == {"good", "wrong"}
    metrics = result.metrics()
    assert metrics == {
        "cross_individual_spearman_median": pytest.approx(0.0, abs=1e-12),
        "cross_individual_pearson_median": pytest.approx(0.0, abs=1e-12),
        "n_individuals": 10,
        "n_genes_compared": 7,
        "n_genes_evaluated": 3,
        "n_genes_constant": 2,
        "n_genes_constant_observed": 1,
        "n_genes_significant": 2,
        "fraction_significant": pytest.approx(2 / 3),
        "fraction_wrong_sign": pytest.approx(0.5),
    }


def test_cross_individual_with_nothing_significant_has_undefined_wrong_sign() -> None:
    predicted, observed = _individuals()
    metrics = cross_individual(predicted.loc[["null", "flat"]], observed).metrics()
    assert metrics["n_genes_significant"] == 0 and metrics["fraction_significant"] == 0.0
    assert math.isnan(metrics["fraction_wrong_sign"])


def test_cross_individual_refuses_disjoint_tables() -> None:
    predicted, observed = _individuals()
    other = observed.set_axis([f"X{i}" for i in range(7)], axis=0)
    other.attrs["path"] = "gd660.txt"
    with pytest.raises(InputError, match=r"personalized\.tsv\.gz: none of its 8 genes"):
        cross_individual(predicted, other)
    few = observed.set_axis([f"NA{i}" for i in range(10)], axis=1)
    few.attrs["path"] = "gd660.txt"
    with pytest.raises(InputError, match=r"only 0 of its 11 samples are in gd660\.txt"):
        cross_individual(predicted, few)


def test_planted_recovery_known_counts() -> None:
    predicted, observed = _individuals()
    per_gene = cross_individual(predicted, observed).per_gene
    causal = ["good.7", "wrong", "flat", "absent"]  # absent: not compared, not counted
    assert planted_recovery(per_gene, causal, ["good", "null"]) == {
        "causal_genes": 3,
        "causal_genes_recovered": 1,  # good; wrong is significant with the wrong sign
        "causal_gene_recall": pytest.approx(1 / 3),
        "significant_gene_precision": 1.0,  # good and wrong are both causal
        "eqtl_genes": 2,
        "eqtl_genes_recovered": 1,
        "eqtl_gene_recall": 0.5,
    }
    assert planted_recovery(per_gene, None, None) == {}
    only_null = planted_recovery(per_gene, ["null"])
    assert only_null["causal_genes_recovered"] == 0
    assert only_null["significant_gene_precision"] == 0.0
