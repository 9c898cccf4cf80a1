"""Benchmark: Basenji2 embedding extraction, the published approach against exprflow.

Both approaches embed the same regions with the same model on the same machine, each in
its own fresh subprocess (``_embed_basenji2_child.py``, so that its peak memory is its
own), calling the same compiled trunk (so their embeddings are the same bits):

* **published approach** (the CS282A notebook): one batch at a time on the main thread —
  fetch + one-hot, the trunk, then ``dataset[i:j] = values`` into one preallocated h5py
  dataset ``embeddings`` (N, bins, C) float16, chunks (1, bins, C), gzip level 9 without
  shuffle: HDF5 compresses on that thread, serially with the model;
* **exprflow**: :func:`~exprflow.embedding.extract.embed_regions` (reader thread, model,
  writer thread compressing shuffle + deflate level 1 on ``--threads`` threads) into a
  work folder, then :func:`~exprflow.embedding.merge.merge_blocks` into one file (the
  merge counts in the wall time and is reported apart).

Measured per approach: wall time (the model's build and first, tracing call excluded
and reported apart), regions/s, bytes per region of the final file and its compression
ratio against raw float16, peak RSS; the two files are compared. The compression alone
is then timed on the same embeddings: gzip-9 on one thread (published) against shuffle +
deflate-1 on one and on ``--threads`` threads (exprflow), in MB/s of raw float16.

Full-size part: on a CPU, the published model (``Basenji2Config()``, 896 × 1536) embeds
``--full-regions`` regions at batch 1 with exprflow: seconds per region, GFLOP/s and the
extrapolation to the 38,171 published regions (``--full-regions 0`` skips it), the codecs
on those full-size embeddings, and both write paths over ``--ceiling-regions`` regions
with the model replaced by a stub returning them (the pipelines' ceiling when the model
takes no time, as on a fast GPU; the write paths are in ``_embed_basenji2_io.py``). With a GPU
(TensorFlow sees one): the full model under mixed float16 + XLA at each
``--gpu-batch-sizes`` (model-only and end-to-end regions/s, extrapolated to 38,171
regions against the ≤ 10 min goal and the published 6 h 34 min), and the published
approach at full size. ``--gpu-only`` runs only that part (results in
``embed_basenji2_gpu.{json,md}``); without a GPU it is skipped with a message.

Models are randomly initialised (seed 0) unless ``--weights``: time and memory do not
depend on the weights; compressed bytes do (trained embeddings compress differently).
Usage::

    python benchmarks/embed_basenji2.py [--world DIR | --size demo --seed 0] [--regions N]
    python benchmarks/embed_basenji2.py --size tiny --gpu-only
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.data.regions import COLUMNS, read_regions
from exprflow.genome.fasta import Genome
from exprflow.models.basenji2.config import (
    TINY_PARAMS,
    Basenji2Config,
    ConvBlock,
    ConvTower,
    Cropping,
    DilatedResidual,
)
from exprflow.simulate.world import WorldManifest, load_manifest, simulate_world

__all__ = ["main", "trunk_flops"]

log = logging.getLogger("embed_basenji2")

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().with_name("_embed_basenji2_child.py")
APPROACHES = ("published", "exprflow")
PUBLISHED_REGIONS = 38_171
PUBLISHED_SECONDS = 6 * 3600 + 34 * 60
GOAL_SECONDS = 600.0
CHILD_ENV = {"TQDM_DISABLE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
#: The trunk runtime's precisions (``exprflow.models.basenji2.trunk``, which loads TensorFlow).
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
NO_GPU = "skipped: no GPU (tf.config.list_physical_devices('GPU') is empty)"


def _sibling(name: str) -> ModuleType:
    """Import a module beside this script by path (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IO = _sibling("_embed_basenji2_io")
REPORT = _sibling("_embed_basenji2_report")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _sizes(text: str) -> list[int]:
    return [_positive(part) for part in text.split(",")]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", type=Path, help="synthetic world folder (simulated if absent)")
    p.add_argument("--size", default="demo", help="world size to simulate (default demo)")
    p.add_argument("--seed", type=int, default=0, help="world and model seed (0)")
    p.add_argument("--regions", type=_positive, help="regions (default: the world's; repeated)")
    p.add_argument("--params", default="tiny", help="tiny, published or a params JSON (tiny)")
    p.add_argument("--weights", help="model_human.h5-style weights (default: random init)")
    p.add_argument("--batch-size", type=_positive, default=4, help="regions per call (4)")
    p.add_argument("--threads", type=_positive, default=4, help="exprflow deflate threads (4)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="(auto)")
    p.add_argument("--xla", default="auto", choices=("auto", "true", "false"), help="(auto)")
    p.add_argument("--repeats", type=_positive, default=3, help="runs of each, best kept (3)")
    p.add_argument("--codec-regions", type=_positive, default=64, help="codec sample (64)")
    p.add_argument("--full-regions", type=_count, default=2, help="full model on CPU (2; 0 off)")
    p.add_argument("--ceiling-regions", type=_count, default=32, help="stub model (32; 0 off)")
    p.add_argument("--gpu-only", action="store_true", help="only the full-model GPU part")
    p.add_argument("--gpu-batch-sizes", type=_sizes, default=[8, 16, 32], help="8,16,32")
    p.add_argument("--gpu-regions", type=_positive, default=512, help="end-to-end (512)")
    p.add_argument("--gpu-steps", type=_positive, default=10, help="model-only calls (10)")
    p.add_argument("--gpu-published-regions", type=_positive, default=64, help="(64)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return p


# --- model arithmetic ---------------------------------------------------------------------


def trunk_flops(config: Basenji2Config, *, head: bool = False) -> float:
    """FLOPs (2 × multiply-adds of the convolutions) of one trunk pass over one region.

    Parameters
    ----------
    config : Basenji2Config
        The network.
    head : bool, optional
        Add the per-bin Dense head. Default False.

    Returns
    -------
    float
        2.186e11 for the published trunk, 2.332e11 with its 5,313-target head.
    """
    flops, length, channels = 0, config.seq_length, 4
    for block in config.trunk:
        if isinstance(block, ConvBlock | ConvTower):
            stages = (block.filters,) if isinstance(block, ConvBlock) else block.filters
            for filters in stages:
                flops += 2 * length * block.kernel_size * channels * filters
                channels, length = filters, -(-length // block.pool_size)
        elif isinstance(block, DilatedResidual):
            per_block = block.kernel_size * channels * block.filters + block.filters * channels
            flops += 2 * length * per_block * block.repeat
        elif isinstance(block, Cropping):
            length -= 2 * block.cropping
    if head:
        flops += 2 * length * channels * config.head.units
    return float(flops)


def _config(params: str) -> Basenji2Config:
    if params == "published":
        return Basenji2Config()
    return Basenji2Config.from_params(TINY_PARAMS if params == "tiny" else Path(params))


# --- inputs and children ------------------------------------------------------------------


def _world(args: argparse.Namespace) -> WorldManifest:
    """Load ``--world``, or simulate (resumably) a ``--size``/``--seed`` world there."""
    folder = args.world or ROOT / "data" / "worlds" / f"{args.size}-seed{args.seed}"
    if not (folder / "world.json").is_file():
        log.info("simulating a %s world (seed %d) into %s", args.size, args.seed, folder)
        simulate_world(folder, args.size, args.seed)
    return load_manifest(folder)


def _regions(manifest: WorldManifest, config: Basenji2Config, n: int | None) -> pd.DataFrame:
    """The world's regions, checked against its genome, repeated in order to ``n`` rows."""
    with Genome(manifest.path("fasta")) as genome:
        contigs = genome.contigs
    table = read_regions(manifest.path("sequences_bed"), contigs=contigs, length=config.seq_length)
    n = n or len(table)
    return table.iloc[np.arange(n) % len(table)].reset_index(drop=True)


def _save_regions(regions: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        regions[list(COLUMNS)].to_csv(tmp, sep="\t", header=False, index=False)
    return path


def _run_child(name: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one measurement in a fresh Python process; return what it reports."""
    spec_path, result = work / f"{name}.spec.json", work / f"{name}.result.json"
    with atomic_path(spec_path) as tmp:
        tmp.write_text(json.dumps(spec))
    log.info("running %s in a fresh process", name)
    env = {**os.environ, **CHILD_ENV}
    subprocess.run([sys.executable, str(CHILD), str(spec_path), str(result)], check=True, env=env)
    return dict(json.loads(result.read_text()))


def _spec(args: argparse.Namespace, config: Basenji2Config, fasta: Path) -> dict[str, Any]:
    return {
        "config": config.to_json(), "weights": args.weights, "seed": args.seed,
        "precision": args.precision, "xla": args.xla, "fasta": str(fasta),
        "threads": args.threads,
    }  # fmt: skip


def _file_bytes(path: Path) -> dict[str, int]:
    """Size of the file, and of the stored chunks of its ``embeddings``."""
    with h5py.File(path, "r") as handle:
        dataset = handle["embeddings"]
        chunks = sum(dataset.id.get_chunk_info(i).size for i in range(dataset.id.get_num_chunks()))
        raw = int(np.prod(dataset.shape)) * 2
    return {"file_bytes": path.stat().st_size, "chunk_bytes": int(chunks), "raw_bytes": raw}


def _embed(
    approach: str, base: dict[str, Any], regions: Path, batch: int, work: Path, tag: str = ""
) -> dict[str, Any]:
    """Embed ``regions`` one ``approach``'s way in a fresh process; measure its file."""
    output = work / f"{approach}{tag}.h5"
    spec = {**base, "mode": approach, "regions": str(regions), "batch_size": batch,
            "output": str(output), "work": str(work / f"{approach}{tag}-work")}  # fmt: skip
    measured = _run_child(f"{approach}{tag}", spec, work)
    sizes = _file_bytes(output)
    n = measured["regions"]
    return {
        **measured, **sizes, "batch_size": batch, "regions_per_s": n / measured["wall_s"],
        "bytes_per_region": sizes["file_bytes"] / n,
        "compression_ratio": sizes["raw_bytes"] / sizes["file_bytes"],
        "output": str(output),
    }  # fmt: skip


def _agreement(first: Path, second: Path) -> dict[str, Any]:
    """Largest absolute difference between the ``embeddings`` of two files, region by region."""
    worst, identical = 0.0, True
    with h5py.File(first, "r") as a, h5py.File(second, "r") as b:
        x, y = a["embeddings"], b["embeddings"]
        same_shape = x.shape == y.shape
        for i in range(x.shape[0] if same_shape else 0):
            u, v = x[i].astype(np.float32), y[i].astype(np.float32)
            worst = max(worst, float(np.abs(u - v).max()))
            identical = identical and bool(np.array_equal(u, v))
        values = int(np.prod(x.shape))
    agree = same_shape and identical
    return {"max_abs_diff": worst, "identical": agree, "values_compared": values}


def _codecs_of(path: Path, n: int, threads: int, repeats: int) -> dict[str, Any]:
    with h5py.File(path, "r") as handle:
        values = handle["embeddings"][:n]
    return {"regions": len(values), "shape": list(values.shape[1:]),
            "rows": IO.codec_speeds(values, threads, repeats)}  # fmt: skip


# --- the three parts ----------------------------------------------------------------------


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of least wall time (the least disturbed by other jobs), with every run's."""
    return min(runs, key=lambda m: m["wall_s"]) | {"wall_s_runs": [m["wall_s"] for m in runs]}


def _compare(
    args: argparse.Namespace, manifest: WorldManifest, config: Basenji2Config, work: Path
) -> dict[str, Any]:
    """Both approaches on the same regions; ratios, agreement and the codecs alone."""
    regions = _regions(manifest, config, args.regions)
    bed = _save_regions(regions, work / "regions.bed")
    base = _spec(args, config, manifest.path("fasta"))
    runs: dict[str, list[dict[str, Any]]] = {a: [] for a in APPROACHES}
    for k in range(args.repeats):  # alternating, each in a fresh process
        for a in APPROACHES:
            runs[a].append(_embed(a, base, bed, args.batch_size, work, tag=f"-{k}"))
    measured = {a: _best(runs[a]) for a in APPROACHES}
    pub, ours = measured["published"], measured["exprflow"]
    files = [Path(m.pop("output")) for m in (pub, ours)]
    ratios = {
        "regions_per_s": ours["regions_per_s"] / pub["regions_per_s"],
        "bytes_per_region": pub["bytes_per_region"] / ours["bytes_per_region"],
        "cpu": pub["cpu_s"] / ours["cpu_s"],
        "peak_rss": ours["peak_rss_bytes"] / pub["peak_rss_bytes"],
    }
    return {
        "regions": len(regions), "distinct_regions": int(regions.drop_duplicates().shape[0]),
        **measured, "ratios": ratios, "agreement": _agreement(*files),
        "codecs": _codecs_of(files[0], args.codec_regions, args.threads, args.repeats),
    }  # fmt: skip


def _full_cpu(args: argparse.Namespace, manifest: WorldManifest, work: Path) -> dict[str, Any]:
    """The published-size model at batch 1 with exprflow on the CPU."""
    if args.full_regions == 0:
        return {"skipped": "skipped: --full-regions 0"}
    config = Basenji2Config()
    bed = _save_regions(_regions(manifest, config, args.full_regions), work / "full.bed")
    measured = _embed("exprflow", _spec(args, config, manifest.path("fasta")), bed, 1, work,
                      tag="-full")  # fmt: skip
    output, n, flops = Path(measured["output"]), measured["regions"], trunk_flops(config)
    return {
        **measured, "seconds_per_region": measured["wall_s"] / n,
        "model_seconds_per_region": measured["model_s"] / n, "gflop_per_region": flops / 1e9,
        "achieved_gflops": n * flops / measured["model_s"] / 1e9,
        "published_regions_hours": PUBLISHED_REGIONS * measured["wall_s"] / n / 3600,
        "codecs": _codecs_of(output, n, args.threads, args.repeats),
    }  # fmt: skip


def _published_time(regions_per_s: float) -> dict[str, Any]:
    seconds = PUBLISHED_REGIONS / regions_per_s
    return {"published_regions_s": seconds, "goal_met": seconds <= GOAL_SECONDS,
            "vs_published_run": PUBLISHED_SECONDS / seconds}  # fmt: skip


def _gpu(
    args: argparse.Namespace, manifest: WorldManifest, work: Path, config: Basenji2Config
) -> dict[str, Any]:
    """``config`` (the full model) on the GPU: the batch-size sweep, then the published way."""
    bed = _save_regions(_regions(manifest, config, args.gpu_regions), work / "gpu.bed")
    base = _spec(args, config, manifest.path("fasta"))
    spec = {**base, "mode": "gpu", "regions": str(bed), "work": str(work / "gpu"),
            "batch_sizes": args.gpu_batch_sizes, "steps": args.gpu_steps,
            "require_gpu": True}  # fmt: skip
    measured = _run_child("gpu", spec, work)
    if "sweep" not in measured:  # the child found no GPU
        log.info("%s: the GPU part is skipped", NO_GPU)
        return {"skipped": NO_GPU}
    flops = trunk_flops(config)
    for row in measured["sweep"]:
        row["model_tflops"] = row["model_regions_per_s"] * flops / 1e12
        row["bytes_per_region"] = row["file_bytes"] / row["regions"]
        row |= _published_time(row["regions_per_s"])
    small = _regions(manifest, config, args.gpu_published_regions)
    pub_bed = _save_regions(small, work / "gpu_published.bed")
    published = _embed("published", base, pub_bed, args.gpu_batch_sizes[0], work, tag="-gpu")
    measured["codecs"] = _codecs_of(
        Path(published.pop("output")), args.codec_regions, args.threads, args.repeats
    )
    measured["published"] = published | _published_time(published["regions_per_s"])
    measured["gflop_per_region"] = flops / 1e9
    return measured


def _ceiling_run(
    approach: str,
    runner: Any,
    genome: Genome,
    regions: pd.DataFrame,
    work: Path,
    k: int,
    threads: int,
) -> dict[str, Any]:
    """One write path with the stub model (run ``k``); its measurements."""
    output, cpu = work / f"ceiling-{approach}-{k}.h5", time.process_time()
    if approach == "published":
        m = IO.published_embed(runner, genome, regions, output)
    else:
        m = IO.exprflow_embed(runner, genome, regions, work / f"ceiling-work-{k}", output,
                              threads=threads, attributes={})  # fmt: skip
    return m | {"cpu_s": time.process_time() - cpu, "file_bytes": output.stat().st_size,
                "regions_per_s": len(regions) / m["wall_s"], "output": str(output)}  # fmt: skip


def _ceiling(
    args: argparse.Namespace, manifest: WorldManifest, embeddings: Path, work: Path
) -> dict[str, Any]:
    """Both write paths at full size with a model that takes no time (a free GPU)."""
    with h5py.File(embeddings, "r") as handle:
        runner = IO.StubRunner(handle["embeddings"][()], args.gpu_batch_sizes[0])
    regions = _regions(manifest, Basenji2Config(), args.ceiling_regions)
    runs: dict[str, list[dict[str, Any]]] = {a: [] for a in APPROACHES}
    with Genome(manifest.path("fasta")) as genome:
        for k in range(args.repeats):
            for approach in APPROACHES:
                m = _ceiling_run(approach, IO.TimedRunner(runner), genome, regions, work, k,
                                 args.threads)  # fmt: skip
                runs[approach].append(m | _published_time(m["regions_per_s"]))
    measured = {a: _best(runs[a]) for a in APPROACHES}
    ours = measured["exprflow"]
    ours["merge_mb_per_s"] = ours["file_bytes"] / ours["merge_s"] / 1e6
    ratio = ours["regions_per_s"] / measured["published"]["regions_per_s"]
    files = [Path(measured[a].pop("output")) for a in APPROACHES]
    return {"regions": len(regions), "batch_size": runner.batch_size, **measured,
            "ratio": ratio, "agreement": _agreement(*files)}  # fmt: skip


def _extrapolate(codecs: dict[str, Any]) -> dict[str, Any]:
    """Compression of the 38,171 published regions at the measured full-size codec speeds."""
    raw = PUBLISHED_REGIONS * int(np.prod(codecs["shape"])) * 2
    rows = [{"codec": row["codec"], "threads": row["threads"],
             "hours": raw / (row["mb_per_s"] * 1e6) / 3600,
             "file_bytes": row["compressed_bytes"] / codecs["regions"] * PUBLISHED_REGIONS}
            for row in codecs["rows"]]  # fmt: skip
    one_thread = codecs["rows"][1]["mb_per_s"] * 1e6  # shuffle + deflate-1, 1 thread
    return {
        "regions": PUBLISHED_REGIONS, "raw_bytes": raw, "codecs": rows, "goal_s": GOAL_SECONDS,
        "threads_for_goal": math.ceil(raw / GOAL_SECONDS / one_thread),
    }  # fmt: skip


def _extrapolate_from(part: dict[str, Any]) -> dict[str, Any] | None:
    return _extrapolate(part["codecs"]) if "codecs" in part else None


def _write(out: Path, results: dict[str, Any]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    table = REPORT.markdown(results)
    name = results["benchmark"]
    with atomic_path(out / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    with atomic_path(out / f"{name}.md") as tmp:
        tmp.write_text(table)
    return table


# --- main ---------------------------------------------------------------------------------


def _model(args: argparse.Namespace, params: str, config: Basenji2Config) -> dict[str, Any]:
    weights = (
        args.weights
        or f"random init (seed {args.seed}): time and memory do not "
        "depend on the weights, compressed bytes do"
    )
    name = {"tiny": "packaged tiny params", "published": "published params"}.get(params, params)
    shape = f"{config.out_length} × {config.out_channels}"
    return {"params": params, "config": json.loads(config.to_json()), "shape": shape,
            "weights": args.weights, "gflop_per_region": trunk_flops(config) / 1e9,
            "description": f"{name} ({config.seq_length:,} bp → {shape}), {weights}"}  # fmt: skip


def _run(args: argparse.Namespace, argv: Sequence[str], work: Path) -> dict[str, Any]:
    manifest = _world(args)
    params = "published" if args.gpu_only else args.params
    config = _config(params)
    results: dict[str, Any] = {
        "benchmark": "embed_basenji2_gpu" if args.gpu_only else "embed_basenji2",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python benchmarks/embed_basenji2.py", *argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "h5py": h5py.__version__,
                    "zlib": zlib.ZLIB_RUNTIME_VERSION, "load_average": os.getloadavg()[0]},
        "world": {"path": str(manifest.root), "size": manifest.size.name, "seed": manifest.seed},
        "model": _model(args, params, config), "batch_size": args.batch_size,
        "threads": args.threads,
    }  # fmt: skip
    if args.gpu_only:
        gpu = _gpu(args, manifest, work, config)
        results["machine"]["tensorflow"] = gpu.get("tensorflow", "")
        return results | {"gpu": gpu, "extrapolation": _extrapolate_from(gpu)}
    comparison = _compare(args, manifest, config, work)
    on_gpu = comparison["exprflow"]["gpu"]
    results["machine"]["tensorflow"] = comparison["exprflow"]["tensorflow"]
    full = {"skipped": "a GPU is present: see the GPU part"} if on_gpu else (
        _full_cpu(args, manifest, work))  # fmt: skip
    gpu = _gpu(args, manifest, work, Basenji2Config()) if on_gpu else {"skipped": NO_GPU}
    extrapolation = _extrapolate_from(full) or _extrapolate_from(gpu)
    full_file = full.pop("output", None)
    ceiling = (_ceiling(args, manifest, Path(full_file), work) if full_file
               and args.ceiling_regions else {"skipped": "skipped: needs the full-size CPU "
               "part and --ceiling-regions > 0"})  # fmt: skip
    return results | {"comparison": comparison, "full_cpu": full, "gpu": gpu,
                      "extrapolation": extrapolation, "ceiling": ceiling}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the results and print the table.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments. Default None: ``sys.argv[1:]``.

    Returns
    -------
    dict
        The results written to ``<out>/embed_basenji2.json`` (``--gpu-only``:
        ``embed_basenji2_gpu.json``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-embed_basenji2-", dir=args.out))
    try:
        results = _run(args, argv, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(_write(args.out, results))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main()
