from __future__ import annotations

import logging
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from exprflow.evaluation import probe_plots
from exprflow.evaluation.probe_plots import (
    plot_track_region,
    plot_tracks_scatter,
    region_bin_edges,
)
from exprflow.evaluation.stats import correlation

PNG = b"\x89PNG\r\n\x1a\n"
TRACKS = ["LMNB1_H9ESC", "LMNB1_Liver", "CpG_meth"]
REGION = {"chrom": "chr2", "start": 1_000_000, "end": 1_002_048}  # 16 bins of 128 bp


def _image(path: Path) -> np.ndarray:
    """The PNG read back (checks the signature first): (height, width, channels)."""
    assert path.is_file() and path.read_bytes()[:8] == PNG
    return matplotlib.image.imread(path)


def _data(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    observed = rng.gamma(2.0, size=shape)
    predicted = observed + rng.normal(scale=0.5, size=shape)
    observed[..., 2][observed[..., 2] > 2.5] = np.nan  # methylation: bins without CpG
    return predicted, observed


@pytest.mark.parametrize("shape", [(40, 3), (6, 32, 3)], ids=["single_bin", "binned"])
def test_scatter_writes_png_per_track(tmp_path: Path, shape: tuple[int, ...]) -> None:
    dest = plot_tracks_scatter(*_data(shape), TRACKS, tmp_path / "plots" / "s.png", title="test")
    assert dest == tmp_path / "plots" / "s.png"
    height, width, _ = _image(dest).shape
    assert (width, height) == (3 * 300 + 70, 300 + 140)  # three panels in one row, 100 dpi
    assert [p.name for p in dest.parent.iterdir()] == ["s.png"]  # nothing left over


def test_scatter_subsample_drops_nan_and_is_seeded() -> None:
    x = np.arange(10.0)
    y = np.where(x % 3 == 0, np.nan, x)
    kept = probe_plots._subsample(x, y, 100, np.random.default_rng(0))
    np.testing.assert_array_equal(kept[0], [1, 2, 4, 5, 7, 8])
    np.testing.assert_array_equal(kept[1], [1, 2, 4, 5, 7, 8])
    big = np.arange(1000.0)
    first = probe_plots._subsample(big, big, 50, np.random.default_rng((7, 1)))[0]
    again = probe_plots._subsample(big, big, 50, np.random.default_rng((7, 1)))[0]
    other = probe_plots._subsample(big, big, 50, np.random.default_rng((8, 1)))[0]
    assert len(first) == 50 and np.all(np.diff(first) > 0)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_pearson_matches_stats_correlation() -> None:
    predicted, observed = _data((200, 3), seed=3)
    for k in range(3):
        r, n = probe_plots._pearson(predicted[:, k], observed[:, k])
        expected = correlation(predicted[:, k], observed[:, k]).pearson
        assert r == pytest.approx(expected, rel=1e-12)
        assert n == np.isfinite(observed[:, k]).sum()
    assert np.isnan(probe_plots._pearson(np.ones(5), np.arange(5.0))[0])  # constant side
    assert probe_plots._pearson(np.arange(2.0), np.arange(2.0))[1] == 2  # too few: NaN r
    assert np.isnan(probe_plots._pearson(np.arange(2.0), np.arange(2.0))[0])


def test_scatter_same_seed_same_file(tmp_path: Path) -> None:
    predicted, observed = _data((20, 50, 3))
    files = [
        plot_tracks_scatter(
            predicted[..., :1],
            observed[..., :1],
            TRACKS[:1],
            tmp_path / f"{name}.png",
            max_points=100,
            seed=seed,
        )
        for name, seed in [("a", 1), ("b", 1), ("c", 2)]
    ]
    a, b, c = (f.read_bytes() for f in files)
    assert a == b and a != c


def test_scatter_titles_carry_per_track_pearson(monkeypatch: pytest.MonkeyPatch) -> None:
    predicted, observed = _data((30, 3))
    predicted[:, 1] = 1.0  # constant: r undefined
    observed[:, 2] = np.nan  # no data at all
    titles: list[str] = []
    monkeypatch.setattr(
        probe_plots,
        "_save",
        lambda figure, path: titles.extend(
            ax.get_title() for ax in figure.axes if ax.get_visible()
        ),
    )
    plot_tracks_scatter(predicted, observed, TRACKS, "unused.png")
    r = np.corrcoef(predicted[:, 0], observed[:, 0])[0, 1]
    assert titles == [
        f"LMNB1_H9ESC\nr={r:.2f} (n=30)",
        "LMNB1_Liver\nr=n/a (n=30)",
        "CpG_meth\nr=n/a (n=0)",
    ]


def test_scatter_caps_panels_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=probe_plots.__name__):
        dest = plot_tracks_scatter(*_data((10, 3)), TRACKS, tmp_path / "s.png", max_tracks=1)
    assert _image(dest).shape[1] == 300 + 70  # one panel
    assert "showing the first 1 of 3 tracks; left out: LMNB1_Liver, CpG_meth" in caplog.text


