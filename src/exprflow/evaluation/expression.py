"""Metrics of predicted against observed expression: the personalized-expression benchmark.

Two halves, as in the evaluation of ExPecto by the personalized-expression benchmark
(Nat Genet 2023, doi 10.1038/s41588-023-01574-w):

Cross-gene (:func:`cross_gene`)
    Reference-genome predictions against observed ``ln(RPKM + pseudocount)`` across
    genes, per tissue: Spearman and Pearson over held-out-chromosome genes (``test_*``)
    and over all genes (``all_*``), and their medians over tissues.
Per-gene cross-individual (:func:`cross_individual`)
    For each gene, the individuals' predicted against their observed expression.

Choices the benchmark repository does not state (also written into the report):

- **Haplotypes** (:func:`~exprflow.evaluation.tables.combine_haplotypes`). A
  haplotype's prediction ``h`` is that of a genome homozygous for it,
  ``ln(RPKM_h + c)``. A diploid's expression is the sum of its two alleles' halves, so
  the individual's prediction is
  ``ln((exp(h1) + exp(h2)) / 2)`` — the additive (allelic) model; the pseudocount ``c``
  passes through unchanged. ``"meanlog"``, ``(h1 + h2) / 2``, is reported as a check.
- **Observed**: ``ln(RPKM + pseudocount)`` of an individual's RPKM averaged over its
  libraries (:func:`~exprflow.data.geuvadis.read_expression` averages replicate
  libraries before the log).
- **Undefined correlations**: genes whose predictions are constant across individuals
  (range ≤ ``constant_tol``, e.g. no variant in any window) or whose observed values are
  constant are counted and left out, as are genes with fewer than
  :data:`~exprflow.evaluation.stats.MIN_VALUES` individuals.
- **Significance**: two-sided Pearson p-value, Benjamini–Hochberg q-value over the
  evaluated genes, significant when ``q < alpha``; the sign is that of Pearson's r and a
  significant negative r is the wrong sign.
- **Planted truth** (:func:`planted_recovery`): a causal gene is recovered when its
  correlation is significant and positive.

Gene ids are compared without version (:func:`~exprflow.data.roadmap.strip_version`).
Tables carry the file they came from in ``attrs["path"]``, used in error messages.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exprflow.data.roadmap import strip_version
from exprflow.errors import InputError
from exprflow.evaluation.stats import MIN_VALUES, UNDEFINED, benjamini_hochberg, correlation
from exprflow.evaluation.tables import REFERENCE_ID_COLUMNS
from exprflow.genome.contigs import chrom_key

__all__ = [
    "CONSTANT_OBSERVED",
    "CONSTANT_PREDICTION",
    "CROSS_GENE_METRICS",
    "EVALUATED",
    "TOO_FEW",
    "CrossGeneResult",
    "CrossIndividualResult",
    "cross_gene",
    "cross_individual",
    "log_expression",
    "planted_recovery",
    "unversioned",
]

#: Per-tissue cross-gene metrics (logged as ``<name>_<tissue>`` and as their median).
CROSS_GENE_METRICS = ("test_spearman", "test_pearson", "all_spearman", "all_pearson")
#: Reason a gene has no cross-individual correlation (``status`` column).
EVALUATED, CONSTANT_PREDICTION, CONSTANT_OBSERVED, TOO_FEW = (
    "evaluated",
    "constant_prediction",
    "constant_observed",
    "too_few_individuals",
)


def _source(frame: pd.DataFrame, default: str) -> str:
    return str(frame.attrs.get("path", default))


def unversioned(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Return ``frame`` indexed by unversioned gene ids, refusing an id found twice.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indexed by gene id (versioned or not).
    source : str
        The file it came from, for the error message.

    Returns
    -------
    pandas.DataFrame
        The same rows, index ``gene_id`` without versions.
    """
    ids = pd.Index(strip_version([str(i) for i in frame.index]), name="gene_id")
    if ids.duplicated().any():
        raise InputError(
            source,
            "gene id appears twice (versions ignored).",
            record=str(ids[ids.duplicated()][0]),
            fix="keep one row per gene.",
        )
    return frame.set_axis(ids, axis=0)


