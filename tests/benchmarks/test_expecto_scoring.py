"""The ExPecto scoring benchmark on the tiny world: fields, ratios, agreement, GPU part on CPU."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from tests.benchmarks._scripts import load_script

from exprflow.models.beluga.config import BelugaConfig


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script("expecto_scoring")


@pytest.fixture(scope="module")
def child() -> ModuleType:
    return load_script("_expecto_scoring_child")


def test_benchmark_on_tiny_world(
    bench: ModuleType, tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # F = 64 random outputs, not the world's 12 tracks: each exprflow gene file holds ~2 kB
    # of fixed npz overhead, so with F = 12 and 9 rows per gene the bytes ratio is only ~70
    # (it grows linearly with F: raw chromatin is rows × 200 × F float64).
    argv = ["--world", str(tiny_world), "--genes", "2", "--samples", "4", "--outputs", "64"]
    results = bench.main([*argv, "--threads", "1", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "expecto_scoring.json").read_text()) == results
    table = (tmp_path / "expecto_scoring.md").read_text()
    assert "| Beluga windows |" in table and table in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "expecto_scoring.json",
        "expecto_scoring.md",
    ]  # the scratch folder is gone
    assert results["genes"] == 2 and results["chromosomes"] == 2
    assert results["samples"] == 4 and results["rows_per_gene"] == 9
    naive, fast = results["naive"], results["exprflow"]
    for measured in (naive, fast):
        assert measured["windows"] == measured["windows_reported"]
        assert measured["windows_requested"] == 2 * 9 * 200
        assert measured["strand_passes"] == 2 * measured["windows"]
        assert measured["wall_s"] > 0 and measured["peak_rss_bytes"] > 0
        assert measured["genes_scored"] == 2
    assert naive["windows"] == 2 * 9 * 200
    assert results["model"]["n_features"] == 64 and results["model"]["config"]["hidden"] == 32
    assert naive["chromatin_bytes"] >= 2 * 9 * 200 * 64 * 8
    assert fast["chromatin_bytes"] == 0
    assert results["ratios"]["windows"] > 1
    assert results["ratios"]["bytes"] > 100
    assert results["agreement"]["agree"] and results["agreement"]["max_abs_diff"] <= 1e-4
    assert results["agreement"]["values_compared"] == 2 * 9 * 3  # 3 cell types
    extrapolated = results["extrapolation"]
    assert extrapolated["naive"]["windows"] == pytest.approx(3259 * 842 * 200)
    assert extrapolated["published_formula_bytes"] == 3259 * 842 * 200 * 2002 * 8
    assert set(results["goals"]) == {"windows", "wall", "bytes"}
    assert "random weights" in results["model"]["chromatin"]
    gpu = results["gpu"]
    assert gpu == {"skipped": "skipped, no CUDA device"} or "windows_per_s" in gpu


def test_bad_arguments_are_refused(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--genes", "0", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_flops_of_the_published_beluga(child: ModuleType) -> None:
    assert child.beluga_flops(BelugaConfig()) == pytest.approx(7.8e9, rel=0.01)
    tiny = BelugaConfig.tiny(12)
    assert child.beluga_flops(tiny) < child.beluga_flops(BelugaConfig()) / 100


def test_throughput_runs_on_cpu(child: ModuleType) -> None:
    config = BelugaConfig.tiny(12)
    measured = child.beluga_throughput(
        config, batch_size=4, device="cpu", steps=2, warmup=1, peak_tflops=1.0
    )
    assert measured["dtype"] == "fp32" and measured["device_name"] == "cpu"
    assert measured["windows_per_s"] > 0
    assert measured["strand_passes_per_s"] == pytest.approx(2 * measured["windows_per_s"])
    expected = measured["strand_passes_per_s"] * child.beluga_flops(config) / 1e12
    assert measured["achieved_tflops"] == pytest.approx(expected)
    assert measured["fraction_of_peak"] == pytest.approx(expected)
