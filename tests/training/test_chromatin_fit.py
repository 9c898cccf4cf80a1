"""fit_model / predict / fold_metrics: a learnable synthetic problem, early stopping with the
best weights restored, the Keras-style plateau schedule, reproducibility, bad inputs, and
the metrics against exact hand-made values."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor, nn
from torch.utils.data import Dataset

from exprflow.data.chromatin_dataset import ChromatinFeatures
from exprflow.data.chromatin_torch import ChromatinDataset
from exprflow.models.chromexpress import ChromExpress, ChromExpressConfig
from exprflow.training.chromatin_fit import FitSettings, fit_model, fold_metrics, predict

N_GENES = 160


def _problem(task: str, seed: int = 0) -> tuple[ChromatinDataset, ChromatinDataset]:
    """Genes whose target is the mean of mark 0 over the central 1 kb (mark 1 is noise)."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.0, 3.0, (N_GENES, 1, 2))
    promoter_100 = (level * rng.random((N_GENES, 400, 2))).astype(np.float32)
    features = ChromatinFeatures(
        eid="E003",
        gene_id=np.array([f"G{i}" for i in range(N_GENES)]),
        marks=("H3K4me3", "H3K27me3"),
        promoter={100: promoter_100},
        pcre={},
        pcre_length=np.zeros((N_GENES, 8), dtype=np.int32),
        pcre_score=np.zeros((N_GENES, 8), dtype=np.float32),
    )
    value = promoter_100[:, 195:205, 0].mean(axis=1)
    targets = (value > np.median(value)).astype(np.int64) if task == "classification" else value
    rows = np.arange(N_GENES)
    return (
        ChromatinDataset(features, targets, rows[:120]),
        ChromatinDataset(features, targets, rows[120:]),
    )


def _cnn(task: str, dropout: float = 0.0) -> ChromExpress:
    """Tiny CNN; without dropout it learns the problem in a few dozen small steps."""
    tiny = ChromExpressConfig.tiny(n_marks=2, task=task)
    return ChromExpress(replace(tiny, dropout=dropout, dense_dropout=dropout))


def test_regression_learns_the_planted_mark() -> None:
    train, val = _problem("regression")
    settings = FitSettings(lr=3e-3, batch_size=16, max_epochs=40, patience=6, seed=1, threads=1)
    fit = fit_model(lambda: _cnn("regression"), train, val, settings)
    truth = val.tensors()["target"].numpy()
    prediction = predict(fit.model, val, settings)
    assert fit.best_val_loss < 0.15 * truth.var()
    assert fold_metrics("regression", truth, prediction)["pearson"] > 0.9
    assert fit.history[fit.best_epoch - 1]["val_loss"] == min(h["val_loss"] for h in fit.history)
    assert list(fit.history[0]) == ["epoch", "train_loss", "val_loss", "lr", "seconds"]
    assert fit.device == "cpu" and not fit.model.training


def test_classification_reaches_a_high_auroc() -> None:
    train, val = _problem("classification")
    settings = FitSettings(
        "classification", lr=3e-3, batch_size=16, max_epochs=40, patience=6, threads=1
    )
    fit = fit_model(lambda: _cnn("classification"), train, val, settings)
    probability = predict(fit.model, val, settings)
    assert ((probability >= 0) & (probability <= 1)).all()
    truth = val.tensors()["target"].numpy()
    assert fold_metrics("classification", truth, probability)["auroc"] > 0.9