def log_expression(rpkm: pd.DataFrame, pseudocount: float) -> pd.DataFrame:
    """Return ``ln(RPKM + pseudocount)`` (float64), keeping ``attrs``.

    Parameters
    ----------
    rpkm : pandas.DataFrame
        RPKM, genes × tissues or genes × samples.
    pseudocount : float
        Added before the log; ExPecto used 0.01 for Roadmap. Must be > 0.

    Returns
    -------
    pandas.DataFrame
        Same shape and labels.
    """
    if not pseudocount > 0:
        raise ValueError(f"pseudocount must be > 0, got {pseudocount}")
    logged = np.log(rpkm.astype(np.float64) + pseudocount)
    logged.attrs = dict(rpkm.attrs)
    return logged


@dataclass(frozen=True)
class CrossGeneResult:
    """Reference predictions against observed expression across genes.

    Attributes
    ----------
    predicted, observed : pandas.DataFrame
        ``ln(RPKM + c)``, genes (unversioned ids) × shared tissues, aligned.
    test : pandas.Series
        bool per gene: on a held-out chromosome.
    per_tissue : pandas.DataFrame
        Index tissue; columns ``n_genes``, ``n_test_genes`` and
        :data:`CROSS_GENE_METRICS`.
    """

    predicted: pd.DataFrame
    observed: pd.DataFrame
    test: pd.Series
    per_tissue: pd.DataFrame

    def metrics(self, per_tissue: bool = True) -> dict[str, float]:
        """Return the counts and each metric's median over tissues.

        Parameters
        ----------
        per_tissue : bool, default True
            Also each tissue's value, as ``<name>_<tissue>``.

        Returns
        -------
        dict
            ``n_genes``, ``n_test_genes`` and :data:`CROSS_GENE_METRICS` (NaN where
            undefined in every tissue).
        """
        out: dict[str, float] = {"n_genes": len(self.test), "n_test_genes": int(self.test.sum())}
        for name in CROSS_GENE_METRICS:
            values = self.per_tissue[name]
            out[name] = float(values.median()) if values.notna().any() else float("nan")
            if per_tissue:
                out.update({f"{name}_{tissue}": float(v) for tissue, v in values.items()})
        return out


def cross_gene(
    reference: pd.DataFrame, observed: pd.DataFrame, held_out: Collection[str]
) -> CrossGeneResult:
    """Correlate reference predictions with observed expression across genes, per tissue.

    Parameters
    ----------
    reference : pandas.DataFrame
        Columns ``gene_id``, ``chrom`` (``tss``, ``strand`` ignored), then one float
        column per tissue (already ``ln(RPKM + c)``), as read by
        :func:`~exprflow.evaluation.tables.read_reference_predictions`.
    observed : pandas.DataFrame
        ``ln(RPKM + c)``, genes × tissues (e.g. Roadmap, via :func:`log_expression`).
    held_out : Collection of str
        Test chromosomes (``chr`` prefix ignored).

    Returns
    -------
    CrossGeneResult
        Over the genes and tissues the two tables share.

    Raises
    ------
    InputError
        When the tables share no tissue or no gene.
    """
    source = _source(reference, "<reference predictions>")
    obs_source = _source(observed, "<observed expression>")
    table = unversioned(reference.set_index("gene_id"), source)
    observed = unversioned(observed, obs_source)
    columns = [c for c in table.columns if c not in REFERENCE_ID_COLUMNS]
    tissues = [c for c in columns if c in observed.columns]
    if not tissues:
        raise InputError(
            source,
            f"none of its tissue columns {columns[:8]} "
            f"is in {obs_source} (columns {list(observed.columns[:8])}).",
            fix="give the observed table of the predictions' cell types.",
        )
    genes = table.index[table.index.isin(observed.index)]
    if genes.empty:
        raise InputError(
            source,
            f"none of its {len(table)} genes (e.g. {table.index[0]}) is in {obs_source} "
            f"(e.g. {', '.join(map(str, observed.index[:3]))}).",
            fix="give the observed table of the predictions' gene annotation.",
        )
    keys = {chrom_key(c) for c in held_out}
    test = table.loc[genes, "chrom"].map(chrom_key).isin(keys).rename("test")
    predicted = table.loc[genes, tissues].astype(np.float64)
    observed = observed.loc[genes, tissues]
    return CrossGeneResult(predicted, observed, test, _per_tissue(predicted, observed, test))


