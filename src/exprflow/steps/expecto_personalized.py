"""Entry point ``expecto_personalized``: ExPecto per gene × individual × haplotype, sharded.

Each haplotype is scored from its own sequence (SNVs and indels applied to the reference,
TSS re-anchored; no consensus FASTA written), each distinct 2,000 bp window once
(:func:`~exprflow.scoring.engine.score_genes`). Genes are split into ``num_chunks``
contiguous chunks (:func:`~exprflow.scoring.shards.shard_genes`); this run scores chunk
``chunk_index`` (``-1``: from ``JOB_COMPLETION_INDEX`` / ``SLURM_ARRAY_TASK_ID``, else 0
when ``num_chunks`` is 1) into a work folder shared by all chunks, one
``genes/<gene_id>.npz`` per finished gene (layout in :mod:`~exprflow.scoring.store`).

Resumption: the default work folder is ``<data root>/expecto_personalized/<key>``, the
key a digest of the content fingerprints of the FASTA, VCF, chromatin model and tissue
models, the gene list (id, contig, TSS, strand), the samples, the precision and
``save_features``. A rerun of a killed run, or another chunk, finds the same folder and
skips finished genes. The code version is not part of the key: give another ``work_dir``
(or delete the folder) to rescore after the scoring code changed. Every chunk records
the whole gene list in its folder's manifests, so a merge refuses while any gene is
missing from the merged folders (the one shared folder, or every chunk's own when each
was given a ``work_dir`` of its own).

Inputs (empty: from ``world``):
    ``fasta``; ``genes`` (gene_list.csv, GTF or geneanno.csv); ``vcf`` phased,
    bgzipped and tabix-indexed; ``samples`` the world's ``samples.tsv`` (``sample``
    column) or one id per line, empty without a world: every VCF sample;
    ``chromatin_model``; ``tissue_models`` (see :mod:`~exprflow.steps.expecto_reference`).
Step parameters:
    ``num_chunks``, ``chunk_index``, ``work_dir`` (empty: the default above),
    ``save_features`` (``true``: also store float16 spatial features per row),
    ``batch_size``, ``dtype``, ``genes_per_batch``.
Outputs:
    ``work_dir`` — the work folder (always).
    ``predictions`` — only when every gene of the list is done after this run (whichever
    chunk finishes last): run artifact ``predictions/personalized_predictions.tsv.gz``,
    the long table of :mod:`~exprflow.scoring.merge`: columns ``gene_id``, ``sample``
    (``ref`` for the reference row), ``haplotype`` (0 for ``ref``, else 1 or 2), then one
    float32 column per tissue (``ln(RPKM + pseudocount)``); genes sorted by id, rows
    ``ref`` then each sample's haplotypes 1 and 2. Otherwise ``expecto_merge`` (or the
    last chunk) merges. A shard of a cluster submission (``EXPRFLOW_PARENT_RUN_ID`` set;
    see :mod:`exprflow.deploy.kubernetes`) never merges: its run, ``<step>-shard-<i>``,
    is a child of the submission's parent run, and the merge Job (``expecto_merge``)
    records ``predictions`` on the parent.
Metrics: ``n_genes_scored``, ``n_genes_skipped`` (already in the work folder),
``n_samples``, ``windows_requested``, ``windows_evaluated``, ``dedup_ratio``
(requested / evaluated), ``seconds`` (wall time of the step body, merge included),
``bytes_written`` (size of the per-gene files this run wrote; skipped genes, manifests
and the merged table not counted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow

from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import PhasedVCF
from exprflow.pipeline.spec import StepSpec
from exprflow.scoring.engine import ScoringResult, score_genes
from exprflow.scoring.merge import merge_shards
from exprflow.scoring.plan import GeneTask, check_samples, plan_genes
from exprflow.scoring.shards import resolve_chunk_index, shard_genes
from exprflow.scoring.store import gene_path, write_manifest
from exprflow.steps._cli import parse_flag, parse_params, setup_logging
from exprflow.steps._expecto import (
    SCORING_UPSTREAM,
    ExpectoScoringParams,
    build_plugins,
    check_scoring_params,
    log_inputs,
    read_gene_table,
    read_samples,
    resolve_dtype,
)
from exprflow.steps._world import fill_from_world
from exprflow.tracking.fingerprint import fingerprint
from exprflow.tracking.step import StepContext, step_run
from exprflow.tracking.store import data_root

__all__ = [
    "PREDICTIONS_FILE",
    "STEP",
    "WORK_ROOT",
    "ExpectoPersonalizedParams",
    "default_work_dir",
    "main",
    "run",
]

log = logging.getLogger(__name__)

#: Merged table's file name; folder of default work folders under the data root.
PREDICTIONS_FILE = "personalized_predictions.tsv.gz"
WORK_ROOT = "expecto_personalized"
_FROM_WORLD = {"fasta": "fasta", "genes": "gene_list", "vcf": "vcf", "samples": "samples"}
_KEYED_INPUTS = ("fasta", "vcf", "chromatin_model", "tissue_models")


@dataclass(frozen=True)
class ExpectoPersonalizedParams(ExpectoScoringParams):
    """Parameters of the ``expecto_personalized`` step."""

    vcf: str = field(default="", metadata={"help": "phased, indexed VCF; empty: the world's"})
    samples: str = field(
        default="", metadata={"help": "samples.tsv or one id per line; empty: all VCF samples"}
    )
    num_chunks: int = field(default=1, metadata={"help": "gene chunks (array jobs)"})
    chunk_index: int = field(
        default=-1,
        metadata={"help": "0-based chunk; -1: JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID"},
    )
    work_dir: str = field(
        default="", metadata={"help": "folder shared by all chunks; empty: keyed by inputs"}
    )
    save_features: str = field(
        default="false", metadata={"help": "'true': also store float16 features per row"}
    )


STEP = StepSpec(
    name="expecto_personalized",
    params=ExpectoPersonalizedParams,
    family="expecto",
    task="expression",
    outputs=("predictions", "work_dir"),
    upstream=dict(SCORING_UPSTREAM),
    merged_by="expecto_merge",
)


def default_work_dir(
    paths: Mapping[str, Path],
    tasks: Sequence[GeneTask],
    samples: Sequence[str],
    settings: Mapping[str, object],
) -> Path:
    """Return ``<data root>/expecto_personalized/<key>`` for these inputs.

    Parameters
    ----------
    paths : mapping of str to Path
        Local paths of ``fasta``, ``vcf``, ``chromatin_model`` and ``tissue_models``
        (their content fingerprints enter the key, not their locations).
    tasks : sequence of GeneTask
        The whole gene list (every chunk's).
    samples : sequence of str
        Samples scored.
    settings : mapping
        Other settings that change the files (precision, ``save_features``); JSON-able.

    Returns
    -------
    Path
        The same folder for the same inputs, whichever chunk asks.
    """
    document = {
        "inputs": {name: fingerprint(paths[name]) for name in _KEYED_INPUTS},
        "genes": [[task.gene_id, task.chrom, task.tss, task.strand] for task in tasks],
        "samples": list(samples),
        "settings": dict(settings),
    }
    text = json.dumps(document, sort_keys=True)
    return data_root() / WORK_ROOT / hashlib.sha256(text.encode()).hexdigest()[:16]


def _chunk(params: ExpectoPersonalizedParams) -> int:
    """Return the chunk to score: the parameter, or (for -1) the array-job environment."""
    explicit = None if params.chunk_index == -1 else params.chunk_index
    return resolve_chunk_index(explicit, params.num_chunks)


def _log_metrics(result: ScoringResult, n_samples: int, started: float) -> None:
    """Log the scoring run's metrics (see the module docstring)."""
    written = sum(gene_path(result.out_dir, gene).stat().st_size for gene in result.scored)
    mlflow.log_metrics(
        {
            "n_genes_scored": len(result.scored),
            "n_genes_skipped": len(result.skipped),
            "n_samples": n_samples,
            "windows_requested": result.requested,
            "windows_evaluated": result.evaluations,
            "dedup_ratio": result.dedup_ratio,
            "seconds": time.perf_counter() - started,
            "bytes_written": written,
        }
    )


def _merge_when_complete(ctx: StepContext, work_dir: Path, gene_ids: Sequence[str]) -> None:
    """Merge and log ``predictions`` when every gene has its file; else say who merges."""
    missing = [gene_id for gene_id in gene_ids if not gene_path(work_dir, gene_id).exists()]
    if missing:
        log.info(
            "%d of %d genes still to score in %s (other chunks); expecto_merge, or the "
            "chunk that finishes last, will merge",
            len(missing),
            len(gene_ids),
            work_dir,
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / PREDICTIONS_FILE
        merge_shards(work_dir, dest, expected=gene_ids)
        ctx.log_artifact_output("predictions", dest, "predictions")
    log.info("all %d genes done: merged predictions logged", len(gene_ids))


def _score(
    ctx: StepContext, params: ExpectoPersonalizedParams, paths: dict[str, Path], chunk: int
) -> tuple[ScoringResult, list[str], list[str]]:
    """Check every input, score this chunk into the work folder; return result, genes, samples."""
    save_features = parse_flag("save_features", params.save_features)
    dtype = resolve_dtype(params.dtype)
    genes = read_gene_table(paths["genes"])
    with Genome(paths["fasta"]) as genome, PhasedVCF(paths["vcf"]) as vcf:
        wanted = read_samples(paths["samples"]) if "samples" in paths else vcf.samples
        tasks = plan_genes(genes, genome)  # the whole list, so no chunk meets a bad gene late
        samples = check_samples(vcf, wanted)
        plugins = build_plugins(
            paths["chromatin_model"], paths["tissue_models"], params.batch_size, dtype
        )
        settings = {"dtype": dtype, "save_features": save_features}
        work_dir = (
            Path(params.work_dir).resolve()
            if params.work_dir
            else default_work_dir(paths, tasks, samples, settings)
        )
        gene_ids = [task.gene_id for task in tasks]
        write_manifest(work_dir, gene_ids, samples)
        ctx.log_output("work_dir", work_dir)
        result = score_genes(
            shard_genes(genes, params.num_chunks, chunk), genome, vcf, samples, *plugins,
            work_dir, batch_size=params.batch_size, genes_per_batch=params.genes_per_batch,
            save_features=save_features,
        )  # fmt: skip
    return result, gene_ids, samples


def run(params: ExpectoPersonalizedParams) -> dict[str, str]:
    """Score this chunk; merge when every gene is done; return the step's outputs."""
    started = time.perf_counter()
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        check_scoring_params(params, STEP.name)
        chunk = _chunk(params)
        ctx.record_chunk(STEP.name, chunk, params.num_chunks)
        params = fill_from_world(params, _FROM_WORLD, STEP.name, optional=("samples",))
        names = ("fasta", "genes", "vcf", "samples", "chromatin_model", "tissue_models")
        paths = log_inputs(ctx, params, names)
        result, gene_ids, samples = _score(ctx, params, paths, chunk)
        if ctx.parent_run_id is None:
            _merge_when_complete(ctx, result.out_dir, gene_ids)
        else:
            log.info("shard of parent run %s: %s merges", ctx.parent_run_id, STEP.merged_by)
        _log_metrics(result, len(samples), started)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(ExpectoPersonalizedParams, argv, prog="expecto_personalized"))


if __name__ == "__main__":
    main()
