"""Benchmark: personal ExPecto scoring, the published approach against exprflow.

Both approaches score the same genes × (reference + every haplotype) with the same
model on the same machine, each in its own fresh subprocess
(``_expecto_scoring_child.py``, so that its peak memory is its own):

* **published approach** — :func:`exprflow.scoring.naive.score_genes_naive`: every
  haplotype's 200 windows through Beluga (forward and reverse complement), the raw
  per-window chromatin written as float64 ``{gene}_chromatin.h5``, as
  ``expecto_predict_consensus.py`` does;
* **exprflow** — :func:`exprflow.scoring.engine.score_genes`: each distinct window run
  once, compact per-gene prediction files.

Measured per approach: Beluga windows (and window-strand passes, forward + reverse
complement counted apart as the published count does), wall time of the scoring call,
peak RSS (``RUSAGE_SELF`` of the child), bytes written (sum of the file sizes of its
output folder); the predictions of both are compared. Ratios published / exprflow and
an extrapolation to the published run (3,259 genes × 842 haplotypes) follow. With a
CUDA device, full-size Beluga windows per second under bf16 autocast are measured too,
as a fraction of the GPU's dense bf16 peak.

The default model is a randomly initialised tiny Beluga (``BelugaConfig.tiny``) with one
output per local track of the world and random linear tissue heads: window counts,
time, memory and bytes do not depend on the weight values.

Reads a synthetic world (simulated when absent); writes
``<out>/expecto_scoring.json`` and ``<out>/expecto_scoring.md`` atomically and prints
the table. Usage::

    python benchmarks/expecto_scoring.py [--world DIR | --size bench --seed 0] [--genes N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from exprflow.atomic import atomic_path
from exprflow.data.roadmap import read_roadmap_rpkm
from exprflow.genome.annotation import read_genes
from exprflow.genome.vcf import PhasedVCF
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.load import load_checkpoint, save_checkpoint
from exprflow.models.beluga.model import Beluga
from exprflow.models.expecto.tissue import LinearTissueModel, save_json
from exprflow.scoring.merge import predictions_table
from exprflow.simulate.world import WorldManifest, load_manifest, simulate_world
from exprflow.training.chromatin_data import LOCAL_TRACKS, track_files

__all__ = ["main"]

log = logging.getLogger("expecto_scoring")

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().with_name("_expecto_scoring_child.py")
APPROACHES = ("naive", "exprflow")
LABELS = {"naive": "published approach", "exprflow": "exprflow"}
PUBLISHED_GENES, PUBLISHED_HAPLOTYPES, PUBLISHED_F = 3259, 842, 2002
GOALS = {"windows": 20.0, "wall": 10.0, "bytes": 1000.0}
TOLERANCE = 1e-4
WEIGHTS_NOTE = (
    "random weights: window counts, time, memory and bytes do not depend on the weight values"
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", type=Path, help="synthetic world folder (simulated if absent)")
    p.add_argument("--size", default="bench", help="world size to simulate (default bench)")
    p.add_argument("--seed", type=int, default=0, help="world and random-model seed (0)")
    p.add_argument("--genes", type=_positive, default=2, help="genes, spread over chromosomes (2)")
    p.add_argument("--samples", type=_positive, help="samples (default all of the VCF)")
    p.add_argument("--chromatin-model", help="Beluga checkpoint (default: random tiny)")
    p.add_argument("--tissue-models", help="model list / .json / .save (default: random)")
    p.add_argument("--full-beluga", action="store_true", help="published sizes, not tiny")
    p.add_argument(
        "--outputs", type=_positive, help="F of the random model (default: world tracks, or 2002)"
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--device", help="torch device (default: CUDA when present, else CPU)")
    p.add_argument("--threads", type=_positive, help="torch threads per run (default torch's)")
    p.add_argument(
        "--batch-size", type=_positive, help="windows per Beluga call (1024 GPU, 256 CPU)"
    )
    p.add_argument("--gpu-peak-tflops", type=float, default=989.0, help="dense bf16 peak")
    return p


# --- the world, the genes and the model -----------------------------------------------


def _world(args: argparse.Namespace) -> WorldManifest:
    """Load ``--world``, or simulate (resumably) a ``--size``/``--seed`` world there."""
    folder = args.world or ROOT / "data" / "worlds" / f"{args.size}-seed{args.seed}"
    if not (folder / "world.json").is_file():
        log.info("simulating a %s world (seed %d) into %s", args.size, args.seed, folder)
        simulate_world(folder, args.size, args.seed)
    return load_manifest(folder)


def _spread_genes(genes: pd.DataFrame, n: int) -> list[str]:
    """First gene of each chromosome, then the second of each, …: ``n`` gene ids."""
    rank = genes.groupby("chrom", sort=False).cumcount()
    order = genes.assign(_rank=rank).sort_values("_rank", kind="stable")
    return [str(gene) for gene in order["gene_id"].head(n)]


def _random_chromatin(path: Path, n_outputs: int, full: bool, seed: int) -> BelugaConfig:
    """Write a seeded, randomly initialised Beluga checkpoint."""
    config = BelugaConfig(n_outputs=n_outputs) if full else BelugaConfig.tiny(n_outputs)
    torch.manual_seed(seed)
    data = {
        "feature_names": [f"random_{i}" for i in range(config.n_outputs)],
        "seq_len": config.seq_len,
        "genome": "",
        "held_out_chroms": [],
    }
    save_checkpoint(path, Beluga(config), config, {"init": "random", "seed": seed}, data)
    return config


def _random_heads(folder: Path, tissues: Sequence[str], n_features: int, seed: int) -> Path:
    """Write seeded random linear tissue models and their model list."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for tissue in tissues:
        weights = rng.normal(0.0, 0.01, n_features)
        save_json(LinearTissueModel(weights, 0.0, 2.0, tissue=tissue), folder / f"{tissue}.json")
    modellist = folder / "modellist"
    with atomic_path(modellist) as tmp:
        tmp.write_text("".join(["ModelName\tTissue\n", *(f"{t}.json\t{t}\n" for t in tissues)]))
    return modellist


