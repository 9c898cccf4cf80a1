from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.genome import bigwig
from exprflow.genome.bigwig import BigWig, write_bigwig

CONTIGS = {"chr1": 100, "chr2": 50}


@pytest.fixture
def track(tmp_path: Path) -> Path:
    path = tmp_path / "track.bw"
    write_bigwig(
        path,
        CONTIGS,
        {
            "chr1": ([10, 20, 40], [15, 30, 41], [1.0, 2.0, np.nan]),
            "chr2": (np.array([0, 45]), np.array([5, 50]), np.array([3.0, 4.0])),
        },
    )
    return path


def test_binned_sum_and_mean(track: Path) -> None:
    with BigWig(track) as bw:
        assert bw.contigs == CONTIGS
        sums = bw.binned("chr1", 0, 40, 10, "sum")
        assert sums.dtype == np.float32
        assert sums.tolist() == [0.0, 5.0, 20.0, 0.0]
        assert bw.binned("chr1", 0, 40, 10).tolist() == [0.0, 0.5, 2.0, 0.0]
        # coverage-weighted: a bin half covered by 2.0 averages 1.0, not 2.0
        assert bw.binned("chr1", 25, 35, 10).tolist() == [1.0]
        assert bw.binned("chr1", 12, 22, 1, "sum").tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 2, 2]
        assert bw.binned("chr1", 40, 41, 1).tolist() == [0.0]  # NaN entries were not written


def test_bins_past_contig_ends_are_zero(track: Path) -> None:
    with BigWig(track) as bw:
        assert bw.binned("chr2", 40, 60, 5, "sum").tolist() == [0.0, 20.0, 0.0, 0.0]
        assert bw.binned("chr2", -5, 5, 5, "sum").tolist() == [0.0, 15.0]
        assert bw.binned("chr2", 60, 70, 5).tolist() == [0.0, 0.0]
        assert bw.binned("chr2", 3, 3, 5).shape == (0,)


def test_aliases_and_unknown_contig(track: Path) -> None:
    with BigWig(track) as bw:
        assert bw.binned("2", 0, 5, 5, "sum").tolist() == [15.0]
        with pytest.raises(InputError, match=r"track\.bw: chr3: contig 'chr3'.*chr1, chr2"):
            bw.binned("chr3", 0, 10, 5)


def test_bad_bins_and_stat(track: Path) -> None:
    with BigWig(track) as bw:
        with pytest.raises(ValueError, match="multiple of bin_size"):
            bw.binned("chr1", 0, 15, 10)
        with pytest.raises(ValueError, match="multiple of bin_size"):
            bw.binned("chr1", 0, 10, 0)
        with pytest.raises(ValueError, match="stat must be"):
            bw.binned("chr1", 0, 10, 10, "max")  # type: ignore[arg-type]


def test_interval_path_equals_values_path(
    write_bw: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    edges = np.sort(rng.choice(np.arange(1, 10_000), 400, replace=False))
    starts, ends = edges[0::2], edges[1::2]
    values = rng.normal(size=len(starts)).round(3)
    rows = list(zip(starts.tolist(), ends.tolist(), values.tolist(), strict=True))
    path = write_bw({"chr1": 10_000}, {"chr1": rows})
    per_base = np.zeros(10_000)
    for start, end, value in rows:
        per_base[start:end] = value
    expected = per_base[1000:9000].reshape(-1, 64).sum(axis=1)
    with BigWig(path) as bw:
        direct = bw.binned("chr1", 1000, 9000, 64, "sum")
        monkeypatch.setattr(bigwig, "VALUES_MAX_SPAN", 0)
        integrated = bw.binned("chr1", 1000, 9000, 64, "sum")
        padded = bw.binned("chr1", -50, 10_050, 50, "mean")
    np.testing.assert_allclose(direct, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(integrated, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(padded[1:-1], per_base.reshape(-1, 50).mean(axis=1), atol=1e-5)
    assert padded[0] == padded[-1] == 0


def test_interval_path_on_empty_region(track: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bigwig, "VALUES_MAX_SPAN", 0)
    with BigWig(track) as bw:
        assert bw.binned("chr1", 50, 100, 25).tolist() == [0.0, 0.0]
        assert bw.binned("chr1", 0, 40, 10, "sum").tolist() == [0.0, 5.0, 20.0, 0.0]


@pytest.mark.parametrize(
    ("intervals", "message"),
    [
        ({"chrZ": ([0], [1], [1.0])}, r"chrZ: intervals given for contig 'chrZ'"),
        ({"chr1": ([5, 0], [10, 3], [1.0, 1.0])}, r"chr1:0-3: interval 1 .*overlaps or precedes"),
        ({"chr1": ([0, 5], [6, 9], [1.0, 1.0])}, r"chr1:5-9: interval 1"),
        ({"chr1": ([90], [101], [1.0])}, r"chr1:90-101: interval 0 .*off the contig"),
        ({"chr1": ([4], [4], [1.0])}, r"chr1:4-4: interval 0 is empty"),
        ({"chr1": ([1, 2], [2, 3], [1.0])}, r"chr1: starts, ends and values differ in shape"),
    ],
)
def test_write_bigwig_refuses_bad_intervals(tmp_path: Path, intervals: dict, message: str) -> None:
    with pytest.raises(InputError, match=r"bad\.bw: " + message):
        write_bigwig(tmp_path / "bad.bw", CONTIGS, intervals)
    assert list(tmp_path.iterdir()) == []


def test_write_bigwig_is_atomic_and_replaces(track: Path) -> None:
    write_bigwig(track, {"chr1": 10}, {"chr1": ([0], [10], [7.0])})
    with BigWig(track) as bw:
        assert bw.contigs == {"chr1": 10}
        assert bw.binned("chr1", 0, 10, 10).tolist() == [7.0]
    assert [p.name for p in track.parent.iterdir()] == ["track.bw"]


def test_not_a_bigwig(tmp_path: Path, write_text: Callable[[str, str], Path]) -> None:
    with pytest.raises(InputError, match="bigWig file not found"):
        BigWig(tmp_path / "absent.bw")
    with pytest.raises(InputError, match=r"notes\.bw: cannot be opened as bigWig"):
        BigWig(write_text("notes.bw", "not a bigwig\n"))
