"""Genotype baselines of the MLM expression comparison: best eQTL SNP and elastic net.

Inputs are per-gene ALT dosages of the samples over the gene's SNPs
(:class:`GeneDosages`; :func:`genotype_dosages` makes them from the MLM dataset's
``R/F/M/B/N`` strings, ``N`` as NaN, mean-imputed inside each training fold) and the
GEUVADIS EUR373-layout eQTL table (:func:`exprflow.data.geuvadis.read_eqtls`: ``GENE_ID``,
``CHR_SNP`` without ``chr``, 1-based ``SNPpos``, signed ``rvalue``).

- :func:`best_eqtl_baseline`: the gene's eQTL with the largest ``|rvalue|`` among the
  gene's SNPs (:func:`best_eqtl_snp`: a table row matches a SNP on position, on
  chromosome when both give one, and on id when both ids are informative), regressed out
  of fold by least squares on its dosage (method ``best_eqtl_snp``).
- :func:`eqtl_table_row`: the table's own largest ``|rvalue|`` for the gene, an
  in-sample reference (method ``eqtl_table``).
- :func:`elastic_net_baseline`: PrediXcan-like ElasticNetCV (l1_ratio 0.5) on all the
  gene's dosages, inside the same outer folds (method ``elastic_net``).

Each returns result rows (:func:`~exprflow.evaluation.mlm_regression.result_row`); a
gene that cannot be scored gets NaN with its ``status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exprflow.evaluation.mlm_regression import make_model, out_of_fold, result_row

__all__ = [
    "BASELINE",
    "NO_EQTL",
    "NO_MATCHING_SNP",
    "NO_SNPS",
    "GeneDosages",
    "best_eqtl_baseline",
    "best_eqtl_snp",
    "elastic_net_baseline",
    "eqtl_table_row",
    "genotype_dosages",
]

#: ``family`` of the genotype baselines.
BASELINE = "baseline"
#: ``status`` of a baseline row that could not be scored.
NO_EQTL, NO_MATCHING_SNP, NO_SNPS = "no_eqtl", "no_eqtl_among_snps", "no_snps"
_DOSAGE = {"R": 0.0, "F": 1.0, "M": 1.0, "B": 2.0, "N": np.nan}
_NO_ID = {"", ".", "-", "nan"}


@dataclass(frozen=True)
class GeneDosages:
    """ALT dosages of the samples over one gene's SNPs.

    Attributes
    ----------
    gene_id : str
        Gene id as in the expression and eQTL tables.
    samples : tuple of str
        Sample ids, the rows of ``dosages``.
    dosages : numpy.ndarray
        float64 ``(S, V)``: 0, 1 or 2 ALT alleles, NaN unknown.
    snps : pandas.DataFrame
        ``V`` rows in column order: ``pos`` (1-based) required, ``id`` and ``chrom``
        optional (``meta.csv.gz`` rows of the gene).
    """

    gene_id: str
    samples: tuple[str, ...]
    dosages: np.ndarray = field(repr=False)
    snps: pd.DataFrame = field(repr=False)

    def __post_init__(self) -> None:
        """Check that samples, dosages and SNPs agree."""
        shape = np.shape(self.dosages)
        if len(shape) != 2 or shape != (len(self.samples), len(self.snps)):
            raise ValueError(
                f"gene {self.gene_id}: dosages must have shape (samples, SNPs) = "
                f"({len(self.samples)}, {len(self.snps)}), got {shape}"
            )
        if "pos" not in self.snps.columns:
            raise ValueError(
                f"gene {self.gene_id}: snps needs a 'pos' column, got {list(self.snps.columns)}"
            )

    def aligned(self, samples: Sequence[str]) -> GeneDosages:
        """The same dosages with rows in the order of ``samples`` (all must be present).

        Parameters
        ----------
        samples : sequence of str
            Wanted row order (e.g. the embeddings' samples).

        Returns
        -------
        GeneDosages
        """
        row = {s: i for i, s in enumerate(self.samples)}
        missing = [s for s in samples if s not in row]
        if missing:
            raise ValueError(
                f"gene {self.gene_id}: dosages lack {len(missing)} sample(s) of the "
                f"embeddings: {', '.join(missing[:10])}"
            )
        order = [row[s] for s in samples]
        return GeneDosages(self.gene_id, tuple(samples), self.dosages[order], self.snps)


def genotype_dosages(seqs: Sequence[str]) -> np.ndarray:
    """ALT dosages from genotype strings of the MLM dataset.

    Parameters
    ----------
    seqs : sequence of str
        One ``R/F/M/B/N`` string per sample, all the same length ``V``.

    Returns
    -------
    numpy.ndarray
        float64 ``(S, V)``: R→0, F/M→1, B→2, N→NaN.
    """
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ValueError(f"genotype strings differ in length: {sorted(lengths)}")
    codes = np.array([list(s) for s in seqs], dtype="U1").reshape(len(seqs), -1)
    bad = sorted(set(map(str, np.unique(codes))) - set(_DOSAGE))
    if bad:
        raise ValueError(f"genotype strings may hold only R, F, M, B, N; found {bad}")
    out = np.full(codes.shape, np.nan)
    for code, value in _DOSAGE.items():
        out[codes == code] = value
    return out


def _informative(ids: pd.Series) -> pd.Series:
    return ~ids.astype(str).isin(_NO_ID)


def best_eqtl_snp(dosages: GeneDosages, eqtls: pd.DataFrame) -> tuple[int, pd.Series] | None:
    """The gene's eQTL with the largest ``|rvalue|`` that is one of its SNPs.

    Parameters
    ----------
    dosages : GeneDosages
        The gene's SNPs (``snps`` rows).
    eqtls : pandas.DataFrame
        EUR373-layout table (any genes).

    Returns
    -------
    (int, pandas.Series) or None
        Column index of that SNP in ``dosages.dosages`` and its table row; None when no
        eQTL of the gene is among its SNPs.
    """
    rows = eqtls[eqtls["GENE_ID"].astype(str) == dosages.gene_id]
    keep = [c for c in ("pos", "id", "chrom") if c in dosages.snps.columns]
    snps = dosages.snps[keep].reset_index(drop=True).assign(_column=np.arange(len(dosages.snps)))
    merged = rows.merge(snps, left_on="SNPpos", right_on="pos", how="inner")
    if "chrom" in merged.columns:
        chrom = merged["chrom"].astype(str).str.removeprefix("chr")
        merged = merged[chrom == merged["CHR_SNP"].astype(str).str.removeprefix("chr")]
    if "id" in merged.columns:
        both = _informative(merged["id"]) & _informative(merged["SNP_ID"])
        merged = merged[~both | (merged["id"].astype(str) == merged["SNP_ID"].astype(str))]
    if merged.empty:
        return None
    best = merged.loc[merged["rvalue"].abs().idxmax()]
    return int(best["_column"]), best


def eqtl_table_row(gene_id: str, eqtls: pd.DataFrame) -> dict[str, Any]:
    """Row ``eqtl_table``: the table's largest ``|rvalue|`` for the gene, for reference.

    Parameters
    ----------
    gene_id : str
        The gene.
    eqtls : pandas.DataFrame
        EUR373-layout table.

    Returns
    -------
    dict
        r = max ``|rvalue|``, r2 its square (in-sample, on the table's population;
        n_samples NaN), ``detail`` the SNP; status ``no_eqtl`` when the gene has none.
    """
    rows = eqtls[eqtls["GENE_ID"].astype(str) == gene_id]
    if rows.empty:
        return result_row(gene_id, BASELINE, "eqtl_table", "rvalue", status=NO_EQTL)
    lead = rows.loc[rows["rvalue"].abs().idxmax()]
    row = result_row(gene_id, BASELINE, "eqtl_table", "rvalue", detail=str(lead["SNP_ID"]))
    row.update(r=abs(float(lead["rvalue"])), r2=float(lead["rvalue"]) ** 2)
    return row


def best_eqtl_baseline(
    dosages: GeneDosages, eqtls: pd.DataFrame, observed: np.ndarray, folds: np.ndarray
) -> dict[str, Any]:
    """Row ``best_eqtl_snp``: out-of-fold least squares on the best eQTL SNP's dosage.

    Parameters
    ----------
    dosages : GeneDosages
        The gene's dosages, rows in the order of ``observed``.
    eqtls : pandas.DataFrame
        EUR373-layout table.
    observed : numpy.ndarray
        ``(S,)`` transformed expression.
    folds : numpy.ndarray
        ``(S,)`` fold per sample.

    Returns
    -------
    dict
        The result row (``detail``: the SNP and its ``rvalue``); status ``no_eqtl`` or
        ``no_eqtl_among_snps`` when there is no SNP to use.
    """
    gene = dosages.gene_id
    if not (eqtls["GENE_ID"].astype(str) == gene).any():
        return result_row(gene, BASELINE, "best_eqtl_snp", "dosage", status=NO_EQTL)
    found = best_eqtl_snp(dosages, eqtls)
    if found is None:
        return result_row(gene, BASELINE, "best_eqtl_snp", "dosage", status=NO_MATCHING_SNP)
    column, best = found
    x = dosages.dosages[:, [column]]
    predicted = out_of_fold(make_model("linear", impute=True), x, observed, folds)
    detail = f"{best['SNP_ID']} (rvalue {float(best['rvalue']):.3f})"
    return result_row(gene, BASELINE, "best_eqtl_snp", "dosage", observed, predicted, detail=detail)


def elastic_net_baseline(
    dosages: GeneDosages, observed: np.ndarray, folds: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Row ``elastic_net`` of one gene: ElasticNetCV (l1_ratio 0.5) on all its dosages.

    Parameters
    ----------
    dosages : GeneDosages
        The gene's dosages, rows in the order of ``observed``.
    observed : numpy.ndarray
        ``(S,)`` transformed expression.
    folds : numpy.ndarray
        ``(S,)`` fold per sample.
    seed : int, default 0
        Seed of the inner CV.

    Returns
    -------
    dict
        The result row (``detail``: number of SNPs).
    """
    gene, x = dosages.gene_id, dosages.dosages
    detail = f"{x.shape[1]} SNPs"
    if x.shape[1] == 0:
        return result_row(gene, BASELINE, "elastic_net", "dosages", status=NO_SNPS, detail=detail)
    model = make_model("elastic_net", impute=True, seed=seed)
    predicted = out_of_fold(model, x, observed, folds)
    return result_row(gene, BASELINE, "elastic_net", "dosages", observed, predicted, detail=detail)
