"""One measurement of the Basenji2 embedding benchmark, run in its own fresh Python process.

``python benchmarks/_embed_basenji2_child.py SPEC RESULT`` reads the JSON ``SPEC``
written by ``embed_basenji2.py`` and writes what it measured to the JSON ``RESULT``
(atomically). A fresh process per measurement makes the peak resident memory
(``RUSAGE_SELF``) that of one approach alone, and TensorFlow is imported only here.
Modes (``spec["mode"]``):

* ``"published"`` and ``"exprflow"``: :func:`run_embed`, the write path of that name
  (``_embed_basenji2_io.py``) with the trunk of ``spec["config"]``;
* ``"gpu"``: :func:`gpu_sweep`, the full model at several batch sizes.

Both approaches call the same compiled forward pass
(:class:`~exprflow.models.basenji2.trunk.TrunkRunner`, fixed batch shape, last batch
padded), so their embeddings are the same bits and the comparison is of everything
around the model.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np
import tensorflow as tf

from exprflow.atomic import atomic_path
from exprflow.data.regions import read_regions
from exprflow.genome.fasta import Genome
from exprflow.models.basenji2.config import Basenji2Config
from exprflow.models.basenji2.trunk import Placement, TrunkRunner, load_trunk, resolve_runtime

__all__ = ["gpu_sweep", "main", "max_rss", "run_embed"]


def _sibling(name: str) -> ModuleType:
    """Import a module beside this script by path (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IO = _sibling("_embed_basenji2_io")


def max_rss() -> int:
    """Peak resident memory of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _random_onehot(size: int, length: int, seed: int = 0) -> np.ndarray:
    bases = np.random.default_rng(seed).integers(0, 4, (size, length))
    return np.eye(4, dtype=np.float32)[bases]


def _runner(trunk: Any, batch_size: int, placement: Placement) -> tuple[Any, float]:
    """A compiled runner, traced (and XLA-compiled) by one call; the seconds that took."""
    started = time.perf_counter()
    runner = TrunkRunner(trunk, batch_size, False, placement.xla)
    runner(_random_onehot(batch_size, runner.seq_length))
    return IO.TimedRunner(runner), time.perf_counter() - started


def _setup(spec: dict[str, Any]) -> tuple[Basenji2Config, Any, Placement]:
    placement = resolve_runtime(spec["precision"], spec["xla"])
    config = Basenji2Config.from_json(spec["config"])
    weights = Path(spec["weights"]) if spec.get("weights") else None
    return config, load_trunk(config, weights, spec["seed"], placement.precision), placement


def _environment(placement: Placement) -> dict[str, Any]:
    gpus = tf.config.list_physical_devices("GPU")
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else None
    return {
        "placement": asdict(placement), "gpu": bool(gpus), "gpu_name": name,
        "tensorflow": tf.__version__, "h5py": h5py.__version__,
    }  # fmt: skip


def run_embed(spec: dict[str, Any]) -> dict[str, Any]:
    """Modes ``published`` and ``exprflow``: embed ``spec["regions"]`` into ``spec["output"]``.

    Parameters
    ----------
    spec : dict
        ``mode``, ``config``, ``weights``, ``seed``, ``precision``, ``xla``, ``fasta``,
        ``regions``, ``batch_size``, ``output``, ``work`` and ``threads``.

    Returns
    -------
    dict
        What ``published_embed`` or ``exprflow_embed`` measured, ``cpu_s`` (CPU
        seconds of every thread during it), the setup and compile seconds, the
        environment, ``regions`` and the peak RSS.
    """
    started = time.perf_counter()
    config, trunk, placement = _setup(spec)
    runner, compile_s = _runner(trunk, spec["batch_size"], placement)
    setup = {"setup_s": time.perf_counter() - started, "compile_s": compile_s}
    regions, output = read_regions(spec["regions"]), Path(spec["output"])
    setup_rss, cpu = max_rss(), time.process_time()
    with Genome(spec["fasta"]) as genome:
        if spec["mode"] == "published":
            measured = IO.published_embed(runner, genome, regions, output)
        else:
            attributes = {"model_config": config.to_json(), "precision": placement.precision}
            measured = IO.exprflow_embed(
                runner, genome, regions, Path(spec["work"]), output,
                threads=spec["threads"], attributes=attributes,
            )  # fmt: skip
    return {
        **measured, "cpu_s": time.process_time() - cpu, **setup, **_environment(placement),
        "regions": len(regions), "setup_rss_bytes": setup_rss, "peak_rss_bytes": max_rss(),
    }  # fmt: skip


def _sweep_point(
    trunk: Any, size: int, placement: Placement, genome: Genome, spec: dict[str, Any]
) -> dict[str, Any]:
    """One batch size: compile, model-only throughput, then exprflow end to end."""
    runner, compile_s = _runner(trunk, size, placement)
    onehot = _random_onehot(size, runner.runner.seq_length, seed=1)
    started = time.perf_counter()
    for _ in range(spec["steps"]):
        runner(onehot)
    model_s = time.perf_counter() - started
    runner.seconds = 0.0
    regions = read_regions(spec["regions"])
    work, output = Path(spec["work"]) / f"batch{size}", Path(spec["work"]) / f"batch{size}.h5"
    measured = IO.exprflow_embed(
        runner, genome, regions, work, output, threads=spec["threads"], attributes={}
    )
    size_bytes = output.stat().st_size
    shutil.rmtree(work)
    output.unlink()
    return {
        "batch_size": size, "compile_s": compile_s,
        "model_regions_per_s": spec["steps"] * size / model_s, "regions": len(regions),
        **measured, "regions_per_s": len(regions) / measured["wall_s"],
        "file_bytes": size_bytes,
    }  # fmt: skip


def gpu_sweep(spec: dict[str, Any]) -> dict[str, Any]:
    """Full-model throughput at each of ``spec["batch_sizes"]`` (on a GPU).

    Per batch size: the compile time (trace + XLA), model-only regions/s over
    ``spec["steps"]`` calls on random one-hot, and exprflow end to end
    (``exprflow_embed``: read, model, compress, write, merge) over ``spec["regions"]``.
    Without a GPU it returns ``{"gpu": False, "tensorflow": version}`` unless
    ``spec["require_gpu"]`` is false (the tests run it on the CPU with a tiny model).

    Parameters
    ----------
    spec : dict
        ``config``, ``weights``, ``seed``, ``precision``, ``xla``, ``fasta``, ``regions``,
        ``work``, ``threads``, ``batch_sizes``, ``steps``, ``require_gpu``.

    Returns
    -------
    dict
        ``sweep`` (one dict per batch size) and the environment.
    """
    if spec["require_gpu"] and not tf.config.list_physical_devices("GPU"):
        return {"gpu": False, "tensorflow": tf.__version__}
    _, trunk, placement = _setup(spec)
    with Genome(spec["fasta"]) as genome:
        sweep = [_sweep_point(trunk, size, placement, genome, spec) for size in spec["batch_sizes"]]
    return {"sweep": sweep, **_environment(placement), "peak_rss_bytes": max_rss()}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the measurement of a spec file and write its result file.

    Parameters
    ----------
    argv : sequence of str, optional
        ``[SPEC, RESULT]``. Default None: ``sys.argv[1:]``.
    """
    spec_path, result_path = map(Path, sys.argv[1:] if argv is None else argv)
    spec = json.loads(spec_path.read_text())
    measured = gpu_sweep(spec) if spec["mode"] == "gpu" else run_embed(spec)
    with atomic_path(result_path) as tmp:
        tmp.write_text(json.dumps(measured))


if __name__ == "__main__":
    main()