def _per_tissue(predicted: pd.DataFrame, observed: pd.DataFrame, test: pd.Series) -> pd.DataFrame:
    rows = {}
    mask = test.to_numpy()
    for tissue in predicted.columns:
        x, y = predicted[tissue].to_numpy(), observed[tissue].to_numpy()
        held, every = correlation(x[mask], y[mask]), correlation(x, y)
        rows[tissue] = {
            "n_genes": len(x),
            "n_test_genes": int(mask.sum()),
            "test_spearman": held.spearman,
            "test_pearson": held.pearson,
            "all_spearman": every.spearman,
            "all_pearson": every.pearson,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("tissue")


@dataclass(frozen=True)
class CrossIndividualResult:
    """Per-gene correlation of predicted with observed expression across individuals.

    Attributes
    ----------
    per_gene : pandas.DataFrame
        One row per gene both tables have: ``gene_id`` (unversioned), ``n_individuals``,
        ``spearman``, ``pearson``, ``p_value``, ``q_value`` (Benjamini–Hochberg over the
        evaluated genes), ``significant`` (``q < alpha``), ``status`` (``evaluated``,
        ``constant_prediction``, ``constant_observed`` or ``too_few_individuals``).
    predicted, observed : pandas.DataFrame
        ``ln`` scale, genes × shared samples, aligned.
    alpha : float
        FDR level.
    """

    per_gene: pd.DataFrame
    predicted: pd.DataFrame
    observed: pd.DataFrame
    alpha: float

    def metrics(self) -> dict[str, float]:
        """Return the benchmark's summary metrics (fractions NaN when undefined)."""
        genes = self.per_gene
        status = genes["status"]
        evaluated = genes[status == EVALUATED]
        significant = evaluated[evaluated["significant"]]
        return {
            "cross_individual_spearman_median": _median(evaluated["spearman"]),
            "cross_individual_pearson_median": _median(evaluated["pearson"]),
            "n_individuals": self.predicted.shape[1],
            "n_genes_compared": len(genes),
            "n_genes_evaluated": len(evaluated),
            "n_genes_constant": int((status == CONSTANT_PREDICTION).sum()),
            "n_genes_constant_observed": int((status == CONSTANT_OBSERVED).sum()),
            "n_genes_significant": len(significant),
            "fraction_significant": _ratio(len(significant), len(evaluated)),
            "fraction_wrong_sign": _ratio(
                int((significant["pearson"] < 0).sum()), len(significant)
            ),
        }


def _median(values: pd.Series) -> float:
    return float(values.median()) if len(values) else float("nan")


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def cross_individual(
    predicted: pd.DataFrame,
    observed: pd.DataFrame,
    alpha: float = 0.05,
    constant_tol: float = 1e-6,
) -> CrossIndividualResult:
    """Correlate each gene's predictions with observed expression across individuals.

    Parameters
    ----------
    predicted : pandas.DataFrame
        ``ln`` scale, genes × samples (:func:`~exprflow.evaluation.tables.combine_haplotypes`).
    observed : pandas.DataFrame
        ``ln(RPKM + c)``, genes × samples (GEUVADIS via :func:`log_expression`).
    alpha : float, default 0.05
        Benjamini–Hochberg FDR level.
    constant_tol : float, default 1e-6
        A gene whose predictions span no more than this is constant (float32 rounding of
        identical sequences stays below it).

    Returns
    -------
    CrossIndividualResult
        Over the genes and samples both tables have.

    Raises
    ------
    InputError
        When the tables share no gene or fewer than
        :data:`~exprflow.evaluation.stats.MIN_VALUES` samples.
    """
    source = _source(predicted, "<personalized predictions>")
    obs_source = _source(observed, "<observed expression>")
    predicted, observed = unversioned(predicted, source), unversioned(observed, obs_source)
    genes = predicted.index[predicted.index.isin(observed.index)].sort_values()
    if genes.empty:
        raise InputError(
            source,
            f"none of its {len(predicted)} genes (e.g. {predicted.index[0]}) is in "
            f"{obs_source} (e.g. {', '.join(map(str, observed.index[:3]))}).",
            fix="give the observed table of the predictions' gene annotation.",
        )
    samples = [s for s in predicted.columns if s in observed.columns]
    if len(samples) < MIN_VALUES:
        raise InputError(
            source,
            f"only {len(samples)} of its {predicted.shape[1]} samples are in {obs_source} "
            f"(e.g. {', '.join(map(str, observed.columns[:3]))}); at least {MIN_VALUES} needed.",
            record=f"samples {', '.join(map(str, predicted.columns[:3]))}",
            fix="score the individuals of the observed expression table.",
        )
    predicted = predicted.loc[genes, samples].astype(np.float64)
    observed = observed.loc[genes, samples].astype(np.float64)
    per_gene = _per_gene(predicted.to_numpy(), observed.to_numpy(), constant_tol)
    per_gene.insert(0, "gene_id", genes.to_numpy())
    q = benjamini_hochberg(per_gene["p_value"].to_numpy())
    per_gene.insert(5, "q_value", q)
    per_gene.insert(6, "significant", q < alpha)
    return CrossIndividualResult(per_gene, predicted, observed, alpha)


def _per_gene(predicted: np.ndarray, observed: np.ndarray, constant_tol: float) -> pd.DataFrame:
    rows = []
    for x, y in zip(predicted, observed, strict=True):
        keep = np.isfinite(x) & np.isfinite(y)
        n = int(keep.sum())
        result, status = UNDEFINED, EVALUATED
        if n < MIN_VALUES:
            status = TOO_FEW
        elif np.ptp(x[keep]) <= constant_tol:
            status = CONSTANT_PREDICTION
        elif np.ptp(y[keep]) == 0:
            status = CONSTANT_OBSERVED
        else:
            result = correlation(x[keep], y[keep])
        rows.append((n, *result, status))
    columns = ["n_individuals", "spearman", "pearson", "p_value", "status"]
    return pd.DataFrame(rows, columns=columns)


def planted_recovery(
    per_gene: pd.DataFrame,
    causal_genes: Collection[str] | None = None,
    eqtl_genes: Collection[str] | None = None,
) -> dict[str, float]:
    """Count the planted causal (and eQTL) genes the cross-individual correlation recovers.

    A gene is recovered when its correlation is significant and positive; only genes
    the per-gene table has (both predicted and observed) count.

    Parameters
    ----------
    per_gene : pandas.DataFrame
        :attr:`CrossIndividualResult.per_gene`.
    causal_genes : Collection of str, optional
        Genes with at least one planted causal variant (versions ignored). Default None.
    eqtl_genes : Collection of str, optional
        Genes with a significant eQTL (e.g. the GEUVADIS FDR 5% list). Default None.

    Returns
    -------
    dict
        With ``causal_genes``: ``causal_genes`` (causal genes compared),
        ``causal_genes_recovered``, ``causal_gene_recall`` and
        ``significant_gene_precision`` (significant genes that are causal, either sign);
        with ``eqtl_genes``: ``eqtl_genes``, ``eqtl_genes_recovered``,
        ``eqtl_gene_recall``. Ratios are NaN when their denominator is 0.
    """
    compared = set(per_gene["gene_id"])
    significant = set(per_gene.loc[per_gene["significant"], "gene_id"])
    recovered = set(per_gene.loc[per_gene["significant"] & (per_gene["pearson"] > 0), "gene_id"])
    out: dict[str, float] = {}
    for name, genes in (("causal", causal_genes), ("eqtl", eqtl_genes)):
        if genes is not None:
            known = set(strip_version(list(genes))) & compared
            out[f"{name}_genes"] = len(known)
            out[f"{name}_genes_recovered"] = len(known & recovered)
            out[f"{name}_gene_recall"] = _ratio(len(known & recovered), len(known))
            if name == "causal":
                out["significant_gene_precision"] = _ratio(
                    len(significant & known), len(significant)
                )
    return out