def _model(args: argparse.Namespace, manifest: WorldManifest, work: Path) -> dict[str, Any]:
    """Paths of the chromatin checkpoint and tissue models, and what they are."""
    if args.chromatin_model:
        checkpoint, config = args.chromatin_model, load_checkpoint(args.chromatin_model).config
        chromatin = f"checkpoint {checkpoint}"
    else:
        n_local = len(track_files(manifest.path("tracks"), LOCAL_TRACKS))
        n_outputs = args.outputs or (PUBLISHED_F if args.full_beluga else n_local)
        checkpoint = str(work / "beluga.pt")
        config = _random_chromatin(Path(checkpoint), n_outputs, args.full_beluga, args.seed)
        size = "published-size" if args.full_beluga else "tiny"
        chromatin = f"randomly initialised {size} Beluga (seed {args.seed}), {WEIGHTS_NOTE}"
    if args.tissue_models:
        tissue_models, heads = args.tissue_models, f"tissue models {args.tissue_models}"
    else:
        tissues = [str(c) for c in read_roadmap_rpkm(manifest.path("roadmap_rpkm")).columns]
        tissue_models = str(_random_heads(work / "heads", tissues, 10 * config.n_outputs, 0))
        heads = f"{len(tissues)} random linear tissue heads (seed 0), one per world cell type"
    return {
        "checkpoint": checkpoint,
        "tissue_models": tissue_models,
        "chromatin": chromatin,
        "heads": heads,
        "config": json.loads(config.to_json()),
        "n_features": config.n_outputs,
    }


# --- measurements, each in a fresh child process --------------------------------------


def _folder_bytes(folder: Path) -> tuple[int, int]:
    """Total size and number of the files under ``folder``."""
    sizes = [path.stat().st_size for path in folder.rglob("*") if path.is_file()]
    return sum(sizes), len(sizes)


