"""The published approach, for comparison and tests: every window of every haplotype is run.

The personalized-expression benchmark (``expecto_predict_consensus.py``) runs Beluga on
all 200 windows of every haplotype (each forward and reverse-complemented, inside the
chromatin model), with no sharing between haplotypes or with the reference, and keeps
the raw per-window features as float64 in ``{gene}_chromatin.h5`` (dataset
``chromatin_preds``, haplotypes × 200 × F, and ``record_ids``): 2.7 GB per gene at 842
haplotypes and F = 2002, 8.1 TB for the benchmark's 3,259 genes.

:func:`score_genes_naive` does the same work (one chromatin call of 200 windows per
haplotype), optionally writing ``out_dir/chromatin/{gene}_chromatin.h5`` to measure those
bytes, and writes the same per-gene prediction files as
:func:`~exprflow.scoring.engine.score_genes`, so the two paths can be compared file for
file. Reads the FASTA and the phased VCF; writes ``out_dir/genes/*.npz``,
``out_dir/manifests/*.json`` and, when asked, ``out_dir/chromatin/*.h5``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from exprflow.atomic import atomic_path
from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import PhasedVCF
from exprflow.scoring._predict import Heads, Reduce, predict_rows
from exprflow.scoring._run import ScoringResult, prepare_run, write_predictions
from exprflow.scoring.dedup import Chromatin, run_chromatin
from exprflow.scoring.plan import GeneTask, haplotype_variants
from exprflow.scoring.store import row_labels
from exprflow.scoring.windows import haplotype_windows

__all__ = ["CHROMATIN_DIR", "score_genes_naive", "write_chromatin"]

log = logging.getLogger(__name__)

CHROMATIN_DIR = "chromatin"


def write_chromatin(
    out_dir: str | os.PathLike[str], gene_id: str, features: np.ndarray, record_ids: Sequence[str]
) -> Path:
    """Write raw per-window features as the benchmark does: float64, one file per gene.

    Parameters
    ----------
    out_dir : str or PathLike
        Output folder; the file is ``chromatin/{gene_id}_chromatin.h5``.
    gene_id : str
        Gene.
    features : numpy.ndarray
        Shape ``(R, 200, F)``: per-window features of every row.
    record_ids : sequence of str
        ``R`` row labels.

    Returns
    -------
    Path
        The file written (atomically).
    """
    dest = Path(out_dir) / CHROMATIN_DIR / f"{gene_id}_chromatin.h5"
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("chromatin_preds", data=np.asarray(features, dtype=np.float64))
        handle.create_dataset("record_ids", data=np.array(record_ids, dtype=h5py.string_dtype()))
    return dest


def _gene_features(
    genome: Genome, vcf: PhasedVCF | None, task: GeneTask, samples: list[str], chromatin: Chromatin
) -> np.ndarray:
    """Run all 200 windows of the reference and of every haplotype: ``(R, 200, F)``."""
    haplotypes = [(), *haplotype_variants(vcf, task, samples)]
    return np.stack(
        [
            run_chromatin(
                chromatin, haplotype_windows(genome, task.chrom, task.tss, task.strand, variants)
            )
            for variants in haplotypes
        ]
    )


def score_genes_naive(
    genes: pd.DataFrame,
    genome: Genome,
    vcf: PhasedVCF | None,
    samples: Sequence[str],
    chromatin: Chromatin,
    reduce: Reduce,
    heads: Heads,
    out_dir: str | os.PathLike[str],
    *,
    gene_ids: Sequence[str] | None = None,
    tissues: Sequence[str] | None = None,
    save_features: bool = False,
    save_chromatin: bool = False,
    allow_padding: bool = False,
    progress: bool = True,
) -> ScoringResult:
    """Score genes the published way: no de-duplication, every window evaluated.

    Parameters
    ----------
    genes, genome, vcf, samples, chromatin, reduce, heads, out_dir
        As for :func:`~exprflow.scoring.engine.score_genes`.
    gene_ids, tissues, save_features, allow_padding, progress
        As for :func:`~exprflow.scoring.engine.score_genes`.
    save_chromatin : bool, optional
        Also write the benchmark's float64 ``{gene}_chromatin.h5``. Default False.

    Returns
    -------
    ScoringResult
        ``evaluations == requested``; ``chromatin_bytes`` counts the h5 files written.
    """
    started = time.perf_counter()
    todo, checked, result = prepare_run(
        genes, genome, vcf, samples, out_dir, gene_ids, allow_padding
    )
    for task in tqdm(todo, desc="scoring genes (naive)", unit="gene", disable=not progress):
        features = _gene_features(genome, vcf, task, checked, chromatin)
        if save_chromatin:
            path = write_chromatin(out_dir, task.gene_id, features, row_labels(checked))
            result.chromatin_bytes += path.stat().st_size
        outputs = predict_rows(
            features.__getitem__, len(features), features.shape[-1], reduce, heads
        )
        write_predictions(result.out_dir, task, checked, outputs, tissues, heads, save_features)
        result.scored.append(task.gene_id)
        result.padded.extend([task.gene_id] if task.padded else [])
        result.requested += features.shape[0] * features.shape[1]
    result.evaluations = result.requested
    result.seconds = time.perf_counter() - started
    log.info(
        "naive: scored %d genes in %.1f s, %d windows evaluated",
        len(result.scored),
        result.seconds,
        result.evaluations,
    )
    return result
