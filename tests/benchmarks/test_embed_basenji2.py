"""The Basenji2 embedding benchmark on the tiny world: fields, ratios, agreement, GPU part."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np
import pytest
from tests.benchmarks._scripts import load_script

from exprflow.models.basenji2.config import TINY_PARAMS, Basenji2Config
from exprflow.simulate.world import load_manifest

TINY_RAW = 896 * 64 * 2  # bytes of one tiny-model region as float16


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script("embed_basenji2")


def _check_approach(measured: dict[str, Any], n: int) -> None:
    assert measured["regions"] == n and measured["raw_bytes"] == n * TINY_RAW
    assert measured["wall_s"] > 0 and measured["model_s"] > 0 and measured["peak_rss_bytes"] > 0
    assert measured["cpu_s"] > 0
    assert measured["regions_per_s"] == pytest.approx(n / measured["wall_s"])
    assert measured["bytes_per_region"] == pytest.approx(measured["file_bytes"] / n)
    assert measured["compression_ratio"] == pytest.approx(n * TINY_RAW / measured["file_bytes"])
    assert measured["chunk_bytes"] < measured["file_bytes"]
    cpu = {"device": "CPU", "precision": "float32", "xla": False}
    assert measured["placement"] == cpu or measured["gpu"]


def test_benchmark_on_tiny_world(
    bench: ModuleType, tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--world", str(tiny_world), "--regions", "5", "--batch-size", "2", "--repeats", "1"]
    results = bench.main([*argv, "--full-regions", "0", "--threads", "2", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "embed_basenji2.json").read_text()) == results
    table = (tmp_path / "embed_basenji2.md").read_text()
    assert "| regions/s |" in table and table in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "embed_basenji2.json",
        "embed_basenji2.md",
    ]  # the scratch folder is gone
    comparison = results["comparison"]
    assert comparison["regions"] == comparison["distinct_regions"] == 5
    published, ours = comparison["published"], comparison["exprflow"]
    for measured in (published, ours):
        _check_approach(measured, 5)
        assert measured["wall_s_runs"] == [measured["wall_s"]]
    assert ours["wall_s"] == pytest.approx(ours["embed_s"] + ours["merge_s"])
    assert published["wall_s"] >= published["read_s"] + published["write_s"]
    assert comparison["ratios"] == pytest.approx({
        "regions_per_s": ours["regions_per_s"] / published["regions_per_s"],
        "bytes_per_region": published["bytes_per_region"] / ours["bytes_per_region"],
        "cpu": published["cpu_s"] / ours["cpu_s"],
        "peak_rss": ours["peak_rss_bytes"] / published["peak_rss_bytes"],
    })  # fmt: skip
    assert comparison["agreement"] == {
        "max_abs_diff": 0.0,
        "identical": True,
        "values_compared": 5 * 896 * 64,
    }
    codecs = comparison["codecs"]
    assert codecs["regions"] == 5 and codecs["shape"] == [896, 64]
    gzip9, deflate1, threaded = codecs["rows"]
    assert (gzip9["threads"], deflate1["threads"], threaded["threads"]) == (1, 1, 2)
    # The codecs alone give exactly the chunks HDF5 stored in each approach's file.
    assert gzip9["compressed_bytes"] == published["chunk_bytes"]
    assert deflate1["compressed_bytes"] == threaded["compressed_bytes"] == ours["chunk_bytes"]
    for row in codecs["rows"]:
        assert row["raw_bytes"] == 5 * TINY_RAW
        assert row["mb_per_s"] == pytest.approx(row["raw_bytes"] / row["seconds"] / 1e6)
    assert results["full_cpu"] == {"skipped": "skipped: --full-regions 0"}
    assert results["extrapolation"] is None and "skipped" in results["ceiling"]
    assert results["gpu"] == {"skipped": bench.NO_GPU} or "sweep" in results["gpu"]
    tiny = Basenji2Config.from_params(TINY_PARAMS)
    assert results["model"]["gflop_per_region"] == bench.trunk_flops(tiny) / 1e9
    assert "random init" in results["model"]["description"]


def test_bad_arguments_are_refused(bench: ModuleType, tmp_path: Path) -> None:
    for bad in (["--regions", "0"], ["--gpu-batch-sizes", "8,0"], ["--precision", "half"]):
        with pytest.raises(SystemExit):
            bench.main([*bad, "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_flops_of_the_published_trunk(bench: ModuleType) -> None:
    # Summed over the built Keras model's Conv1D and Dense layers (2·L·k·c_in·c_out).
    assert bench.trunk_flops(Basenji2Config()) == 218_630_717_440
    assert bench.trunk_flops(Basenji2Config(), head=True) == 233_254_813_696  # ≈ 233 GFLOP
    assert bench.trunk_flops(Basenji2Config.from_params(TINY_PARAMS)) == 733_839_360


def test_extrapolation_of_the_codecs(bench: ModuleType) -> None:
    rows = [
        {"codec": "gzip-9", "threads": 1, "mb_per_s": 25.0, "compressed_bytes": 2_000},
        {"codec": "deflate-1", "threads": 1, "mb_per_s": 35.0, "compressed_bytes": 1_800},
    ]
    x = bench._extrapolate({"regions": 2, "shape": [896, 1536], "rows": rows})
    raw = 38_171 * 896 * 1536 * 2
    assert x["raw_bytes"] == raw
    assert x["codecs"][0]["hours"] == pytest.approx(raw / 25e6 / 3600)
    assert x["codecs"][1]["file_bytes"] == pytest.approx(900 * 38_171)
    assert x["threads_for_goal"] == 6  # 105.1 GB in 600 s at 35 MB/s per thread


def test_write_paths_with_a_model_that_takes_no_time(
    bench: ModuleType, tiny_world: Path, tmp_path: Path
) -> None:
    values = np.random.default_rng(0).normal(size=(2, 896, 1536)).astype(np.float16)
    with h5py.File(tmp_path / "full.h5", "w") as handle:
        handle["embeddings"] = values
    argv = ["--world", str(tiny_world), "--ceiling-regions", "3", "--gpu-batch-sizes", "2"]
    args = bench._parser().parse_args([*argv, "--threads", "2", "--repeats", "2"])
    ceiling = bench._ceiling(args, load_manifest(tiny_world), tmp_path / "full.h5", tmp_path)
    assert ceiling["regions"] == 3 and ceiling["batch_size"] == 2
    published, ours = ceiling["published"], ceiling["exprflow"]
    for measured in (published, ours):
        assert measured["wall_s"] == min(measured["wall_s_runs"])
        assert len(measured["wall_s_runs"]) == 2
        assert measured["regions_per_s"] == pytest.approx(3 / measured["wall_s"])
        assert measured["published_regions_s"] == pytest.approx(38_171 / measured["regions_per_s"])
    assert ceiling["ratio"] == pytest.approx(ours["regions_per_s"] / published["regions_per_s"])
    assert ours["merge_mb_per_s"] == pytest.approx(ours["file_bytes"] / ours["merge_s"] / 1e6)
    agreement = ceiling["agreement"]  # the stub's values, cycled: regions 0, 1, 0
    assert agreement["identical"] and agreement["values_compared"] == 3 * 896 * 1536
    with h5py.File(tmp_path / "ceiling-exprflow-1.h5", "r") as handle:
        assert np.array_equal(handle["embeddings"][2], values[0])


def test_gpu_part_runs_on_the_cpu(
    bench: ModuleType, tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU part's code path, in this process, with the tiny model on the CPU."""
    child = load_script("_embed_basenji2_child")

    def here(name: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
        if spec["mode"] == "gpu":
            assert spec["require_gpu"]
            if not child.tf.config.list_physical_devices("GPU"):
                assert child.gpu_sweep(spec) == {"gpu": False, "tensorflow": child.tf.__version__}
            return dict(child.gpu_sweep({**spec, "require_gpu": False}))
        return dict(child.run_embed(spec))

    monkeypatch.setattr(bench, "_run_child", here)
    argv = ["--world", str(tiny_world), "--gpu-batch-sizes", "2,3", "--gpu-regions", "4"]
    argv += ["--gpu-steps", "1", "--gpu-published-regions", "2", "--threads", "2"]
    tiny = Basenji2Config.from_params(TINY_PARAMS)
    gpu = bench._gpu(bench._parser().parse_args(argv), load_manifest(tiny_world), tmp_path, tiny)
    assert [row["batch_size"] for row in gpu["sweep"]] == [2, 3]
    for row in gpu["sweep"]:
        assert row["regions"] == 4 and row["compile_s"] > 0
        assert row["regions_per_s"] == pytest.approx(4 / row["wall_s"])
        assert row["published_regions_s"] == pytest.approx(38_171 / row["regions_per_s"])
        assert row["goal_met"] == (row["published_regions_s"] <= 600)
        assert row["model_tflops"] == pytest.approx(
            row["model_regions_per_s"] * bench.trunk_flops(tiny) / 1e12
        )
        assert row["bytes_per_region"] == pytest.approx(row["file_bytes"] / 4)
    published = gpu["published"]
    assert published["regions"] == 2 and published["batch_size"] == 2
    assert published["vs_published_run"] == pytest.approx(
        (6 * 3600 + 34 * 60) / published["published_regions_s"]
    )
    assert not any((tmp_path / "gpu").iterdir())  # each batch size's files removed
    assert gpu["codecs"]["regions"] == 2 and gpu["codecs"]["shape"] == [896, 64]
    extrapolation = bench._extrapolate_from(gpu)
    assert extrapolation["raw_bytes"] == 38_171 * TINY_RAW
    results = {"benchmark": "embed_basenji2_gpu", "date": "d", "command": "c", "gpu": gpu,
               "machine": {"cpus": 2, "platform": "p", "load_average": 0.0,
                           "tensorflow": "t", "h5py": "h", "zlib": "z"},
               "world": {"size": "tiny", "seed": 0}, "model": {"description": "tiny"},
               "extrapolation": extrapolation}  # fmt: skip
    table = bench.REPORT.markdown(results)
    assert "| batch | compile |" in table and "Published approach on the same GPU" in table
    assert "| 38,171 regions: time | file |" in table


def test_gpu_only_without_a_gpu_is_skipped(
    bench: ModuleType, tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "_run_child", lambda name, spec, work: {"gpu": False})
    results = bench.main(["--world", str(tiny_world), "--gpu-only", "--out", str(tmp_path)])
    assert results["gpu"] == {"skipped": bench.NO_GPU} and results["extrapolation"] is None
    assert results["model"]["shape"] == "896 × 1536" and results["model"]["params"] == "published"
    table = (tmp_path / "embed_basenji2_gpu.md").read_text()
    assert bench.NO_GPU in table