def _run_child(name: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one measurement in a fresh Python process; return what it reports."""
    spec_path, result = work / f"{name}.spec.json", work / f"{name}.result.json"
    with atomic_path(spec_path) as tmp:
        tmp.write_text(json.dumps(spec))
    started = time.perf_counter()
    subprocess.run([sys.executable, str(CHILD), str(spec_path), str(result)], check=True)
    return {**json.loads(result.read_text()), "process_wall_s": time.perf_counter() - started}


def _run_approach(approach: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Score with one approach in a fresh process and measure its outputs."""
    out_dir = work / approach
    log.info("running the %s in a fresh process", LABELS[approach])
    spec = {**spec, "mode": "score", "approach": approach, "out_dir": str(out_dir)}
    measured = _run_child(approach, spec, work)
    measured["strand_passes"] = 2 * measured["windows"]
    measured["scoring_rss_bytes"] = measured["peak_rss_bytes"] - measured["setup_rss_bytes"]
    measured["bytes_written"], measured["files_written"] = _folder_bytes(out_dir)
    measured["chromatin_bytes"] = _folder_bytes(out_dir / "chromatin")[0]
    log.info("%s: %s", LABELS[approach], measured)
    return measured


def _agreement(work: Path) -> dict[str, Any]:
    """Largest absolute difference between the two approaches' predictions."""
    keys = ["gene_id", "sample", "haplotype"]
    naive, fast = (predictions_table(work / approach) for approach in APPROACHES)
    both = naive.merge(fast, on=keys, suffixes=("_naive", "_exprflow"), validate="1:1")
    tissues = [c for c in naive.columns if c not in keys]
    diff = max(float(np.abs(both[f"{t}_naive"] - both[f"{t}_exprflow"]).max()) for t in tissues)
    same_rows = len(both) == len(naive) == len(fast)
    return {
        "max_abs_diff": diff,
        "tolerance": TOLERANCE,
        "values_compared": len(both) * len(tissues),
        "agree": bool(same_rows and diff <= TOLERANCE),
    }


# --- ratios, extrapolation, GPU throughput ---------------------------------------------


def _ratios(naive: dict[str, Any], fast: dict[str, Any]) -> dict[str, float]:
    keys = {
        "windows": "windows",
        "strand_passes": "strand_passes",
        "wall": "wall_s",
        "peak_rss": "peak_rss_bytes",
        "scoring_rss": "scoring_rss_bytes",
        "bytes": "bytes_written",
    }
    return {name: naive[key] / max(fast[key], 1e-12) for name, key in keys.items()}


def _extrapolate(measured: dict[str, Any], rows: int, n_features: int) -> dict[str, Any]:
    """Scale per gene-row rates (row = reference or haplotype) to the published run."""
    scale = PUBLISHED_GENES * PUBLISHED_HAPLOTYPES / rows
    out: dict[str, Any] = {}
    for approach, m in measured.items():
        out[approach] = {
            "windows": m["windows"] * scale,
            "strand_passes": m["strand_passes"] * scale,
            "bytes": m["bytes_written"] * scale,
        }
    # Raw chromatin grows with F; the published run wrote F = 2002 float64 per window.
    per_f = measured["naive"]["chromatin_bytes"] / max(n_features, 1)
    other = measured["naive"]["bytes_written"] - measured["naive"]["chromatin_bytes"]
    out["naive"]["bytes_at_published_f"] = (per_f * PUBLISHED_F + other) * scale
    out["published_formula_bytes"] = PUBLISHED_GENES * PUBLISHED_HAPLOTYPES * 200 * 2002 * 8
    out["genes"], out["haplotypes"] = PUBLISHED_GENES, PUBLISHED_HAPLOTYPES
    return out


# --- the report ------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError


def _row(name: str, naive: str, fast: str, ratio: float) -> str:
    return f"| {name} | {naive} | {fast} | {ratio:,.1f}× |"


def _markdown(r: dict[str, Any]) -> str:
    n, f, q, x = r["naive"], r["exprflow"], r["ratios"], r["extrapolation"]
    met = ", ".join(
        f"{k} ≥ {GOALS[k]:g}×: {'met' if v else 'NOT met'}" for k, v in r["goals"].items()
    )
    agree = r["agreement"]
    gpu = r["gpu"]
    gpu_line = gpu.get("skipped") or (
        f"{gpu['device_name']}: {gpu['windows_per_s']:,.0f} windows/s "
        f"(bf16, batch {gpu['batch_size']}), {gpu['achieved_tflops']:.0f} TFLOP/s = "
        f"{100 * gpu['fraction_of_peak']:.1f}% of {gpu['peak_tflops']:g} TFLOP/s"
    )
    return "\n".join([
        "# ExPecto personal scoring: published approach vs exprflow", "",
        f"- date: {r['date']}; machine: {r['machine']['cpus']} CPU cores, "
        f"{r['machine']['platform']}; torch {r['machine']['torch']}; device {r['device']}, "
        f"{r['threads']} torch threads, Beluga batch {r['batch_size']}",
        f"- command: `{r['command']}`",
        f"- world: {r['world']['size']} (seed {r['world']['seed']}); {r['genes']} genes over "
        f"{r['chromosomes']} chromosomes; {r['samples']} samples = {r['rows_per_gene']} rows "
        "per gene (reference + haplotypes)",
        f"- chromatin model: {r['model']['chromatin']}; F = {r['model']['n_features']} outputs",
        f"- tissue heads: {r['model']['heads']}", "",
        "| measure | published approach | exprflow | ratio |", "|---|---:|---:|---:|",
        _row("Beluga windows", f"{n['windows']:,}", f"{f['windows']:,}", q["windows"]),
        _row("window-strand passes (fwd + RC)", f"{n['strand_passes']:,}",
             f"{f['strand_passes']:,}", q["strand_passes"]),
        _row("wall time (scoring)", f"{n['wall_s']:,.1f} s", f"{f['wall_s']:,.1f} s", q["wall"]),
        _row("peak RSS", _size(n["peak_rss_bytes"]), _size(f["peak_rss_bytes"]), q["peak_rss"]),
        _row("peak RSS above the process's RSS before scoring", _size(n["scoring_rss_bytes"]),
             _size(f["scoring_rss_bytes"]), q["scoring_rss"]),
        _row("bytes written", _size(n["bytes_written"]), _size(f["bytes_written"]), q["bytes"]),
        "", f"Predictions agree: {agree['agree']} (max |Δ| = {agree['max_abs_diff']:.2e} over "
        f"{agree['values_compared']:,} values, tolerance {agree['tolerance']:g}).", "",
        f"Extrapolated to the published run ({x['genes']:,} genes × {x['haplotypes']} "
        "haplotypes) from the measured per gene-row rates:", "",
        "| measure | published approach | exprflow | ratio |", "|---|---:|---:|---:|",
        _row("Beluga windows", f"{x['naive']['windows']:.3g}", f"{x['exprflow']['windows']:.3g}",
             q["windows"]),
        _row("window-strand passes", f"{x['naive']['strand_passes']:.3g}",
             f"{x['exprflow']['strand_passes']:.3g}", q["strand_passes"]),
        _row(f"bytes written (this model, F = {r['model']['n_features']})",
             _size(x["naive"]["bytes"]), _size(x["exprflow"]["bytes"]), q["bytes"]),
        _row("bytes written, raw chromatin at F = 2002 (as published)",
             _size(x["naive"]["bytes_at_published_f"]), _size(x["exprflow"]["bytes"]),
             x["naive"]["bytes_at_published_f"] / max(x["exprflow"]["bytes"], 1)),
        "", f"Goals: {met}.", "", f"GPU throughput (full-size Beluga): {gpu_line}.", "",
    ])  # fmt: skip


def _write(out: Path, results: dict[str, Any]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    table = _markdown(results)
    with atomic_path(out / "expecto_scoring.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    with atomic_path(out / "expecto_scoring.md") as tmp:
        tmp.write_text(table)
    return table


def _auto_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _gpu(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Full-size Beluga windows per second on the GPU, in a fresh process (CUDA only)."""
    if not torch.cuda.is_available():
        log.info("no CUDA device: the GPU throughput part is skipped")
        return {"skipped": "skipped, no CUDA device"}
    spec = {
        "mode": "throughput", "config": BelugaConfig().to_json(), "device": args.device,
        "batch_size": args.batch_size, "peak_tflops": args.gpu_peak_tflops, "threads": None,
    }  # fmt: skip
    return _run_child("throughput", spec, work)


def _compare(args: argparse.Namespace, argv: Sequence[str], work: Path) -> dict[str, Any]:
    if args.batch_size is None:
        args.batch_size = 1024 if (args.device or _auto_device()).startswith("cuda") else 256
    manifest = _world(args)
    genes = read_genes(manifest.path("gene_list"))
    gene_ids = _spread_genes(genes, args.genes)
    with PhasedVCF(manifest.path("vcf")) as vcf:
        samples = vcf.samples[: args.samples] if args.samples else vcf.samples
    model = _model(args, manifest, work)
    spec = {
        "fasta": str(manifest.path("fasta")), "vcf": str(manifest.path("vcf")),
        "gene_list": str(manifest.path("gene_list")), "gene_ids": gene_ids, "samples": samples,
        "checkpoint": model["checkpoint"], "tissue_models": model["tissue_models"],
        "device": args.device, "threads": args.threads, "batch_size": args.batch_size,
    }  # fmt: skip
    measured = {approach: _run_approach(approach, spec, work) for approach in APPROACHES}
    ratios = _ratios(measured["naive"], measured["exprflow"])
    rows = len(gene_ids) * (1 + 2 * len(samples))
    return {
        "benchmark": "expecto_scoring",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python benchmarks/expecto_scoring.py", *argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "device": args.device or _auto_device(), "batch_size": args.batch_size,
        "threads": args.threads or torch.get_num_threads(),
        "world": {"path": str(manifest.root), "size": manifest.size.name, "seed": manifest.seed},
        "genes": len(gene_ids), "gene_ids": gene_ids,
        "chromosomes": int(genes.set_index("gene_id").loc[gene_ids, "chrom"].nunique()),
        "samples": len(samples), "rows_per_gene": 1 + 2 * len(samples),
        "model": {k: v for k, v in model.items() if k not in ("checkpoint", "tissue_models")},
        **measured, "ratios": ratios,
        "goals": {k: ratios[k] >= goal for k, goal in GOALS.items()},
        "agreement": _agreement(work),
        "extrapolation": _extrapolate(measured, rows, model["n_features"]),
        "gpu": _gpu(args, work),
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the results and print the table.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments. Default None: ``sys.argv[1:]``.

    Returns
    -------
    dict
        The results written to ``<out>/expecto_scoring.json``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-expecto_scoring-", dir=args.out))
    try:
        results = _compare(args, argv, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(_write(args.out, results))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main()
