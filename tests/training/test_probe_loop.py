"""The probe training loop: heads learn a planted signal, NaN is masked, epochs are logged."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from tests.training._probe_files import SCALES, TRACKS, label_values, write_files

from exprflow.data.probe_data import ProbeData
from exprflow.models.probes.registry import HEADS
from exprflow.training.probe_loop import (
    TrainSettings,
    fit_probe,
    masked_loss,
    resolve_precision,
    track_scale,
)
from exprflow.training.probe_predict import predict_fold


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    embeddings, labels = write_files(tmp_path_factory.mktemp("probe_loop"))
    return str(embeddings), labels


def _folds(files: tuple[str, Path], target: str) -> dict[str, ProbeData]:
    return {
        fold: ProbeData(*files, fold=fold, target=target, cache_bytes=1 << 24)
        for fold in ("train", "valid", "test")
    }


def test_linear_probe_learns_the_planted_map_in_label_units(
    files: tuple[str, Path], tmp_path: Path
) -> None:
    data = _folds(files, "128bp_bins")
    config = HEADS["linear_probe"].config_cls.tiny(channels=8, tracks=3)
    settings = TrainSettings(lr=0.05, batch_size=8, max_epochs=40, patience=40, seed=1)
    fit = fit_probe("linear_probe", config, data["train"], data["valid"], settings, tmp_path)
    assert fit.precision == "32-true" and fit.checkpoint.is_file()
    assert len(fit.history) == 40 and [r.epoch for r in fit.history] == list(range(1, 41))
    losses = [r.valid_loss for r in fit.history]
    assert fit.best.valid_loss == min(losses) and fit.best_epoch == losses.index(min(losses)) + 1
    assert fit.history[-1].train_loss < 0.6 * fit.history[0].train_loss  # Poisson NLL > 0
    test = predict_fold(fit.task, data["test"])
    assert test.predicted.shape == (10, 3, 16) and list(test.rows) == list(range(54, 64))
    per_track = test.metrics.per_track["pearson"]
    assert per_track.min() > 0.95, per_track  # every track, whatever its scale
    # Predictions come back in label units: the tracks' means match within 10 %.
    ratio = np.nanmean(test.predicted, axis=(0, 2)) / np.nanmean(test.observed, axis=(0, 2))
    np.testing.assert_allclose(ratio, 1.0, rtol=0.1)


def test_the_kept_weights_are_the_best_epoch_s(files: tuple[str, Path], tmp_path: Path) -> None:
    data = _folds(files, "single_bin")
    config = HEADS["maxpool_perceptron"].config_cls.tiny(channels=8, tracks=3, hidden=16)
    settings = TrainSettings(lr=3e-2, batch_size=4, max_epochs=30, patience=3, seed=0)
    fit = fit_probe("maxpool_perceptron", config, data["train"], data["valid"], settings, tmp_path)
    assert len(fit.history) < 30  # early stopping
    assert fit.best_epoch == len(fit.history) - 3
    valid = predict_fold(fit.task, data["valid"])
    assert valid.predicted.shape == (10, 3)
    scale = fit.task.model.scale.view(1, -1)
    observed = torch.from_numpy(valid.observed) / scale
    loss = masked_loss("mse", torch.from_numpy(valid.predicted) / scale, observed)
    assert float(loss) == pytest.approx(fit.best.valid_loss, rel=1e-4)
    assert valid.metrics.mean_pearson > 0.3
    # Pooling tracks of scales 100, 1 and 0.01 inflates the figure, as published.
    assert valid.metrics.pooled_pearson > 0.95 > valid.metrics.mean_pearson + 0.3


def test_epochs_are_logged_to_the_active_run(
    files: tuple[str, Path], tmp_path: Path, tracking: str
) -> None:
    data = _folds(files, "single_bin")
    config = HEADS["conv_perceptron"].config_cls.tiny(channels=8, tracks=3, bins=16, hidden=4)
    settings = TrainSettings(max_epochs=3, patience=3, batch_size=16)
    with mlflow.start_run() as run:
        fit_probe("conv_perceptron", config, data["train"], data["valid"], settings, tmp_path)
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "valid_pearson")
    assert [m.step for m in history] == [1, 2, 3]
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert {"train_loss", "valid_loss", "valid_spearman", "valid_pooled_pearson"} <= set(logged)


def test_masked_loss_ignores_nan_and_is_float32() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float16)
    obs = torch.tensor([[1.0, float("nan")], [5.0, 4.0]])
    assert float(masked_loss("mse", pred, obs)) == pytest.approx(4.0 / 3)
    poisson = masked_loss("poisson_nll", pred.float(), obs)
    expected = np.mean([1 - 1 * np.log(1 + 1e-8), 3 - 5 * np.log(3), 4 - 4 * np.log(4)])
    assert float(poisson) == pytest.approx(expected, rel=1e-6)
    empty = masked_loss("mse", pred, torch.full((2, 2), float("nan")))
    assert float(empty) == 0.0 and empty.dtype == torch.float32


def test_track_scale_is_the_training_mean_per_track(files: tuple[str, Path]) -> None:
    binned, single = label_values()
    with ProbeData(*files, fold="train") as data:
        expected = np.nanmean(binned[:44].reshape(-1, 3), axis=0)
        np.testing.assert_allclose(track_scale(data).numpy(), expected, rtol=1e-5)
    with ProbeData(*files, fold="train", target="single_bin", tracks=["cpg"]) as data:
        np.testing.assert_allclose(track_scale(data).numpy(), np.nanmean(single[:44, 0, 2]))
    assert SCALES[0] / SCALES[1] == 1e4 and TRACKS[2] == "cpg"


def test_settings_and_inputs_are_checked(files: tuple[str, Path], tmp_path: Path) -> None:
    assert resolve_precision("auto") == "32-true" and resolve_precision("16-mixed") == "16-mixed"
    with pytest.raises(ValueError, match="optimizer"):
        TrainSettings(optimizer="adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr > 0"):
        TrainSettings(lr=0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainSettings(batch_size=0)
    data = _folds(files, "single_bin")
    config = HEADS["linear_probe"].config_cls.tiny(channels=8, tracks=3)
    with pytest.raises(ValueError, match="needs target '128bp_bins'"):
        fit_probe("linear_probe", config, data["train"], data["valid"], TrainSettings(), tmp_path)
