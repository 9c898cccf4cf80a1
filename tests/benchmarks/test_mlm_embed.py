"""The haplotype-MLM embedding benchmark on the tiny world: fields, agreement, ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.benchmarks._scripts import load_script


def test_benchmark_on_tiny_world(
    tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script("mlm_embed")
    argv = ["--world", str(tiny_world), "--snps", "40", "--size", "tiny", "--haplotypes", "6"]
    results = bench.main([*argv, "--sequential", "2", "--stride", "5", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "mlm_embed-tiny.json").read_text()) == results
    assert results["haplotypes"] == {"published": 2, "exprflow": 6}
    assert results["snps"] == 40 and results["stride"] == 5
    assert results["max_abs_diff"] < 1e-5
    rates = results["haplotypes_per_s"]
    assert results["speedup"] == pytest.approx(rates["exprflow"] / rates["published"])
    assert rates["exprflow"] == pytest.approx(6 / results["seconds"]["exprflow"])
    assert "speed-up" in capsys.readouterr().out
