"""Promoter losses: uncertainty weights by hand, masked BCE, SuRE's own genome head."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from exprflow.data.promoter_tasks import TaskSpec
from exprflow.training.promoter_loss import UncertaintyWeights, multiclass_view, task_loss

REG = TaskSpec("FluorescenceData", "regression", ("JURKAT", "K562", "THP1"), 3)
BIN = TaskSpec("ENCODETFChIPSeq", "binary", ("a", "b"), 2)
SURE = TaskSpec("SuRE_classification", "multiclass", ("K562", "HepG2"), 40, 4, 5)


def test_weights_are_parameters_named_task_loss_starting_at_zero() -> None:
    weights = UncertaintyWeights({"FluorescenceData": REG, "ENCODETFChIPSeq": BIN})
    names = dict(weights.named_parameters())
    assert sorted(names) == ["ENCODETFChIPSeq_loss", "FluorescenceData_loss"]
    assert all(p.requires_grad and float(p.detach()) == 0.0 for p in names.values())
    assert sorted(weights.state_dict()) == sorted(names)


def test_weighted_loss_by_hand() -> None:
    weights = UncertaintyWeights({"FluorescenceData": REG, "ENCODETFChIPSeq": BIN})
    with torch.no_grad():
        weights.log_variance("FluorescenceData").fill_(0.5)
        weights.log_variance("ENCODETFChIPSeq").fill_(-1.0)
    total, each = weights(
        {"FluorescenceData": torch.tensor(2.0), "ENCODETFChIPSeq": torch.tensor(3.0)}
    )
    regression = 2.0 / (2 * math.exp(0.5)) + 0.25
    binary = 3.0 / math.exp(-1.0) - 0.5
    assert each["FluorescenceData"].item() == pytest.approx(regression)
    assert each["ENCODETFChIPSeq"].item() == pytest.approx(binary)
    assert total.item() == pytest.approx(regression + binary)


def test_weights_learn_towards_the_loss() -> None:
    weights = UncertaintyWeights({"FluorescenceData": REG, "ENCODETFChIPSeq": BIN})
    _, each = weights({"FluorescenceData": torch.tensor(4.0), "ENCODETFChIPSeq": torch.tensor(4.0)})
    sum(each.values()).backward()
    # d/ds [L / (k e^s) + s/2] at s = 0 is 1/2 - L/k
    assert float(weights.log_variance("FluorescenceData").grad) == pytest.approx(0.5 - 2.0)
    assert float(weights.log_variance("ENCODETFChIPSeq").grad) == pytest.approx(0.5 - 4.0)


def test_single_task_keeps_s_at_zero_and_halves_mse() -> None:
    weights = UncertaintyWeights({"FluorescenceData": REG})
    assert not any(p.requires_grad for p in weights.parameters())
    total, _ = weights({"FluorescenceData": torch.tensor(3.0)})
    assert float(total) == pytest.approx(1.5)
    single_binary = UncertaintyWeights({"ENCODETFChIPSeq": BIN})
    assert float(single_binary({"ENCODETFChIPSeq": torch.tensor(3.0)})[0]) == pytest.approx(3.0)


def test_unknown_task_and_empty_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one task"):
        UncertaintyWeights({})
    with pytest.raises(KeyError, match="no loss weight for task 'RNASeq'"):
        UncertaintyWeights({"FluorescenceData": REG}).weighted("RNASeq", torch.tensor(1.0))


def test_masked_bce_ignores_masked_entries_exactly() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 30.0], [-3.0, 0.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    mask = torch.tensor([[True, False], [True, False], [False, True]])
    loss = task_loss(BIN, logits, {"target": target, "mask": mask})
    kept = [(2.0, 1.0), (0.5, 0.0), (0.0, 1.0)]
    by_hand = [
        -(y * math.log(1 / (1 + math.exp(-x))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-x))))
        for x, y in kept
    ]
    assert float(loss) == pytest.approx(sum(by_hand) / 3)
    changed = logits.clone()
    changed[~mask] = torch.tensor([-50.0, 17.0, 9.0])
    assert float(task_loss(BIN, changed, {"target": target, "mask": mask})) == float(loss)
    nothing = task_loss(BIN, logits, {"target": target, "mask": torch.zeros_like(mask)})
    assert float(nothing) == 0.0


def test_regression_loss_is_mse_and_checks_shapes() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    batch = {"target": torch.tensor([[0.0, 2.0, 5.0]]), "mask": torch.ones(1, 3, dtype=torch.bool)}
    assert float(task_loss(REG, logits, batch)) == pytest.approx((1 + 0 + 4) / 3)
    with pytest.raises(ValueError, match=r"logits \(1, 2\) do not match targets \(1, 3\)"):
        task_loss(REG, logits[:, :2], batch)


def test_sure_loss_uses_each_rows_genome_head() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 40)
    target = torch.tensor([[0, 4], [2, 1], [3, 3]])
    group = torch.tensor([2, 0, 3])
    mask = torch.ones(3, 2, dtype=torch.bool)
    loss = task_loss(SURE, logits, {"target": target, "mask": mask, "group": group})
    by_hand = []
    for row in range(3):
        for cell in range(2):
            start = (int(group[row]) * 2 + cell) * 5
            by_hand.append(
                F.cross_entropy(logits[row, start : start + 5][None], target[row, cell][None])
            )
    assert float(loss) == pytest.approx(float(torch.stack(by_hand).mean()))
    assert multiclass_view(SURE, logits).shape == (3, 4, 2, 5)
    with pytest.raises(ValueError, match="SuRE_classification: logits of shape"):
        multiclass_view(SURE, logits[:, :10])
