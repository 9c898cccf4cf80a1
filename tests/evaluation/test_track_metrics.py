from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from exprflow.evaluation.track_metrics import track_metrics


def test_per_track_and_pooled_binned() -> None:
    rng = np.random.default_rng(0)
    observed = rng.normal(size=(5, 7, 3))
    predicted = observed + rng.normal(scale=0.5, size=observed.shape)
    observed[0, 0, 2] = np.nan  # no data: left out of track 2 and the pooled figure
    result = track_metrics(predicted, observed, ["a", "b", "c"])
    for k, name in enumerate("abc"):
        o, p = observed[..., k].ravel(), predicted[..., k].ravel()
        ok = np.isfinite(o)
        assert result.per_track.loc[name, "pearson"] == pytest.approx(
            stats.pearsonr(p[ok], o[ok])[0]
        )
        assert result.per_track.loc[name, "spearman"] == pytest.approx(
            stats.spearmanr(p[ok], o[ok])[0]
        )
        assert result.per_track.loc[name, "n"] == ok.sum()
    ok = np.isfinite(observed.ravel())
    assert result.pooled_pearson == pytest.approx(
        stats.pearsonr(predicted.ravel()[ok], observed.ravel()[ok])[0]
    )
    assert result.mean_pearson == pytest.approx(result.per_track["pearson"].mean())


def test_track_means_inflate_only_the_pooled_figure() -> None:
    """Predicting each track's mean: pooled looks excellent, per track is undefined/zero."""
    rng = np.random.default_rng(1)
    scales = np.array([1.0, 50.0, 400.0])
    observed = scales + rng.normal(size=(200, 3))
    predicted = np.broadcast_to(scales, observed.shape) + rng.normal(scale=1e-3, size=(200, 3))
    result = track_metrics(predicted, observed, ["x", "y", "z"])
    assert result.pooled_pearson > 0.99
    assert abs(result.mean_pearson) < 0.25


def test_metrics_names_and_undefined_tracks() -> None:
    observed = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0], [4.0, 2.0]])
    predicted = np.array([[1.0, 1.0], [2.0, 2.0], [2.5, 3.0], [5.0, 4.0]])
    result = track_metrics(predicted, observed, ["up", "flat"])
    assert np.isnan(result.per_track.loc["flat", "pearson"])  # constant observations
    metrics = result.as_metrics("test")
    assert metrics["test_pearson"] == pytest.approx(result.per_track.loc["up", "pearson"])
    assert "test_pearson.up" in metrics and "test_pearson.flat" not in metrics
    assert {"test_spearman", "test_pooled_pearson", "test_pooled_spearman"} <= set(metrics)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="differ"):
        track_metrics(np.zeros((2, 3)), np.zeros((3, 3)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="2 track names for 3 tracks"):
        track_metrics(np.zeros((2, 3)), np.zeros((2, 3)), ["a", "b"])
