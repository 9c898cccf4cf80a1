"""Personal ExPecto scoring at scale: de-duplicated windows, per-gene outputs, resumable.

:func:`score_genes` predicts, for every gene, the reference and each sample's two
haplotypes (SNVs and indels, the TSS re-anchored on every haplotype, see
:mod:`~exprflow.scoring.windows`). The model comes in as three plug-ins (the ``func=``
plug points): ``chromatin`` (one-hot windows → per-window features, e.g. Beluga),
``reduce`` (a row's 200 window features → its features, e.g. ExPecto's spatial
transform) and ``heads`` (features → one prediction per tissue).

What makes it scale:

* **De-duplication.** A :class:`~exprflow.scoring.dedup.WindowBank` runs each distinct
  2000-bp window once, however many haplotypes (and the reference) share it; haplotypes
  carrying the same variants share their windows outright, and rows with identical
  windows are reduced once.
* **Bounded memory.** Genes are processed ``genes_per_batch`` at a time; the bank is
  cleared after each group, one-hot arrays are built per chromatin batch, and no raw
  per-window features are written.
* **Compact, resumable output.** One small ``genes/<gene_id>.npz`` per gene (float32
  predictions, optional float16 reduced features; layout in
  :mod:`~exprflow.scoring.store`), written atomically; a rerun skips genes whose file
  exists, so a killed job resumes where it stopped.
* **Sharding.** Run chunk ``i`` of ``n`` with
  ``score_genes(shard_genes(genes, n, None), …)`` in each array job (the index comes from
  ``JOB_COMPLETION_INDEX`` / ``SLURM_ARRAY_TASK_ID``), then
  :func:`~exprflow.scoring.merge.merge_shards`.

Reads the FASTA and the phased VCF; writes ``out_dir/genes/*.npz`` and
``out_dir/manifests/*.json``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from exprflow.genome.fasta import Genome
from exprflow.genome.variant import Variant
from exprflow.genome.vcf import PhasedVCF
from exprflow.scoring._predict import Heads, Reduce, predict_rows
from exprflow.scoring._run import ScoringResult, prepare_run, write_predictions
from exprflow.scoring.dedup import Chromatin, WindowBank
from exprflow.scoring.plan import GeneTask, haplotype_variants
from exprflow.scoring.windows import WINDOW, haplotype_windows

__all__ = ["Chromatin", "Heads", "Reduce", "ScoringResult", "score_genes"]

log = logging.getLogger(__name__)


def _gene_slots(
    bank: WindowBank, genome: Genome, vcf: PhasedVCF | None, task: GeneTask, samples: list[str]
) -> np.ndarray:
    """Add a gene's reference and haplotype windows to the bank; return ``(R, 200)`` slots."""
    seen: dict[tuple[Variant, ...], np.ndarray] = {}
    reference = seen[()] = bank.add(haplotype_windows(genome, task.chrom, task.tss, task.strand))
    rows = [reference]
    for variants in haplotype_variants(vcf, task, samples):
        if variants not in seen:
            windows = haplotype_windows(genome, task.chrom, task.tss, task.strand, variants)
            seen[variants] = bank.add(windows)
        rows.append(seen[variants])
    return np.stack(rows)


def _predict_gene(
    bank: WindowBank, slots: np.ndarray, reduce: Reduce, heads: Heads
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce each distinct row of a gene's slots once; return features and predictions."""
    unique, inverse = np.unique(slots, axis=0, return_inverse=True)
    width = bank.features(unique[:1, :1]).shape[-1]
    features, predictions = predict_rows(
        lambda rows: bank.features(unique[rows]), len(unique), width, reduce, heads
    )
    inverse = inverse.reshape(-1)
    return features[inverse], predictions[inverse]


def score_genes(
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
    batch_size: int = 1024,
    genes_per_batch: int = 4,
    save_features: bool = False,
    allow_padding: bool = False,
    progress: bool = True,
) -> ScoringResult:
    """Predict the reference and every haplotype of every gene, de-duplicating windows.

    Parameters
    ----------
    genes : pandas.DataFrame
        Gene table: gene_id, chrom, tss (0-based TSS base), strand (``+``/``-``);
        ``attrs["path"]``, when set, names the file in errors.
    genome : Genome
        Reference FASTA.
    vcf : PhasedVCF or None
        Phased genotypes (SNVs and indels); None scores the reference only.
    samples : sequence of str
        Samples to score (each must be in ``vcf``); rows ``<sample>|1``, ``<sample>|2``.
    chromatin : Chromatin
        One-hot windows ``(N, 4, 2000)`` float32, AGCT → ``(N, F)`` (e.g. Beluga with
        forward/reverse-complement averaging).
    reduce : Reduce
        ``(G, 200, F)`` window features in shift order → ``(G, D)``; rows independent.
    heads : Heads
        ``(G, D)`` → ``(G, T)``; an optional ``tissues`` attribute names the columns.
    out_dir : str or PathLike
        Output folder (layout in :mod:`~exprflow.scoring.store`); bound to one model and
        one sample list: a gene already there is skipped, not recomputed.
    gene_ids : sequence of str, optional
        Score only these genes, in this order. Default None: every gene of ``genes``.
    tissues : sequence of str, optional
        Names of the ``T`` columns. Default None: ``heads.tissues`` or ``tissue_<i>``.
    batch_size : int, optional
        Windows per chromatin call. Default 1024.
    genes_per_batch : int, optional
        Genes whose windows share one bank before it is cleared (memory grows with it:
        distinct windows × F × 4 bytes). Default 4.
    save_features : bool, optional
        Also store each row's reduced features as float16. Default False.
    allow_padding : bool, optional
        Score genes whose windows run past a contig end, ``N``-padded. Default False:
        :class:`~exprflow.errors.InputError` naming the gene.
    progress : bool, optional
        Show a tqdm bar over genes. Default True.

    Returns
    -------
    ScoringResult
        Genes scored and skipped, windows requested and evaluated, time.

    Raises
    ------
    InputError
        Unknown gene id, bad gene-table row, TSS too close to a contig end, sample absent
        from the VCF, unphased or missing genotypes, REF mismatches. Gene files are only
        ever written whole.
    """
    if genes_per_batch < 1:
        raise ValueError(f"genes_per_batch must be >= 1, got {genes_per_batch}")
    started = time.perf_counter()
    todo, checked, result = prepare_run(
        genes, genome, vcf, samples, out_dir, gene_ids, allow_padding
    )
    bank = WindowBank(WINDOW)
    with tqdm(total=len(todo), desc="scoring genes", unit="gene", disable=not progress) as bar:
        for first in range(0, len(todo), genes_per_batch):
            group = todo[first : first + genes_per_batch]
            slots = [_gene_slots(bank, genome, vcf, task, checked) for task in group]
            bank.evaluate(chromatin, batch_size)
            for task, gene_slots in zip(group, slots, strict=True):
                outputs = _predict_gene(bank, gene_slots, reduce, heads)
                write_predictions(
                    result.out_dir, task, checked, outputs, tissues, heads, save_features
                )
                result.scored.append(task.gene_id)
                result.padded.extend([task.gene_id] if task.padded else [])
                result.requested += gene_slots.size
                bar.update()
            bank.clear()
    result.evaluations = bank.evaluations
    result.seconds = time.perf_counter() - started
    log.info(
        "scored %d genes (%d skipped) in %.1f s: %d windows requested, %d evaluated (x%.1f)",
        len(result.scored),
        len(result.skipped),
        result.seconds,
        result.requested,
        result.evaluations,
        result.dedup_ratio,
    )
    return result