@pytest.mark.parametrize(
    ("predicted", "observed", "tracks", "message"),
    [
        ((4, 3), (4, 2), TRACKS, "predicted (4, 3) and observed (4, 2) must have the same shape"),
        ((4,), (4,), TRACKS, "must have 2 or 3 axes (tracks last), got shape (4,)"),
        ((4, 2), (4, 2), TRACKS, "3 track names for shape (4, 2) (2 tracks on the last axis)"),
        ((4, 0), (4, 0), [], "0 track names for shape (4, 0)"),
    ],
)
def test_scatter_bad_shapes(
    tmp_path: Path,
    predicted: tuple[int, ...],
    observed: tuple[int, ...],
    tracks: list[str],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_tracks_scatter(np.zeros(predicted), np.zeros(observed), tracks, tmp_path / "s.png")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("name", "value"), [("max_points", 0), ("max_tracks", 0)])
def test_scatter_bad_limits(tmp_path: Path, name: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"{name} must be at least 1, got 0"):
        plot_tracks_scatter(*_data((5, 3)), TRACKS, tmp_path / "s.png", **{name: value})


def test_region_bin_edges_centred_and_cropped() -> None:
    region = {"chrom": "chr1", "start": 1000, "end": 2000}
    centred = region_bin_edges(region, 3, bin_size=100)  # crop (1000 - 300) // 2 = 350
    np.testing.assert_array_equal(centred, [1350, 1450, 1550, 1650])
    np.testing.assert_array_equal(region_bin_edges(region, 1, bin_size=100), [1450, 1550])
    np.testing.assert_array_equal(region_bin_edges(region, 1, crop_bp=200), [1200, 1800])
    tiled = region_bin_edges(region, 4, bin_size=150, crop_bp=200)
    np.testing.assert_array_equal(tiled, [1200, 1350, 1500, 1650, 1800])
    row = pd.DataFrame([region]).iloc[0]  # a row of the regions table works too
    np.testing.assert_array_equal(region_bin_edges(row, 3, bin_size=100), centred)


@pytest.mark.parametrize(
    ("n_bins", "bin_size", "crop_bp", "message"),
    [
        (11, 100, None, "11 bins of 100 bp (1,100 bp) do not fit region 1,000-2,000 (1,000 bp)"),
        (3, 100, 200, "3 bins of 100 bp (300 bp) do not tile region 1,000-2,000 (600 bp once "),
        (1, 100, 500, "1 bins of 0 bp (0 bp) do not tile"),
        (1, 100, -1, "1 bins of 1,002 bp"),
        (0, 100, None, "n_bins must be at least 1, got 0"),
        (2, 0, None, "bin_size must be at least 1, got 0"),
    ],
)
def test_region_bin_edges_refuses_bins_that_do_not_fit(
    n_bins: int, bin_size: int, crop_bp: int | None, message: str
) -> None:
    region = {"chrom": "chr1", "start": 1000, "end": 2000}
    with pytest.raises(ValueError, match=re.escape(message)):
        region_bin_edges(region, n_bins, bin_size=bin_size, crop_bp=crop_bp)


def test_track_region_binned_with_nan(tmp_path: Path) -> None:
    predicted, observed = _data((16, 3))
    observed[3:6, 0] = np.nan
    dest = plot_track_region(predicted, observed, TRACKS, REGION, tmp_path / "r.png")
    height, width, _ = _image(dest).shape
    assert (width, height) == (1000, round(100 * (1.15 * 3 + 1.2)))


def test_track_region_single_bin_is_one_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    predicted, observed = np.array([[1.0, 2.0, 3.0]]), np.array([[1.5, np.nan, 2.0]])
    region = {"chrom": "chr2", "start": 0, "end": 131_072}
    drawn: list[np.ndarray] = []
    monkeypatch.setattr(
        probe_plots,
        "_save",
        lambda figure, path: drawn.extend(
            ax.collections[1].get_segments()[0] for ax in figure.axes
        ),
    )
    plot_track_region(predicted, observed, TRACKS, region, "unused.png", crop_bp=8192)
    window = [8192 / 1e6, (131_072 - 8192) / 1e6]
    for k, segment in enumerate(drawn):  # predicted: one horizontal segment over the window
        np.testing.assert_allclose(segment, [[window[0], k + 1.0], [window[1], k + 1.0]])
    assert len(drawn) == 3
    monkeypatch.undo()
    dest = plot_track_region(predicted, observed, TRACKS, region, tmp_path / "single.png")
    assert _image(dest).shape[1] == 1000


def test_track_region_caps_rows_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=probe_plots.__name__):
        dest = plot_track_region(*_data((16, 3)), TRACKS, REGION, tmp_path / "r.png", max_tracks=2)
    assert _image(dest).shape[0] == round(100 * (1.15 * 2 + 1.2))
    assert "showing the first 2 of 3 tracks; left out: CpG_meth" in caplog.text


@pytest.mark.parametrize(
    ("shape", "other", "tracks", "message"),
    [
        ((16, 3), (15, 3), TRACKS, "predicted (16, 3) and observed (15, 3) must have the same"),
        ((2, 16, 3), (2, 16, 3), TRACKS, "must have 2 axes (tracks last), got shape (2, 16, 3)"),
        ((16, 3), (16, 3), TRACKS[:2], "2 track names for shape (16, 3) (3 tracks on the last"),
        ((17, 3), (17, 3), TRACKS, "17 bins of 128 bp (2,176 bp) do not fit region"),
    ],
)
def test_track_region_bad_inputs(
    tmp_path: Path,
    shape: tuple[int, ...],
    other: tuple[int, ...],
    tracks: list[str],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_track_region(np.ones(shape), np.ones(other), tracks, REGION, tmp_path / "r.png")
    assert not list(tmp_path.iterdir())