class _Constant(nn.Module):
    """Predicts one learnable number for every gene."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(1))

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.value.expand(len(batch["target"]), 1)


class _Targets(Dataset[dict[str, Tensor]]):
    """Items holding only a target: a plain dict dataset, not a ChromatinDataset."""

    def __init__(self, values: list[float]) -> None:
        self.values = torch.tensor(values)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"target": self.values[i]}


def test_early_stopping_restores_the_best_epoch_and_the_plateau_lowers_the_lr() -> None:
    # Training pulls the value towards +1, validation wants -1: epoch 1 is the best and
    # every later epoch is worse, so the lr drops after 2 bad epochs, again after 2 more,
    # and training stops after 5 bad epochs with epoch 1's weights.
    train, val = _Targets([1.0] * 8), _Targets([-1.0] * 4)
    settings = FitSettings(lr=0.05, batch_size=4, patience=5, plateau_patience=2, seed=0)
    seen: list[dict[str, float]] = []
    fit = fit_model(_Constant(), train, val, settings, on_epoch=seen.append)
    assert seen == fit.history and len(fit.history) == 6 and fit.best_epoch == 1
    losses = [h["val_loss"] for h in fit.history]
    assert losses[0] < min(losses[1:])
    assert [h["lr"] for h in fit.history] == pytest.approx([0.05] * 3 + [0.01] * 2 + [0.002])
    restored = float(fit.model.state_dict()["value"])
    assert (restored + 1) ** 2 == pytest.approx(losses[0], rel=1e-6)
    assert fit.best_val_loss == losses[0]


def test_fits_with_one_seed_are_equal_and_leave_the_global_rng_alone() -> None:
    train, val = _problem("regression")
    settings = FitSettings(max_epochs=3, seed=7, threads=1)
    before, threads = torch.random.get_rng_state(), torch.get_num_threads()
    first = fit_model(lambda: _cnn("regression", 0.2), train, val, settings)
    second = fit_model(lambda: _cnn("regression", 0.2), train, val, settings)
    assert torch.equal(before, torch.random.get_rng_state())
    assert torch.get_num_threads() == threads
    assert [h["val_loss"] for h in first.history] == [h["val_loss"] for h in second.history]
    second_state = second.model.state_dict()
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, second_state[name]), name
    other = fit_model(lambda: _cnn("regression", 0.2), train, val, replace(settings, seed=8))
    assert other.history[0]["val_loss"] != first.history[0]["val_loss"]


def test_predict_restores_train_mode() -> None:
    train, _ = _problem("regression")
    model = _cnn("regression").train()
    assert predict(model, train, FitSettings()).shape == (120,)
    assert model.training


def test_targets_must_fit_the_task_and_a_classifier_needs_two_logits() -> None:
    train, val = _problem("classification")
    with pytest.raises(ValueError, match="targets are integer labels, which do not fit"):
        fit_model(_cnn("regression"), train, val, FitSettings(max_epochs=1))
    with pytest.raises(ValueError, match=r"needs a \(B, 2\) output of logits, got \(64, 1\)"):
        fit_model(_cnn("regression"), train, val, FitSettings("classification", max_epochs=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking"}, "task must be one of"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"precision": "int8"}, "precision must be one of"),
        ({"batch_size": 0}, "batch_size must be ≥ 1"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"plateau_factor": 1.0}, r"plateau_factor must be in \(0, 1\)"),
        ({"threads": -1}, "threads must be ≥ 0"),
    ],
)
def test_settings_reject_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FitSettings(**kwargs)


def test_mixed_precision_is_cuda_only() -> None:
    assert FitSettings(device="cpu").autocast_dtype(torch.device("cpu")) is None
    assert FitSettings(precision="bf16").autocast_dtype(torch.device("cpu")) is None


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_fit_on_cuda(precision: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    train, val = _problem("regression")
    settings = FitSettings(lr=3e-3, batch_size=16, max_epochs=40, patience=6, precision=precision)
    fit = fit_model(lambda: _cnn("regression"), train, val, settings)
    assert fit.device.startswith("cuda")
    truth = val.tensors()["target"].numpy()
    assert fold_metrics("regression", truth, predict(fit.model, val, settings))["pearson"] > 0.9


def test_regression_metrics_are_exact() -> None:
    target, prediction = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])
    metrics = fold_metrics("regression", target, prediction)
    # Σd² = 2 over ranks → ρ = 1 − 6·2 / (4·15) = 0.8; the values are ranks, so r = ρ.
    assert metrics == pytest.approx({"pearson": 0.8, "spearman": 0.8, "r2": 0.6, "mse": 0.5})
    assert metrics["pearson"] == pytest.approx(stats.pearsonr(target, prediction)[0])


def test_classification_metrics_are_exact() -> None:
    target, prediction = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    metrics = fold_metrics("classification", target, prediction)
    # 3 of 4 positive/negative pairs ordered; AP = ½·1 + ½·⅔; 2 of 4 right at 0.5.
    assert metrics == pytest.approx({"auroc": 0.75, "auprc": 5 / 6, "accuracy": 0.5})
    assert metrics["auroc"] == roc_auc_score(target, prediction)
    assert metrics["auprc"] == pytest.approx(average_precision_score(target, prediction))


def test_undefined_metrics_are_nan_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        flat = fold_metrics("regression", np.array([1.0, 2.0, 3.0]), np.full(3, 2.0))
        one_class = fold_metrics("classification", np.ones(3), np.array([0.2, 0.7, 0.9]))
    assert np.isnan(flat["pearson"]) and np.isnan(flat["spearman"])
    assert flat["r2"] == 0.0 and flat["mse"] == pytest.approx(2 / 3)
    assert np.isnan(one_class["auroc"]) and np.isnan(one_class["auprc"])
    assert one_class["accuracy"] == pytest.approx(2 / 3)
    assert "constant target or prediction" in caplog.text and "one class" in caplog.text
    single = fold_metrics("regression", np.ones(1), np.ones(1))
    assert all(np.isnan(v) for v in single.values())


@pytest.mark.parametrize(
    ("task", "target", "prediction", "message"),
    [
        ("ranking", [1.0, 2.0], [1.0, 2.0], "task must be one of"),
        ("regression", [1.0, 2.0], [1.0], "1-D of one length"),
        ("regression", [1.0, 2.0], [1.0, np.nan], "must be finite"),
        ("classification", [0, 2], [0.1, 0.9], "targets must be 0/1"),
    ],
)
def test_fold_metrics_reject_bad_input(
    task: str, target: list[float], prediction: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fold_metrics(task, np.array(target), np.array(prediction))


class _Counting(_Constant):
    """A constant model counting its training-mode calls (one per optimiser step)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        self.steps += int(self.training)
        return super().forward(batch)


def test_an_epoch_repeats_passes_until_it_has_its_minimum_steps() -> None:
    train, val = _Targets([1.0] * 8), _Targets([1.0] * 4)
    for min_steps, steps in ((0, 2), (2, 2), (5, 6)):  # 8 genes in batches of 4: 2 per pass
        model = _Counting()
        settings = FitSettings(batch_size=4, max_epochs=1, min_steps_per_epoch=min_steps)
        fit_model(model, train, val, settings)
        assert model.steps == steps


class _MeanReadout(nn.Module):
    """A linear readout of each mark's mean over the CNN window."""

    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(2, 1)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.out(batch["promoter_cnn"].mean(dim=1))


def test_a_regressor_starts_with_its_output_bias_at_the_training_mean() -> None:
    train, val = _problem("regression")
    settings = FitSettings(lr=1e-12, max_epochs=1, seed=0)
    fit = fit_model(_MeanReadout, train, val, settings)
    mean = float(train.tensors()["target"].mean())
    assert float(fit.model.out.bias) == pytest.approx(mean, rel=1e-5)
