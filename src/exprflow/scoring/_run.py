"""Run bookkeeping shared by the scoring paths: checks, resumption, the result, gene writes.

Used by :mod:`~exprflow.scoring.engine` and :mod:`~exprflow.scoring.naive`, which differ
only in how they get the per-window chromatin features. Writes the run's manifest and
the per-gene files of :mod:`~exprflow.scoring.store`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import PhasedVCF
from exprflow.scoring._predict import Heads, tissue_names
from exprflow.scoring.plan import GeneTask, check_samples, plan_genes, split_done
from exprflow.scoring.store import GenePredictions, row_labels, write_gene, write_manifest

__all__ = ["ScoringResult", "prepare_run", "write_predictions"]

log = logging.getLogger(__name__)


@dataclass
class ScoringResult:
    """What a scoring run did.

    Attributes
    ----------
    out_dir : Path
        Output folder.
    scored : list of str
        Genes computed by this run, in order.
    skipped : list of str
        Genes whose output already existed (not recomputed).
    padded : list of str
        Genes among ``scored`` whose windows were ``N``-padded past a contig end.
    requested : int
        Windows the haplotypes of ``scored`` genes need: ``(1 + 2 S) × 200`` per gene.
    evaluations : int
        Windows actually run through the chromatin model.
    seconds : float
        Wall time.
    chromatin_bytes : int
        Bytes of raw per-window chromatin written (naive path only; 0 otherwise).
    """

    out_dir: Path
    scored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    padded: list[str] = field(default_factory=list)
    requested: int = 0
    evaluations: int = 0
    seconds: float = 0.0
    chromatin_bytes: int = 0

    @property
    def dedup_ratio(self) -> float:
        """``requested / evaluations`` (1.0 when nothing was evaluated)."""
        return self.requested / self.evaluations if self.evaluations else 1.0


def prepare_run(
    genes: pd.DataFrame,
    genome: Genome,
    vcf: PhasedVCF | None,
    samples: Sequence[str],
    out_dir: str | os.PathLike[str],
    gene_ids: Sequence[str] | None,
    allow_padding: bool,
) -> tuple[list[GeneTask], list[str], ScoringResult]:
    """Check every input, record the manifest, and list the genes still to score.

    Parameters
    ----------
    genes, genome, vcf, samples, out_dir, gene_ids, allow_padding
        As for :func:`~exprflow.scoring.engine.score_genes`.

    Returns
    -------
    (list of GeneTask, list of str, ScoringResult)
        Genes to score, the checked samples, and a result with ``skipped`` filled in.
    """
    tasks = plan_genes(genes, genome, gene_ids, allow_padding)
    checked = check_samples(vcf, samples)
    todo, done = split_done(out_dir, tasks, row_labels(checked))
    write_manifest(out_dir, [task.gene_id for task in tasks], checked)
    result = ScoringResult(Path(out_dir), skipped=[task.gene_id for task in done])
    if done:
        log.info("%s: %d of %d genes already scored; skipped", out_dir, len(done), len(tasks))
    return todo, checked, result


def write_predictions(
    out_dir: Path,
    task: GeneTask,
    samples: Sequence[str],
    outputs: tuple[np.ndarray, np.ndarray],
    tissues: Sequence[str] | None,
    heads: Heads,
    save_features: bool,
) -> None:
    """Write one gene's predictions (and optionally its reduced features).

    Parameters
    ----------
    out_dir : Path
        Output folder.
    task : GeneTask
        The gene.
    samples : sequence of str
        Samples, in row order.
    outputs : (numpy.ndarray, numpy.ndarray)
        Reduced features ``(R, D)`` and predictions ``(R, T)`` from
        :func:`~exprflow.scoring._predict.predict_rows`.
    tissues : sequence of str or None
        Column names (see :func:`~exprflow.scoring._predict.tissue_names`).
    heads : Heads
        The heads plug-in (for its ``tissues`` attribute).
    save_features : bool
        Whether to store the reduced features as float16.
    """
    features, predictions = outputs
    gene = GenePredictions(
        gene_id=task.gene_id,
        chrom=task.chrom,
        tss=task.tss,
        strand=task.strand,
        padded=task.padded,
        rows=row_labels(samples),
        tissues=tissue_names(tissues, heads, predictions.shape[1]),
        predictions=predictions,
        features=features.astype(np.float16) if save_features else None,
    )
    write_gene(out_dir, gene)
