from __future__ import annotations

import re

import pytest

from exprflow.evaluation.metric_names import (
    DIRECTIONS,
    TASK_METRICS,
    is_truth_metric,
    summary_name,
    task_metrics,
)
from exprflow.steps import expecto_evaluate, train_chromatin, train_tissue


@pytest.mark.parametrize("task", list(TASK_METRICS))
def test_every_task_entry_is_well_formed(task: str) -> None:
    scheme = TASK_METRICS[task]
    assert scheme.task == task and scheme.description
    assert scheme.deciding is scheme.metrics[0] and scheme.deciding.required
    assert len(set(scheme.names)) == len(scheme.names)
    for metric in scheme.metrics:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", metric.name), metric
        assert metric.direction in DIRECTIONS and metric.description


def test_expression_and_chromatin_heads_of_the_table() -> None:
    expression = TASK_METRICS["expression"]
    assert expression.names == (
        "test_spearman",
        "test_pearson",
        "cross_individual_spearman_median",
        "fraction_significant",
        "fraction_wrong_sign",
        "causal_gene_recall",
    )
    assert expression.required == ("test_spearman", "test_pearson")
    assert expression.metric("fraction_wrong_sign").direction == "min"
    chromatin = TASK_METRICS["chromatin"]
    assert chromatin.names == ("val_auroc", "val_loss")
    assert [m.direction for m in chromatin.metrics] == ["max", "min"]
    assert {"variant_effect", "mpra", "eqtl", "tracks"} <= set(TASK_METRICS)
    assert TASK_METRICS["mpra"].deciding.name == "test_pearson"
    assert TASK_METRICS["eqtl"].deciding.name == "test_auroc"
    with pytest.raises(KeyError, match="no headline metric 'val_auroc'"):
        expression.metric("val_auroc")


def test_the_expecto_steps_log_the_scheme_names() -> None:
    # The contract: each step documents (and logs) its task's metric names verbatim.
    for name in TASK_METRICS["expression"].names:
        assert f"``{name}``" in (expecto_evaluate.__doc__ or ""), name
    for name in TASK_METRICS["chromatin"].names:
        assert f"``{name}``" in (train_chromatin.__doc__ or ""), name
    assert (expecto_evaluate.STEP.task, train_tissue.STEP.task) == ("expression", "expression")
    assert train_chromatin.STEP.task == "chromatin"


def test_task_metrics_and_summary_name() -> None:
    assert task_metrics("expression") is TASK_METRICS["expression"]
    assert task_metrics("world") is None
    assert summary_name("expecto", "expression", "test_spearman") == (
        "expecto.expression.test_spearman"
    )


@pytest.mark.parametrize(
    ("name", "truth"),
    [
        ("causal_gene_recall", True),
        ("causal_genes_recovered", True),
        ("causal_variant_auroc", True),
        ("planted_motif_recall", True),
        ("eqtl_gene_recall", True),
        ("significant_gene_precision", True),
        ("test_spearman", False),
        ("fraction_significant", False),
    ],
)
def test_is_truth_metric(name: str, truth: bool) -> None:
    assert is_truth_metric(name) is truth
