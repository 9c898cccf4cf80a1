"""Entry point ``embed_basenji2``: Basenji2 trunk embeddings of fixed-length regions, sharded.

Every region of ``regions`` (``sequences.bed``: chrom, start, end, fold) is read from
the FASTA, one-hot encoded (``A, C, G, T``; ``N`` all zero) and passed through the trunk
of the model ``params`` describes (empty: the packaged tiny model, 131,072 bp → 896 ×
64), with the released ``weights`` (``model_human.h5``) or, without them, a trunk
initialised from ``seed``. The output is the layout of :mod:`exprflow.embedding.layout`:
``embeddings`` ``(regions, bins, channels)`` float16, one compressed chunk per region,
with each region's coordinates and fold — published: ``(38171, 896, 1536)``.

Sharding and resumption: regions are split into ``num_chunks`` contiguous chunks; this
run computes chunk ``chunk_index`` (``-1``: ``JOB_COMPLETION_INDEX`` /
``SLURM_ARRAY_TASK_ID``, else 0 when ``num_chunks`` is 1) into a work folder shared by
all chunks (:mod:`exprflow.embedding.blocks`): ``<data root>/embed_basenji2/<key>``, the
key a digest of the FASTA's and weights' content fingerprints, the region table, the
model config, the seed, ``reverse_complement``, the precision and the batch size (with
the deflate level in the folder's manifest). A killed run, rerun, continues at the first
region no finished block holds. Every model call has the same batch shape, so one run, a
sharded run and a resumed run write identical bytes (on a GPU, set
``TF_DETERMINISTIC_OPS=1`` for that: cuDNN may pick other kernels in another process).

Merge: when every region is done after this run (whichever chunk finishes last), the
blocks are merged into ``output`` — a local path or ``s3://bucket/key`` (multipart
upload); empty: ``<work folder>/embeddings.h5`` — and, unless ``keep_blocks``, the
blocks are deleted. A shard of a cluster submission (``EXPRFLOW_PARENT_RUN_ID``) never
merges; ``embed_merge`` does.

Outputs: ``work_dir`` (always), ``embeddings`` (the merged file's path or URI, once it
exists). Metrics: ``n_regions``, ``n_regions_embedded``, ``n_regions_skipped``,
``seconds``, ``regions_per_second`` (of the model pass, reading and writing included),
``bytes_per_region`` (compressed, of the blocks this run wrote), ``compression_ratio``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd

from exprflow.data.regions import read_regions
from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.extract import ExtractResult, embed_regions
from exprflow.embedding.layout import DEFAULT_LEVEL
from exprflow.embedding.merge import MERGED_FILE, merge_once, output_exists
from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.models.basenji2.config import TINY_PARAMS, Basenji2Config
from exprflow.pipeline.spec import StepSpec
from exprflow.scoring.shards import chunk_bounds, resolve_chunk_index
from exprflow.steps._cli import parse_flag, parse_params, setup_logging
from exprflow.steps._world import fill_from_world
from exprflow.tracking.fingerprint import fingerprint
from exprflow.tracking.step import StepContext, step_run
from exprflow.tracking.store import data_root

if TYPE_CHECKING:
    from exprflow.models.basenji2.trunk import Placement

__all__ = ["STEP", "WORK_ROOT", "EmbedBasenji2Params", "main", "run"]

log = logging.getLogger(__name__)

#: Folder of default work folders under the data root.
WORK_ROOT = "embed_basenji2"
_FROM_WORLD = {"fasta": "fasta", "regions": "sequences_bed"}


@dataclass(frozen=True)
class EmbedBasenji2Params:
    """Parameters of the ``embed_basenji2`` step."""

    world: str = field(default="", metadata={"help": "synthetic world folder (world.json)"})
    fasta: str = field(default="", metadata={"help": "genome FASTA; empty: the world's"})
    regions: str = field(default="", metadata={"help": "sequences.bed; empty: the world's"})
    params: str = field(default="", metadata={"help": "Basenji params JSON; empty: tiny"})
    weights: str = field(
        default="", metadata={"help": "model_human.h5-style Keras HDF5; empty: seeded init"}
    )
    seed: int = field(default=0, metadata={"help": "initialisation seed without weights"})
    reverse_complement: str = field(
        default="false", metadata={"help": "'true': average with the reverse complement"}
    )
    batch_size: int = field(default=4, metadata={"help": "regions per model call"})
    precision: str = field(
        default="auto", metadata={"help": "auto, float32, mixed_float16, mixed_bfloat16"}
    )
    xla: str = field(default="auto", metadata={"help": "XLA compile: auto (GPU), true, false"})
    compression_level: int = field(default=DEFAULT_LEVEL, metadata={"help": "deflate 0-9"})
    threads: int = field(
        default=0, metadata={"help": "chunk-compression threads; 0: one per CPU core"}
    )
    num_chunks: int = field(default=1, metadata={"help": "region chunks (array jobs)"})
    chunk_index: int = field(
        default=-1,
        metadata={"help": "0-based chunk; -1: JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID"},
    )
    work_dir: str = field(
        default="", metadata={"help": "folder shared by all chunks; empty: keyed by inputs"}
    )
    output: str = field(
        default="", metadata={"help": "merged file: path or s3:// URI; empty: in work_dir"}
    )
    keep_blocks: str = field(
        default="false", metadata={"help": "'true': keep the work blocks after the merge"}
    )


STEP = StepSpec(
    name="embed_basenji2",
    params=EmbedBasenji2Params,
    family="basenji2",
    task="embedding",
    outputs=("embeddings", "work_dir"),
    upstream={
        "world": ("simulate", "world"),
        "fasta": ("prepare", "fasta"),
        "regions": ("prepare", "regions"),
        "params": ("train_basenji2", "params"),
        "weights": ("train_basenji2", "weights"),
    },
    runtime="tensorflow",
    merged_by="embed_merge",
)


def _check(params: EmbedBasenji2Params) -> None:
    """Refuse bad numeric settings before any work."""
    if params.batch_size < 1:
        raise InputError("argument batch_size", f"batch_size={params.batch_size}; need >= 1.")
    if params.threads < 0:
        raise InputError("argument threads", f"threads={params.threads}; need >= 0.")
    if not 0 <= params.compression_level <= 9:
        raise InputError(
            "argument compression_level", f"level {params.compression_level}; need 0-9."
        )


def _work_folder(
    params: EmbedBasenji2Params,
    paths: dict[str, Path],
    config: Basenji2Config,
    regions: pd.DataFrame,
    placement: Placement,
) -> WorkFolder:
    """Open (or create) the work folder of these inputs and settings."""
    weights = fingerprint(paths["weights"]) if "weights" in paths else f"random-init:{params.seed}"
    rc = parse_flag("reverse_complement", params.reverse_complement)
    table = regions[["chrom", "start", "end", "fold"]].to_csv(sep="\t", header=False, index=False)
    key = {
        "fasta": fingerprint(paths["fasta"]),
        "regions": hashlib.sha256(table.encode()).hexdigest(),
        "config": config.to_json(),
        "weights": weights,
        "reverse_complement": rc,
        "precision": placement.precision,
        # Kernels depend on the batch shape: a different batch size may change a few
        # float16 values by one unit in the last place, so it makes another folder.
        "batch_size": params.batch_size,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(params.work_dir).resolve() if params.work_dir else data_root() / WORK_ROOT / digest
    bins, channels = config.out_length, config.out_channels
    pooled = config.seq_length // (bins + 2 * _crop_bins(config))
    attributes = {
        "model_config": config.to_json(),
        # The file name, not the URI: the folder is keyed by content, and the same weights
        # may come from another run (the run records the URI as its input).
        "weights": Path(params.weights).name
        if params.weights
        else f"none (random init, seed {params.seed})",
        "weights_fingerprint": weights,
        "alphabet": "ACGT",
        "bin_size": pooled,
        "crop_bp": _crop_bins(config) * pooled,
        "reverse_complement": rc,
        "precision": placement.precision,
    }
    manifest = {
        "n_regions": len(regions),
        "bins": bins,
        "channels": channels,
        "level": params.compression_level,
        "key": key,
        "attributes": attributes,
    }
    work = WorkFolder(root, manifest)
    work.save_regions(regions)
    return work


def _crop_bins(config: Basenji2Config) -> int:
    """Bins cropped at each end by the trunk's Cropping1D blocks."""
    return sum(getattr(block, "cropping", 0) for block in config.trunk)


