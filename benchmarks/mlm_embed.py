"""Haplotype-MLM embedding throughput: the published sequential masking vs exprflow's batches.

The published extractor (lm-eqtl ``--get_embeddings``, ``RollingMasker(stride=50)``) runs
each haplotype's ``stride`` masked copies through the model one forward pass at a time;
:func:`exprflow.embedding.mlm_embed.rolling_embeddings` packs the copies of many
haplotypes into batches. Both give the same vectors (checked here: the largest absolute
difference is reported). Measured: haplotypes per second of each on the same
haplotypes, model and device, and their ratio.

Haplotypes are the test individuals' of an MLM dataset (``--dataset``: a folder with
``dataset.parquet`` and ``meta.csv.gz``; default: built from the demo
world with ``--genes`` genes and ``--snps`` SNPs each). The model is randomly initialised
at ``--size`` (tiny, small, published): throughput does not depend on the weights.

    python benchmarks/mlm_embed.py [--dataset DIR | --world DIR] [--size published]
        [--snps 5000] [--haplotypes 8] [--sequential 2] [--stride 50] [--batch-size 64]
        [--device cpu|cuda] [--threads N] [--out benchmarks/results]

Results: ``<out>/mlm_embed-<size>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from exprflow.atomic import atomic_path
from exprflow.data.mlm_dataset import build_mlm_dataset, read_meta, read_mlm_dataset
from exprflow.data.mlm_haplotypes import haplotype_batch
from exprflow.embedding.mlm_embed import rolling_embeddings, sequential_embeddings
from exprflow.genome.annotation import read_genes
from exprflow.models.mlm.config import MLM_SIZES, mlm_config
from exprflow.models.mlm.model import build_mlm
from exprflow.simulate.world import load_manifest

NAME = "mlm_embed"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="MLM dataset folder")
    parser.add_argument("--world", type=Path, default=Path("data/worlds/demo-seed0"))
    parser.add_argument("--genes", type=int, default=1, help="genes when building")
    parser.add_argument("--snps", type=int, default=5000, help="SNPs per gene when building")
    parser.add_argument("--size", choices=sorted(MLM_SIZES), default="published")
    parser.add_argument("--haplotypes", type=int, default=8, help="haplotypes, batched")
    parser.add_argument("--sequential", type=int, default=2, help="of them, sequential")
    parser.add_argument("--stride", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    return parser.parse_args(argv)


def _build(world: Path, genes: int, snps: int, folder: Path) -> Path:
    """The world's MLM dataset (EUR individuals as the test split)."""
    manifest = load_manifest(world)
    samples = pd.read_csv(manifest.path("samples"), sep="\t")
    test = samples.loc[samples["super_pop"] == "EUR", "sample"].tolist()
    build_mlm_dataset(
        manifest.path("vcf"),
        read_genes(manifest.path("gtf")),
        manifest.path("eqtls"),
        test,
        folder,
        n_genes=genes,
        max_snps=snps,
    )
    return folder


def _tokens(folder: Path, n: int) -> tuple[np.ndarray, int]:
    """``n`` test haplotypes of the dataset's first gene, and its number of genes."""
    meta = read_meta(folder / "meta.csv.gz")
    table = read_mlm_dataset(folder / "dataset.parquet", meta)
    first = table.loc[(table["split"] == "test") & (table["gene_id"] == meta["GENE_ID"].iloc[0])]
    tokens = haplotype_batch(first["seq"].iloc[: -(-n // 2)].tolist())[:n]
    return tokens, int(meta["GENE_ID"].nunique())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run both extractors; return the figures."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tokens, n_genes = _tokens(folder, args.haplotypes)
    torch.manual_seed(0)
    model = build_mlm(mlm_config(args.size, n_genes)).to(device).eval()
    gene = np.zeros(len(tokens), np.int64)
    _sync(device)
    started = time.perf_counter()
    batched = rolling_embeddings(
        model, tokens, gene, stride=args.stride, batch_size=args.batch_size
    )
    _sync(device)
    batched_s = time.perf_counter() - started
    k = min(args.sequential, len(tokens))
    started = time.perf_counter()
    published = sequential_embeddings(model, tokens[:k], gene[:k], stride=args.stride)
    _sync(device)
    sequential_s = time.perf_counter() - started
    rates = {"published": k / sequential_s, "exprflow": len(tokens) / batched_s}
    return {
        "benchmark": NAME,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "model_size": args.size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "snps": int(tokens.shape[1]),
        "stride": args.stride,
        "batch_size": args.batch_size,
        "haplotypes": {"published": k, "exprflow": len(tokens)},
        "seconds": {"published": sequential_s, "exprflow": batched_s},
        "haplotypes_per_s": rates,
        "speedup": rates["exprflow"] / rates["published"],
        "max_abs_diff": float(np.abs(batched.vectors[:k] - published.vectors).max()),
    }


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    rows = ["| | published (sequential) | exprflow (batched) |", "|---|---|---|"]
    for label, key, fmt in (
        ("haplotypes", "haplotypes", "{}"),
        ("seconds", "seconds", "{:.2f}"),
        ("haplotypes/s", "haplotypes_per_s", "{:.3f}"),
    ):
        values = [fmt.format(results[key][side]) for side in ("published", "exprflow")]
        rows.append(f"| {label} | {values[0]} | {values[1]} |")
    head = (
        f"MLM `{results['model_size']}` ({results['parameters']:,} parameters), "
        f"{results['snps']} SNPs, stride {results['stride']}, batch {results['batch_size']}, "
        f"{results['device']} ({results['threads']} threads): speed-up "
        f"**{results['speedup']:.1f}×**, max |Δ| {results['max_abs_diff']:.1e}"
    )
    return head + "\n\n" + "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; write ``<out>/mlm_embed-<size>.{json,md}``; print the table."""
    args = _parse(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dataset or _build(args.world, args.genes, args.snps, Path(tmp))
        results = measure(args, folder)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{NAME}-{args.size}"
    with atomic_path(args.out / f"{stem}.json") as path:
        path.write_text(json.dumps(results, indent=1))
    with atomic_path(args.out / f"{stem}.md") as path:
        path.write_text(table(results))
    sys.stdout.write(table(results))
    return results


if __name__ == "__main__":
    main()
