"""MLM metrics on hand-made inputs: masked accuracy, IQS (kappa), genotype-level IQS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from exprflow.evaluation.mlm_metrics import (
    GenotypeMetrics,
    MaskedMetrics,
    allele_confusion,
    dosage_confusion,
    genotype_iqs,
    iqs,
    masked_accuracy,
    phased_genotype_confusion,
)


def _logits(pred: np.ndarray) -> np.ndarray:
    """Logits ``(B, 3, L)`` whose argmax is ``pred`` ``(B, L)``."""
    return np.moveaxis(np.eye(3)[pred], -1, -2) * 5.0


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # P0 = .85; rows 50/50, cols 45/55 → Pc = .5; (.85 − .5)/.5
        ([[40, 10], [5, 45]], 0.7),
        # P0 = .85; rows 25/75, cols 30/70 → Pc = .6; .25/.4
        ([[20, 5], [10, 65]], 0.625),
        ([[30, 0], [0, 70]], 1.0),  # perfect agreement
        ([[25, 25], [25, 25]], 0.0),  # chance level
        ([[0, 30], [70, 0]], -0.7241379310344828),  # P0 0, Pc .42: −.42/.58
        # genotypes: P0 = .88, Pc = (55·54 + 35·37 + 10·9)/100² = .4355 → .4445/.5645
        ([[50, 5, 0], [4, 30, 1], [0, 2, 8]], 889 / 1129),
    ],
)
def test_iqs_on_hand_made_tables(table: list[list[int]], expected: float) -> None:
    assert iqs(np.array(table)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("table", [[[10, 0], [0, 0]], [[0, 0], [0, 0]]])
def test_iqs_is_nan_when_chance_agreement_is_certain_or_table_empty(
    table: list[list[int]],
) -> None:
    assert math.isnan(iqs(table))


@pytest.mark.parametrize(
    ("table", "message"),
    [([[1, 2, 3]], "square"), ([[1, -1], [0, 2]], "non-negative"), ([1, 2], "square")],
)
def test_iqs_rejects_malformed_tables(table: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        iqs(table)


def test_allele_confusion_drops_n_and_off_target() -> None:
    true = np.array([0, 0, 1, 1, 2, 0, -100])
    pred = np.array([0, 1, 1, 0, 0, 2, 1])
    assert allele_confusion(pred, true).tolist() == [[1, 1], [1, 1]]
    assert allele_confusion(torch.tensor(pred), torch.tensor(true)).sum() == 4


def test_masked_accuracy_counts_targets_only() -> None:
    labels = np.array([[0, -100, 1, 2], [-100, -100, 1, 0]])
    pred = np.array([[0, 1, 0, 2], [2, 2, 1, 1]])
    assert masked_accuracy(_logits(pred), labels) == pytest.approx(3 / 5)
    tensors = torch.from_numpy(_logits(pred)), torch.from_numpy(labels)
    assert masked_accuracy(*tensors) == pytest.approx(3 / 5)
    assert math.isnan(masked_accuracy(_logits(pred), np.full((2, 4), -100)))
    with pytest.raises(ValueError, match="differ"):
        masked_accuracy(_logits(pred), labels[:, :3])


def test_masked_metrics_pool_over_batches_and_keep_the_published_batch_mean() -> None:
    metrics = MaskedMetrics()
    # batch 1: 4 targets, 3 right (R→R, R→R, A→A, A→R)
    labels1 = np.array([[0, 0, 1, 1, -100]])
    metrics.update(
        _logits(np.array([[0, 0, 1, 0, 1]])), labels1, tokens=np.array([[0, 0, 1, 1, 1]])
    )
    # batch 2: 2 targets, A→A right, N→R wrong (N is dropped from IQS and recall)
    labels2 = np.array([[1, -100, 2]])
    metrics.update(torch.from_numpy(_logits(np.array([[1, 0, 0]]))), torch.from_numpy(labels2))
    out = metrics.summary()
    assert out["masked_accuracy"] == pytest.approx(4 / 6)
    assert out["masked_accuracy_batch_mean"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert out["n_masked"] == 6
    # R/A table [[2, 0], [1, 2]]: P0 = .8, Pc = (2·3 + 3·2)/25 = .48 → .32/.52
    assert metrics.confusion[:2, :2].tolist() == [[2, 0], [1, 2]]
    assert out["iqs"] == pytest.approx(0.32 / 0.52)
    assert out["recall_R"] == 1.0 and out["recall_A"] == pytest.approx(2 / 3)
    assert out["accuracy_all"] == pytest.approx(4 / 5)


def test_masked_metrics_without_targets_are_nan() -> None:
    out = MaskedMetrics().summary()
    assert out["n_masked"] == 0 and "accuracy_all" not in out
    assert all(math.isnan(out[k]) for k in ("masked_accuracy", "iqs", "recall_R", "recall_A"))


# One individual, 6 SNPs (rows father, mother). True dosages 0 1 1 2 0 N; predicted
# 0 1 1 2 1 0. Phased: true R F M B R N, predicted R M F B F R.
TRUE = np.array([[[0, 1, 0, 1, 0, 2], [0, 0, 1, 1, 0, 0]]])
PRED = np.array([[[0, 0, 1, 1, 1, 0], [0, 1, 0, 1, 0, 0]]])


def test_dosage_confusion_and_genotype_iqs_by_hand() -> None:
    assert dosage_confusion(PRED.astype(np.uint8), TRUE).tolist() == [
        [1, 1, 0],
        [0, 2, 0],
        [0, 0, 1],
    ]
    # P0 = 4/5; rows 2, 2, 1; cols 1, 3, 1 → Pc = 9/25; (20 − 9)/(25 − 9)
    assert genotype_iqs(PRED, TRUE) == pytest.approx(11 / 16)


def test_phased_confusion_counts_phase_errors() -> None:
    table = phased_genotype_confusion(PRED, TRUE)
    expected = np.zeros((4, 4), int)
    for t, p in [(0, 0), (1, 2), (2, 1), (3, 3), (0, 1)]:  # R→R F→M M→F B→B R→F
        expected[t, p] += 1
    assert table.tolist() == expected.tolist()
    # P0 = 2/5; rows 2 1 1 1, cols 1 2 1 1 → Pc = 6/25; (10 − 6)/(25 − 6)
    assert iqs(table) == pytest.approx(4 / 19)


def test_genotype_tables_drop_off_target_snps() -> None:
    labels = TRUE.copy()
    labels[0, 1, 4] = -100  # one haplotype off-target: genotype dropped
    assert dosage_confusion(PRED, labels).sum() == 4
    assert phased_genotype_confusion(PRED, labels).sum() == 4
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, L\)"):
        dosage_confusion(PRED[:, :1], TRUE[:, :1])


def test_genotype_metrics_read_collated_pairs() -> None:
    metrics = GenotypeMetrics()
    labels = TRUE.reshape(2, 6)  # rows 2i father, 2i + 1 mother
    metrics.update(torch.from_numpy(_logits(PRED.reshape(2, 6))), torch.from_numpy(labels))
    out = metrics.summary()
    assert out["n_genotypes"] == 5
    assert out["genotype_iqs"] == pytest.approx(11 / 16)
    assert out["phased_iqs"] == pytest.approx(4 / 19)
    assert out["dosage_accuracy"] == pytest.approx(4 / 5)
    assert out["genotype_accuracy"] == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="2B"):
        metrics.update(_logits(PRED.reshape(2, 6))[:1], labels[:1])
