"""Tiny MLM datasets with planted structure, as ``read_mlm_dataset`` frames, for the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["block_table", "genotype_strings"]

_CODES = np.array(list("RFMB"))


def genotype_strings(father: np.ndarray, mother: np.ndarray) -> list[str]:
    """R/F/M/B strings from 0/1 ALT arrays ``(S, L)`` of the two haplotypes."""
    codes = _CODES[father.astype(int) + 2 * mother.astype(int)]
    return ["".join(row) for row in codes]


def block_table(
    n_samples: int,
    length: int,
    genes: tuple[str, ...] = ("G1", "G2"),
    block: int = 8,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Haplotypes in perfect-LD blocks: every SNP of a block carries the block's allele.

    Returns the table (``split, sample, gene_id, seq``; every sample ``train``) and, per
    gene, the ALT alleles ``(S, 2, L)`` (father, mother).
    """
    rng = np.random.default_rng(seed)
    rows, alleles = [], {}
    n_blocks = -(-length // block)
    for gene in genes:
        draws = rng.random((n_samples, 2, n_blocks)) < rng.uniform(0.2, 0.6, n_blocks)
        hap = np.repeat(draws, block, axis=2)[..., :length]
        alleles[gene] = hap
        for i, seq in enumerate(genotype_strings(hap[:, 0], hap[:, 1])):
            rows.append({"split": "train", "sample": f"S{i:03d}", "gene_id": gene, "seq": seq})
    return pd.DataFrame(rows), alleles