def _embed(
    params: EmbedBasenji2Params,
    paths: dict[str, Path],
    config: Basenji2Config,
    genome: Genome,
    work: WorkFolder,
    regions: pd.DataFrame,
    placement: Placement,
    bounds: tuple[int, int],
) -> ExtractResult:
    """Compute the regions of ``bounds`` (this chunk) that no finished block holds."""
    pending = work.pending(*bounds)
    log.info("regions %d-%d: %d to compute, on %s (%s, xla=%s)", *bounds, len(pending),
             placement.device, placement.precision, placement.xla)  # fmt: skip
    if not pending:
        return ExtractResult(0, [], 0.0)
    from exprflow.models.basenji2.trunk import TrunkRunner, load_trunk  # TensorFlow: see run

    trunk = load_trunk(config, paths.get("weights"), params.seed, placement.precision)
    rc = parse_flag("reverse_complement", params.reverse_complement)
    runner = TrunkRunner(trunk, params.batch_size, rc, placement.xla)
    return embed_regions(runner, genome, regions, pending, work,
                         batch_size=params.batch_size, threads=_threads(params))  # fmt: skip


def _threads(params: EmbedBasenji2Params) -> int:
    """Compression threads: the parameter, or one per usable CPU core.

    Deflate-1 runs at ~34 MB/s of raw float16 per thread (benchmarks/README.md), so the
    105 GB of the published regions need about 6 threads to be written in 10 minutes.
    """
    return params.threads if params.threads > 0 else len(os.sched_getaffinity(0))


