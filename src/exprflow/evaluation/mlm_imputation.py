"""How well the masked model imputes masked SNPs: haplotype and genotype metrics.

:func:`evaluate_imputation` masks individuals' haplotypes as in training (seeded, so
every evaluation sees the same masks) and reports, over the masked SNPs:

- haplotype mode (one haplotype per item, as published): ``masked_accuracy`` (pooled),
  ``masked_accuracy_batch_mean`` (the published per-batch mean), ``iqs`` (Cohen's kappa
  on R/A alleles), ``recall_R``, ``recall_A``;
- genotype mode (both haplotypes of an individual, masked at the same SNPs):
  ``genotype_accuracy`` and ``phased_iqs`` on R/F/M/B, ``dosage_accuracy`` and
  ``genotype_iqs`` (Lin et al. 2010) on 0/1/2 ALT counts.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from exprflow.data.mlm_haplotypes import (
    GenotypeDataset,
    HaplotypeDataset,
    LengthBatchSampler,
    collate_genotypes,
    collate_haplotypes,
)
from exprflow.evaluation.mlm_metrics import GenotypeMetrics, MaskedMetrics
from exprflow.models.mlm.model import HaplotypeMLM
from exprflow.training.mlm_masking import MaskSettings

__all__ = ["evaluate_imputation"]


@torch.no_grad()
def evaluate_imputation(
    model: HaplotypeMLM,
    table: pd.DataFrame,
    gene_index: Mapping[str, int],
    settings: MaskSettings,
    *,
    seed: int = 20_000,
    batch_size: int = 32,
    maf: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Haplotype- and genotype-mode imputation metrics of ``model`` on ``table``'s rows.

    Parameters
    ----------
    model : HaplotypeMLM
        Evaluated in eval mode (its mode is restored).
    table : pd.DataFrame
        :func:`~exprflow.data.mlm_dataset.read_mlm_dataset` rows.
    gene_index : mapping of str to int
        Gene id → segment label.
    settings : MaskSettings
        The masking (as in training).
    seed : int, optional
        Seed of the masks. Default 20,000.
    batch_size : int, optional
        Items per forward pass. Default 32.
    maf : mapping of str to numpy.ndarray, optional
        Per-gene MAF, for MAF-stratified masking.

    Returns
    -------
    dict of str to float
        The metrics of the module docstring.
    """
    was_training = model.training
    model.eval()
    table = table.reset_index(drop=True)
    batches = LengthBatchSampler(table, batch_size, shuffle=False)
    haplotypes = MaskedMetrics()
    loader = DataLoader(
        HaplotypeDataset(table, gene_index, settings, seed, maf=maf),
        batch_sampler=batches,
        collate_fn=collate_haplotypes,
    )
    for batch in loader:
        logits, _ = model(batch["x"], batch["gene"])
        haplotypes.update(logits.float(), batch["labels"])
    genotypes = GenotypeMetrics()
    loader = DataLoader(
        GenotypeDataset(table, gene_index, settings, seed, maf=maf),
        batch_sampler=batches,
        collate_fn=collate_genotypes,
    )
    for batch in loader:
        logits, _ = model(batch["x"], batch["gene"])
        genotypes.update(logits.float(), batch["labels"])
    model.train(was_training)
    return haplotypes.summary() | genotypes.summary()
