from __future__ import annotations

import math

import pandas as pd
import pytest

from exprflow.evaluation.compare import HEADLINE_COLUMNS, compare
from exprflow.evaluation.gather import ModelRecord, RunRecord


def _run(
    run_id: str, family: str, task: str, step: str, start: int, status: str = "FINISHED", **metrics
) -> RunRecord:
    return RunRecord(run_id, "1", family, task, step, status, start, dict(metrics))


EVALUATE_METRICS = {
    "test_spearman": 0.6,
    "test_pearson": 0.55,
    "cross_individual_spearman_median": 0.3,
    "fraction_significant": 0.25,
    "causal_gene_recall": 0.5,
    "causal_genes": 4.0,
    "causal_genes_recovered": 2.0,
    "n_genes": 24.0,
}
RUNS = [
    _run("s0", "foundation", "world", "simulate", 0),
    _run("c1", "expecto", "chromatin", "train_chromatin", 1, val_auroc=0.8, val_loss=0.4),
    _run("t1", "expecto", "expression", "train_tissue", 2, test_spearman=0.5, test_pearson=0.45),
    _run("r1", "expecto", "expression", "expecto_reference", 3, n_genes=24.0),
    _run("v1", "expecto", "expression", "expecto_evaluate", 5, **EVALUATE_METRICS),
    _run("m1", "haplotype_mlm", "expression", "train_mlm", 6, test_spearman=0.7,
         cross_individual_spearman_median=0.4, test_pearson=math.nan),
    _run("x1", "chromoformer", "expression", "cv_chromatin", 7, "FAILED"),
    _run("p1", "promoter", "mpra", "train_promoter", 8, test_pearson=0.82),
    _run("b1", "basenji2", "tracks", "train_probe", 9, train_loss=0.2),
]  # fmt: skip
MODEL = ModelRecord("expecto", "1", "t1", "READY", ("champion",), {"test_spearman": 0.51})


@pytest.fixture(scope="module")
def result():
    return compare(list(reversed(RUNS)), [MODEL])


def test_summary_takes_each_family_tasks_deciding_run(result) -> None:
    assert {k: r.run_id for k, r in result.deciding.items()} == {
        ("expecto", "chromatin"): "c1",
        ("expecto", "expression"): "v1",  # more headline metrics than train_tissue
        ("haplotype_mlm", "expression"): "m1",
        ("promoter", "mpra"): "p1",
    }
    assert result.summary == {
        "expecto.chromatin.val_auroc": 0.8,
        "expecto.chromatin.val_loss": 0.4,
        "expecto.expression.test_spearman": 0.6,
        "expecto.expression.test_pearson": 0.55,
        "expecto.expression.cross_individual_spearman_median": 0.3,
        "expecto.expression.fraction_significant": 0.25,
        "expecto.expression.causal_gene_recall": 0.5,
        "haplotype_mlm.expression.test_spearman": 0.7,
        "haplotype_mlm.expression.cross_individual_spearman_median": 0.4,
        "promoter.mpra.test_pearson": 0.82,
    }


def test_headline_table_rows_and_columns(result) -> None:
    table = result.headline
    assert list(table.columns) == [
        *HEADLINE_COLUMNS,
        "test_spearman", "test_pearson", "cross_individual_spearman_median",
        "fraction_significant", "fraction_wrong_sign", "causal_gene_recall",
        "val_auroc", "val_loss", "test_auroc",
    ]  # fmt: skip
    # Tasks in scheme order, then family, then start; the prediction step r1 and the
    # unknown task of s0 are not headline rows; the model version follows its run.
    assert list(zip(table["run_id"], table["model"], strict=True)) == [
        ("x1", ""), ("t1", ""), ("t1", "expecto v1"), ("v1", ""), ("m1", ""),
        ("c1", ""), ("b1", ""), ("p1", ""),
    ]  # fmt: skip
    model = table.iloc[2]
    assert (model["status"], model["aliases"], model["step"]) == (
        "READY",
        "@champion",
        "train_tissue",
    )
    # The version's own tag wins; what it lacks comes from its run.
    assert (model["test_spearman"], model["test_pearson"]) == (0.51, 0.45)
    failed = table.iloc[0]
    assert failed["status"] == "FAILED" and failed[list(table.columns[7:])].isna().all()
    evaluated = table.set_index("run_id").loc["v1"]
    assert evaluated["causal_gene_recall"] == 0.5 and math.isnan(evaluated["fraction_wrong_sign"])


def test_missing_headline_metrics_are_reported(result) -> None:
    # m1 logged test_pearson as NaN; b1 is the only run of basenji2 / tracks and has none;
    # the failed run and the prediction step r1 are not reported.
    assert [(m.run.run_id, m.missing) for m in result.missing] == [
        ("m1", ("test_pearson",)),
        ("b1", ("test_pearson",)),
    ]


def test_failed_runs_best_families_and_truth(result) -> None:
    assert [r.run_id for r in result.not_finished] == ["x1"]
    assert result.families == [
        "basenji2", "chromoformer", "expecto", "foundation", "haplotype_mlm", "promoter",
    ]  # fmt: skip
    assert result.best("expression") == ["haplotype_mlm"]
    assert result.best("chromatin") == ["expecto"]
    assert result.best("tracks") == []
    expected = pd.DataFrame(
        {
            "family": ["expecto"],
            "task": ["expression"],
            "step": ["expecto_evaluate"],
            "run_id": ["v1"],
            "causal_gene_recall": [0.5],
            "causal_genes": [4.0],
            "causal_genes_recovered": [2.0],
        }
    )
    pd.testing.assert_frame_equal(result.truth, expected)


def test_ties() -> None:
    runs = [
        _run("a", "fam_a", "chromatin", "train", 1, val_auroc=0.7, val_loss=0.3),
        _run("b", "fam_b", "chromatin", "train", 2, val_auroc=0.7, val_loss=0.2),
        _run("c", "fam_a", "chromatin", "train_again", 3, val_auroc=0.7, val_loss=0.5),
    ]
    result = compare(runs)
    assert result.best("chromatin") == ["fam_a", "fam_b"]
    # fam_a: a tie on the number of headline metrics goes to the later run.
    assert result.deciding[("fam_a", "chromatin")].run_id == "c"
    assert result.summary["fam_a.chromatin.val_loss"] == 0.5


def test_nothing_to_compare() -> None:
    result = compare([])
    assert result.headline.empty and list(result.headline.columns) == list(HEADLINE_COLUMNS)
    assert result.summary == {} and result.missing == () and result.truth.empty