def _log_metrics(result: ExtractResult, work: WorkFolder, n_chunk: int, started: float) -> None:
    raw = result.regions * work.shape[0] * work.shape[1] * 2
    written = result.bytes_written
    metrics = {
        "n_regions": work.n_regions,
        "n_regions_embedded": result.regions,
        "n_regions_skipped": n_chunk - result.regions,
        "seconds": time.perf_counter() - started,
    }
    if result.regions:
        metrics |= {
            "regions_per_second": result.regions / result.seconds,
            "bytes_per_region": written / result.regions,
            "compression_ratio": raw / written,
        }
    mlflow.log_metrics(metrics)


def run(params: EmbedBasenji2Params) -> dict[str, str]:
    """Embed this chunk; merge when every region is done; return the step's outputs."""
    started = time.perf_counter()
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        _check(params)
        explicit = None if params.chunk_index == -1 else params.chunk_index
        chunk = resolve_chunk_index(explicit, params.num_chunks)
        ctx.record_chunk(STEP.name, chunk, params.num_chunks)
        params = fill_from_world(params, _FROM_WORLD, STEP.name)
        paths = _inputs(ctx, params)
        config = Basenji2Config.from_params(paths.get("params", TINY_PARAMS))
        # TensorFlow loads only when the step runs: the registry imports every step module.
        from exprflow.models.basenji2.trunk import resolve_runtime

        placement = resolve_runtime(params.precision, params.xla)
        with Genome(paths["fasta"]) as genome:
            regions = read_regions(
                paths["regions"], contigs=genome.contigs, length=config.seq_length
            )
            work = _work_folder(params, paths, config, regions, placement)
            ctx.log_output("work_dir", work.root)
            merged = work.merged
            if merged is not None and output_exists(merged["uri"]):
                log.info("already merged into %s: nothing to do", merged["uri"])
                ctx.log_output("embeddings", merged["uri"])
                return ctx.outputs
            bounds = chunk_bounds(len(regions), params.num_chunks, chunk)
            result = _embed(params, paths, config, genome, work, regions, placement, bounds)
        _log_metrics(result, work, bounds[1] - bounds[0], started)
        _merge_when_complete(ctx, params, work)
        return ctx.outputs


def _inputs(ctx: StepContext, params: EmbedBasenji2Params) -> dict[str, Path]:
    """Record the inputs given; return their local paths."""
    names = ("fasta", "regions", "params", "weights")
    return {
        name: ctx.log_input(name, getattr(params, name)) for name in names if getattr(params, name)
    }


def _merge_when_complete(ctx: StepContext, params: EmbedBasenji2Params, work: WorkFolder) -> None:
    """Merge and record ``embeddings`` when every region is done (never in a shard)."""
    if ctx.parent_run_id is not None:
        log.info("shard of parent run %s: %s merges", ctx.parent_run_id, STEP.merged_by)
        return
    missing = int((~work.done()).sum())
    if missing:
        log.info("%d of %d regions still to embed (other chunks); embed_merge, or the chunk "
                 "that finishes last, will merge", missing, work.n_regions)  # fmt: skip
        return
    keep = parse_flag("keep_blocks", params.keep_blocks)
    result = merge_once(work, params.output or str(work.root / MERGED_FILE), keep_blocks=keep)
    ctx.log_output("embeddings", result.uri)
    mlflow.log_metric("embeddings_bytes", result.size)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(EmbedBasenji2Params, argv, prog="embed_basenji2"))


if __name__ == "__main__":
    main()
