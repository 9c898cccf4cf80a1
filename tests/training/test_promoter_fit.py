"""Promoter fits: a planted signal is learned, probing freezes, the best checkpoint is tested."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from tests.training._promoter_tasks import chip, fluorescence, rnaseq, sure

from exprflow.data.promoter_codes import codes_to_onehot
from exprflow.models.promoter import PromoterModel, build_backbone
from exprflow.training.promoter_fit import (
    OVERALL_LOSS,
    PromoterFitSettings,
    fit_promoter,
    monitor_for,
    predict_task,
)
from exprflow.training.promoter_predict import head_outputs

FLUO = "FluorescenceData"


def _model(
    name: str, tasks: dict[str, int], length: int, style: str = "linear", **kw: str
) -> PromoterModel:
    torch.manual_seed(0)
    return PromoterModel(build_backbone(name, "tiny", seq_length=length, **kw), tasks, style)


def test_fit_learns_a_planted_motif_count(tmp_path: Path) -> None:
    task = fluorescence(n=600, length=100)
    logged: list[tuple[int, dict[str, float]]] = []
    settings = PromoterFitSettings(
        lr=5e-3, weight_decay=0.01, batch_size=32, max_epochs=8, scheduler="onecycle", device="cpu"
    )
    fit = fit_promoter(
        _model("PureCNN", {FLUO: 3}, 100),
        {FLUO: task},
        settings,
        checkpoint_dir=tmp_path,
        log_metrics=lambda values, epoch: logged.append((epoch, values)),
    )
    assert fit.test[FLUO]["mean_spearman"] > 0.8
    assert fit.monitor == "val_FluorescenceData_mean_spearman" and fit.mode == "max"
    assert [epoch for epoch, _ in logged] == list(range(1, len(fit.history) + 1))
    monitored = [record[fit.monitor] for record in fit.history]
    assert fit.best_epoch == int(np.argmax(monitored)) + 1
    assert {
        "train_loss",
        OVERALL_LOSS,
        "lr",
        "epoch_seconds",
        "val_FluorescenceData_K562_r2",
    } <= set(logged[0][1])
    assert fit.loss_weights == {FLUO: 0.0}
    assert fit.steps == 8 * math.ceil(len(task.indices("train")) / 32)
    assert not fit.model.training
    rows = task.indices("test")
    again = predict_task(fit.model, task, rows)
    assert again.shape == (len(rows), 3)


class _NegateHeadAfterFirstEpoch(Callback):
    """From the second epoch on, validation sees the head negated: a worse last epoch."""

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch >= 1:
            with torch.no_grad():
                for param in pl_module.model.heads[FLUO].parameters():
                    param.neg_()


def test_test_metrics_come_from_the_best_checkpoint(tmp_path: Path) -> None:
    task = fluorescence(n=300, length=100)
    settings = PromoterFitSettings(lr=5e-3, batch_size=32, max_epochs=5, patience=1, device="cpu")
    fit = fit_promoter(
        _model("PureCNN", {FLUO: 3}, 100),
        {FLUO: task},
        settings,
        checkpoint_dir=tmp_path,
        callbacks=[_NegateHeadAfterFirstEpoch()],
    )
    # early stopping: one epoch without improvement (patience 1) ends the fit
    first, last = (record["val_FluorescenceData_mean_spearman"] for record in fit.history)
    assert first > 0 > last
    assert fit.best_epoch == 1
    assert fit.checkpoint.name == "epoch000.ckpt" and (tmp_path / "last.ckpt").is_file()
    assert fit.test[FLUO]["mean_spearman"] > 0 > fit.test_last[FLUO]["mean_spearman"]
    predicted = predict_task(fit.model, task, task.indices("test"))[:, 1]
    from scipy import stats

    assert stats.spearmanr(predicted, task.targets[task.indices("test"), 1])[0] == pytest.approx(
        fit.test[FLUO]["K562_spearman"]
    )


@pytest.mark.parametrize(("backbone", "norm"), [("MTLucifer", "batch"), ("LegNet", "")])
def test_linear_probing_leaves_the_frozen_backbone_bitwise_unchanged(
    tmp_path: Path, backbone: str, norm: str
) -> None:
    task = fluorescence(n=64, length=40, seeds=1)
    extra = {"norm": norm} if norm else {}
    model = _model(backbone, {FLUO: 3}, 40, **extra).freeze_for_probing()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = PromoterFitSettings(lr=1e-2, batch_size=16, max_epochs=2, device="cpu")
    fit = fit_promoter(model, {FLUO: task}, settings, checkpoint_dir=tmp_path)
    after = fit.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    expected = {k for k in before if k.startswith("heads.")}
    if backbone == "MTLucifer":
        expected.add("backbone.cls_token")
    assert changed == expected
    assert any("running_mean" in k for k in before)  # BatchNorm statistics did not move either


def test_joint_fit_monitors_fluorescence_and_learns_loss_weights(tmp_path: Path) -> None:
    tasks = {FLUO: fluorescence(n=60, length=100), "ENCODETFChIPSeq": chip(n=40)}
    tasks |= {"SuRE_classification": sure(n=40), "RNASeq": rnaseq(genes=20)}
    heads = {name: task.spec.n_logits for name, task in tasks.items()}
    settings = PromoterFitSettings(
        lr=1e-2, batch_size=8, max_epochs=1, train_mode="max_size_cycle", device="cpu"
    )
    fit = fit_promoter(_model("PureCNN", heads, 100), tasks, settings, checkpoint_dir=tmp_path)
    assert fit.monitor == "val_FluorescenceData_mean_spearman"
    longest = max(len(task.indices("train")) for task in tasks.values())
    assert fit.steps == math.ceil(longest / 8)
    record = fit.best
    for name, metric in [
        ("ENCODETFChIPSeq", "mean_auroc"),
        ("SuRE_classification", "mean_accuracy"),
        ("RNASeq", "mean_spearman"),
    ]:
        assert f"val_{name}_{metric}" in record
    assert set(fit.loss_weights) == set(tasks)
    assert all(value != 0.0 for value in fit.loss_weights.values())
    assert set(fit.test) == set(tasks)
    assert "K562_accuracy" in fit.test["SuRE_classification"]


def test_min_size_pretraining_minimises_the_overall_loss(tmp_path: Path) -> None:
    tasks = {"ENCODETFChIPSeq": chip(n=40), "SuRE_classification": sure(n=60)}
    assert monitor_for({k: t.spec for k, t in tasks.items()}) == (OVERALL_LOSS, "min")
    heads = {name: task.spec.n_logits for name, task in tasks.items()}
    settings = PromoterFitSettings(lr=1e-2, batch_size=8, max_epochs=1, device="cpu")
    fit = fit_promoter(_model("LegNet", heads, 80), tasks, settings, checkpoint_dir=tmp_path)
    shortest = min(len(task.indices("train")) for task in tasks.values())
    assert fit.steps == math.ceil(shortest / 8)
    assert fit.monitor == OVERALL_LOSS


def test_fits_are_deterministic(tmp_path: Path) -> None:
    task = fluorescence(n=80, length=100, seeds=1)
    settings = PromoterFitSettings(lr=1e-2, batch_size=16, max_epochs=1, device="cpu", threads=1)
    states = [
        fit_promoter(
            _model("PureCNN", {FLUO: 3}, 100),
            {FLUO: task},
            settings,
            checkpoint_dir=tmp_path / str(k),
        ).model.state_dict()
        for k in range(2)
    ]
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


def test_bad_fits_are_refused(tmp_path: Path) -> None:
    task = fluorescence(n=30, length=100, seeds=1)
    with pytest.raises(ValueError, match=r"model has no head for \['FluorescenceData'\]"):
        fit_promoter(
            _model("PureCNN", {"Other": 3}, 100),
            {FLUO: task},
            PromoterFitSettings(),
            checkpoint_dir=tmp_path,
        )
    with pytest.raises(ValueError, match="monitor_task 'RNASeq' is not trained"):
        monitor_for({FLUO: task.spec}, "RNASeq")
    with pytest.raises(ValueError, match="train_mode must be one of"):
        PromoterFitSettings(train_mode="max_size")
    with pytest.raises(ValueError, match="lr out of range"):
        PromoterFitSettings(lr=0)
    with pytest.raises(ValueError, match="model has no head 'FluorescenceData'"):
        predict_task(_model("PureCNN", {"Other": 3}, 100), task, [0])


def test_predict_task_averages_rnaseq_windows_and_restores_modes() -> None:
    task = rnaseq(genes=5)
    model = _model("LegNet", {"RNASeq": 2}, 50).train()
    predicted = predict_task(model, task, np.arange(len(task)))
    assert predicted.shape == (15, 2)
    assert np.allclose(predicted[0::3], predicted[1::3]) and np.allclose(
        predicted[0::3], predicted[2::3]
    )
    assert model.training and all(m.training for m in model.modules())


def test_head_outputs_give_any_heads_logits_on_any_sequences() -> None:
    task = fluorescence(n=10, length=50, seeds=1)
    model = _model("LegNet", {FLUO: 3, "SuRE_classification": 40}, 50)
    logits = head_outputs(model, task, np.arange(4), "SuRE_classification")
    assert logits.shape == (4, 40)
    with torch.no_grad():
        x = codes_to_onehot(torch.as_tensor(task.codes[:4]))
        direct = model.eval()(x, "SuRE_classification")
    assert np.allclose(logits, direct.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="model has no head 'RNASeq'"):
        head_outputs(model, task, [0], "RNASeq")
