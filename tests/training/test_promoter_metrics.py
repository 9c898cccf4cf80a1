"""Promoter metrics and predictions on hand-made arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from exprflow.data.promoter_tasks import TaskSpec
from exprflow.training.promoter_metrics import metric_name, task_metrics
from exprflow.training.promoter_predict import outputs_to_predictions, score_task

REG = TaskSpec("FluorescenceData", "regression", ("JURKAT", "K562"), 2)
BIN = TaskSpec("ENCODETFChIPSeq", "binary", ("K562:ATF3", "K562:GATA1"), 2)
SURE = TaskSpec("SuRE_classification", "multiclass", ("K562", "HepG2"), 20, 2, 5)


def test_regression_metrics_by_hand() -> None:
    predicted = np.array([[1.0, 3.0], [2.0, 1.0], [3.0, 2.0], [5.0, 0.0]])
    observed = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    out = task_metrics(REG, predicted, observed, np.ones((4, 2), dtype=bool))
    assert out["JURKAT_spearman"] == pytest.approx(1.0)
    assert out["JURKAT_pearson"] == pytest.approx(stats.pearsonr([1, 2, 3, 5], [1, 2, 3, 4])[0])
    assert out["JURKAT_r2"] == pytest.approx(1 - 1.0 / 5.0)
    assert out["K562_spearman"] == pytest.approx(stats.spearmanr([3, 1, 2, 0], [1, 2, 3, 4])[0])
    assert out["K562_r2"] == pytest.approx(1 - (4 + 1 + 1 + 16) / 5.0)
    assert out["mean_spearman"] == pytest.approx(
        (out["JURKAT_spearman"] + out["K562_spearman"]) / 2
    )


def test_constant_predictions_give_nan_correlations() -> None:
    out = task_metrics(REG, np.zeros((3, 2)), np.arange(6.0).reshape(3, 2), np.ones((3, 2), bool))
    assert math.isnan(out["JURKAT_pearson"]) and math.isnan(out["mean_spearman"])
    assert out["JURKAT_r2"] == pytest.approx(1 - (0 + 4 + 16) / 8)


def test_sharpr_means_use_the_avg_outputs_only() -> None:
    spec = TaskSpec("Sharpr_MPRA", "regression", ("k_rep1", "k_avg"), 2)
    observed = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    predicted = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]])
    out = task_metrics(spec, predicted, observed, np.ones((3, 2), bool))
    assert out["k_rep1_spearman"] == pytest.approx(-1.0)
    assert out["mean_spearman"] == pytest.approx(1.0)


def test_binary_metrics_over_labelled_entries_with_safe_names() -> None:
    prob = np.array([[0.9, 0.2], [0.6, 0.8], [0.7, 0.6], [0.1, 0.3]])
    label = np.array([[1, 0], [0, 1], [1, 1], [1, 0]], dtype=np.float32)
    mask = np.array([[True, True], [True, True], [True, False], [False, False]])
    out = task_metrics(BIN, prob, label, mask)
    assert out["K562_ATF3_auroc"] == pytest.approx(1.0)  # kept: (0.9,1) (0.6,0) (0.7,1)
    assert out["K562_ATF3_accuracy"] == pytest.approx(2 / 3)
    assert out["K562_GATA1_auroc"] == pytest.approx(1.0)
    assert out["mean_accuracy"] == pytest.approx((2 / 3 + 1.0) / 2)
    one_class = task_metrics(BIN, prob, np.ones_like(label), np.ones_like(mask))
    assert math.isnan(one_class["K562_ATF3_auroc"]) and math.isnan(one_class["mean_auroc"])
    assert metric_name("HepG2:FOXA2 (x)") == "HepG2_FOXA2 _x_"


def test_multiclass_accuracy_on_each_rows_head() -> None:
    logits = torch.zeros(2, 20)
    views = logits.view(2, 2, 2, 5)
    views[0, 1, 0, 3] = 5.0  # row 0, head 1: K562 class 3
    views[0, 0, 0, 1] = 9.0  # head 0 says class 1: ignored for row 0
    views[0, 1, 1, 2] = 5.0  # HepG2 class 2
    views[1, 0, 0, 4] = 5.0  # row 1, head 0: K562 class 4
    views[1, 0, 1, 0] = 5.0
    probs = outputs_to_predictions(SURE, logits)
    assert probs.shape == (2, 20)
    assert probs.reshape(2, 2, 2, 5).sum(axis=-1) == pytest.approx(np.ones((2, 2, 2)))
    target = np.array([[3, 2], [4, 1]])
    out = task_metrics(SURE, probs, target, np.ones((2, 2), bool), group=np.array([1, 0]))
    assert out == {"mean_accuracy": 0.75, "K562_accuracy": 1.0, "HepG2_accuracy": 0.5}
    with pytest.raises(ValueError, match="2 heads need each row's group"):
        task_metrics(SURE, probs, target, np.ones((2, 2), bool))


def test_binary_predictions_are_probabilities() -> None:
    assert outputs_to_predictions(BIN, torch.tensor([[0.0, 100.0]])).tolist() == [[0.5, 1.0]]


def test_rnaseq_windows_are_averaged_and_genes_counted_once() -> None:
    spec = TaskSpec("RNASeq", "regression", ("E123",), 1)
    logits = torch.tensor([[1.0], [2.0], [6.0], [0.0], [4.0], [5.0], [9.0], [9.0], [9.0]])
    group = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    targets = torch.tensor([[1.0]] * 3 + [[2.0]] * 3 + [[3.0]] * 3)
    predictions, out = score_task(spec, logits, targets, torch.ones(9, 1, dtype=torch.bool), group)
    assert predictions[:, 0].tolist() == [3.0] * 6 + [9.0] * 3
    # genes: predictions (3, 3, 9) vs (1, 2, 3)
    assert out["E123_pearson"] == pytest.approx(stats.pearsonr([3, 3, 9], [1, 2, 3])[0])
    other = TaskSpec("FluorescenceData", "regression", ("E123",), 1)
    unaveraged, _ = score_task(other, logits, targets, torch.ones(9, 1, dtype=torch.bool), group)
    assert unaveraged[:, 0].tolist() == logits[:, 0].tolist()


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="do not match"):
        task_metrics(REG, np.zeros((3, 2)), np.zeros((4, 2)), np.ones((4, 2), bool))
