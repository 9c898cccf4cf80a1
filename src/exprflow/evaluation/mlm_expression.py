"""Expression prediction from haplotype-MLM embeddings, compared with genotype baselines.

Per gene, the test individuals' two haplotype embeddings (:class:`GeneEmbeddings`,
``father`` and ``mother`` ``(S, d)``) are merged (:func:`combine`: sum, mean, concat) and
regressed on observed expression by Ridge, Lasso and SVR under K-fold cross-validation
over samples (:mod:`exprflow.evaluation.mlm_regression`: shuffled, seeded folds, the same
for every method of a gene; features standardised and regularisation chosen inside each
training fold). The observed values are the GEUVADIS RPKM
(:func:`exprflow.data.geuvadis.read_expression`) transformed as the eQTL scan does
(``log2(RPKM + 0.01)``, per-gene rank-inverse-normal over the gene's samples).

Baselines (:mod:`exprflow.evaluation.mlm_baselines`), when dosages are given: the single
best eQTL SNP (max ``|rvalue|`` in the eQTL table among the gene's SNPs) and a
PrediXcan-like elastic net on all dosages, in the same folds; and the table's
``|rvalue|`` itself (``eqtl_table``, in-sample). Out-of-fold predictions made elsewhere
(the fine-tuned model) come in through ``extra_predictions``; they must be on the
transformed scale for R² to mean anything (r is scale-free).

:func:`compare_expression` returns an :class:`ExpressionComparison`: the long table
(:data:`~exprflow.evaluation.mlm_regression.TABLE_COLUMNS`, one row per gene and method)
and the summary per method. :func:`write_comparison` writes both as CSV with a figure and
:func:`comparison_metrics` flattens the summary into MLflow metrics (both defined in
:mod:`exprflow.evaluation.mlm_expression_report`, re-exported here).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from exprflow.errors import InputError
from exprflow.evaluation.mlm_baselines import (
    BASELINE,
    GeneDosages,
    best_eqtl_baseline,
    elastic_net_baseline,
    eqtl_table_row,
)
from exprflow.evaluation.mlm_expression_report import (
    MLM,
    best_mlm,
    comparison_metrics,
    summarise,
    write_comparison,
)
from exprflow.evaluation.mlm_regression import (
    COMBINATIONS,
    TABLE_COLUMNS,
    combine,
    make_model,
    out_of_fold,
    result_row,
    sample_folds,
    transform_expression,
)

__all__ = [
    "EMBEDDING_MODELS",
    "EXTRA",
    "MLM",
    "NO_DOSAGES",
    "ExpressionComparison",
    "ExpressionSettings",
    "GeneEmbeddings",
    "compare_expression",
    "comparison_metrics",
    "observed_expression",
    "summarise",
    "write_comparison",
]

_LOG = logging.getLogger(__name__)

#: ``family`` of rows from predictions passed in (embedding rows are ``MLM``).
EXTRA = "extra"
#: Regressions run on the embeddings.
EMBEDDING_MODELS = ("ridge", "lasso", "svr")
#: ``status`` of baseline rows of a gene without dosages.
NO_DOSAGES = "no_dosages"


@dataclass(frozen=True)
class GeneEmbeddings:
    """One gene's pooled embeddings of the two haplotypes of each sample.

    Attributes
    ----------
    gene_id : str
        Gene id as in the expression table.
    samples : tuple of str
        Sample ids, the rows of ``father`` and ``mother`` (unique).
    father, mother : numpy.ndarray
        ``(S, d)`` float: haplotype 0 (the VCF's second allele) and haplotype 1.
    """

    gene_id: str
    samples: tuple[str, ...]
    father: np.ndarray = field(repr=False)
    mother: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        """Check shapes, finiteness and unique samples."""
        f, m = np.shape(self.father), np.shape(self.mother)
        if len(f) != 2 or f != m or f[0] != len(self.samples):
            raise ValueError(
                f"gene {self.gene_id}: father and mother must both be "
                f"(samples={len(self.samples)}, d); got {f} and {m}"
            )
        if not (np.isfinite(self.father).all() and np.isfinite(self.mother).all()):
            raise ValueError(f"gene {self.gene_id}: embeddings hold NaN or infinite values")
        if len(set(self.samples)) != len(self.samples):
            raise ValueError(f"gene {self.gene_id}: sample ids repeat")

    @classmethod
    def from_stacked(
        cls, gene_id: str, samples: Sequence[str], vectors: np.ndarray
    ) -> GeneEmbeddings:
        """Build from a ``(S, 2, d)`` array (haplotype 0 father, 1 mother).

        Parameters
        ----------
        gene_id : str
            The gene.
        samples : sequence of str
            ``S`` sample ids.
        vectors : numpy.ndarray
            ``(S, 2, d)``, as stored by :func:`exprflow.embedding.mlm_embed.write_mlm_embeddings`.

        Returns
        -------
        GeneEmbeddings
        """
        v = np.asarray(vectors)
        if v.ndim != 3 or v.shape[1] != 2:
            raise ValueError(f"gene {gene_id}: vectors must be (S, 2, d), got {v.shape}")
        return cls(gene_id, tuple(samples), v[:, 0], v[:, 1])


@dataclass(frozen=True)
class ExpressionSettings:
    """How the comparison is run.

    Attributes
    ----------
    combinations : tuple of str, default ("sum", "mean", "concat")
        Haplotype merges compared.
    models : tuple of str, default ("ridge", "lasso", "svr")
        Regressions on the embeddings.
    n_folds : int, default 5
        Outer K-fold CV over samples.
    seed : int, default 0
        Seed of the outer and inner folds.
    transform : {"rank_inverse_normal", "zscore"}, default "rank_inverse_normal"
        Per-gene transform after ``log2(RPKM + 0.01)``.
    r_threshold : float, default 0.3
        A gene counts in ``n_r_above`` when its r exceeds this.
    n_jobs : int, default 1
        Genes scored in parallel (joblib; -1: every core). Each fit uses one BLAS
        thread: on these small matrices more threads only slow it down.
    """

    combinations: tuple[str, ...] = COMBINATIONS
    models: tuple[str, ...] = EMBEDDING_MODELS
    n_folds: int = 5
    seed: int = 0
    transform: Literal["rank_inverse_normal", "zscore"] = "rank_inverse_normal"
    r_threshold: float = 0.3
    n_jobs: int = 1

    def __post_init__(self) -> None:
        """Refuse unknown combinations and models."""
        for name, given, allowed in (
            ("combinations", self.combinations, COMBINATIONS),
            ("models", self.models, EMBEDDING_MODELS),
        ):
            unknown = sorted(set(given) - set(allowed))
            if unknown:
                raise ValueError(f"{name} {unknown} unknown; choose from {allowed}")


@dataclass(frozen=True)
class ExpressionComparison:
    """Per-gene scores of every method and their summary.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`~exprflow.evaluation.mlm_regression.TABLE_COLUMNS`, one row per
        gene × (method, features).
    summary : pandas.DataFrame
        Columns :data:`~exprflow.evaluation.mlm_expression_report.SUMMARY_COLUMNS`,
        one row per (family, method, features), best median r first.
    settings : ExpressionSettings
        What was run.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    settings: ExpressionSettings

    def best_mlm(self) -> tuple[str, str] | None:
        """(method, features) of the embedding regression with the highest median r."""
        return best_mlm(self.summary)


def _source(expression: pd.DataFrame) -> str:
    return str(expression.attrs.get("path", "expression table"))


def observed_expression(
    expression: pd.DataFrame,
    gene_id: str,
    samples: Sequence[str],
    how: Literal["rank_inverse_normal", "zscore"] = "rank_inverse_normal",
) -> np.ndarray:
    """The regression target of one gene: its RPKM over ``samples``, transformed.

    Parameters
    ----------
    expression : pandas.DataFrame
        Genes × samples RPKM (:func:`exprflow.data.geuvadis.read_expression`);
        ``attrs["path"]`` names it in errors.
    gene_id : str
        Row to use.
    samples : sequence of str
        Columns to use, in this order.
    how : {"rank_inverse_normal", "zscore"}, default "rank_inverse_normal"
        :func:`~exprflow.evaluation.mlm_regression.transform_expression`.

    Returns
    -------
    numpy.ndarray
        float64 ``(S,)``.
    """
    if gene_id not in expression.index:
        raise InputError(
            _source(expression),
            f"gene {gene_id} is not in the expression table ({len(expression)} genes).",
            record=gene_id,
            fix="embed genes that the expression table holds (same versioned ids).",
        )
    missing = [s for s in samples if s not in expression.columns]
    if missing:
        raise InputError(
            _source(expression),
            f"{len(missing)} of {len(samples)} samples have no expression: "
            f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}.",
            record=f"gene {gene_id}",
            fix="embed only samples of the expression table (the test split).",
        )
    return transform_expression(expression.loc[gene_id, list(samples)].to_numpy(float), how)


def _embedding_rows(
    emb: GeneEmbeddings, observed: np.ndarray, folds: np.ndarray, settings: ExpressionSettings
) -> list[dict[str, Any]]:
    rows = []
    for how in settings.combinations:
        x = combine(emb.father, emb.mother, how)  # type: ignore[arg-type]
        for name in settings.models:
            predicted = out_of_fold(make_model(name, seed=settings.seed), x, observed, folds)
            rows.append(result_row(emb.gene_id, MLM, name, how, observed, predicted))
    return rows


def _baseline_rows(
    gene: str,
    dosages: GeneDosages | None,
    eqtls: pd.DataFrame | None,
    observed: np.ndarray,
    folds: np.ndarray,
    seed: int,
) -> list[dict[str, Any]]:
    rows = [] if eqtls is None else [eqtl_table_row(gene, eqtls)]
    if dosages is None:
        methods = [("elastic_net", "dosages")]
        if eqtls is not None:
            methods.insert(0, ("best_eqtl_snp", "dosage"))
        return rows + [result_row(gene, BASELINE, m, f, status=NO_DOSAGES) for m, f in methods]
    if eqtls is not None:
        rows.append(best_eqtl_baseline(dosages, eqtls, observed, folds))
    rows.append(elastic_net_baseline(dosages, observed, folds, seed))
    return rows


def _extra_rows(
    method: str,
    predictions: pd.DataFrame,
    expression: pd.DataFrame,
    samples_of: Mapping[str, tuple[str, ...]],
    transform: Literal["rank_inverse_normal", "zscore"],
) -> list[dict[str, Any]]:
    rows = []
    for gene in predictions.index.astype(str):
        values = predictions.loc[gene]
        samples = samples_of.get(gene, tuple(values.index[values.notna()].astype(str)))
        missing = [s for s in samples if s not in values.index or pd.isna(values.get(s))]
        if missing:
            raise ValueError(
                f"extra predictions {method!r}, gene {gene}: no prediction for "
                f"{len(missing)} sample(s): {', '.join(missing[:10])}"
            )
        observed = observed_expression(expression, gene, samples, transform)
        predicted = values[list(samples)].to_numpy(float)
        rows.append(result_row(gene, EXTRA, method, "predictions", observed, predicted))
    return rows


def _gene_inputs(
    emb: GeneEmbeddings,
    expression: pd.DataFrame,
    eqtls: pd.DataFrame | None,
    dosages: Mapping[str, GeneDosages] | None,
    settings: ExpressionSettings,
) -> tuple[GeneEmbeddings, np.ndarray, GeneDosages | None, pd.DataFrame | None, bool]:
    """Checked inputs of one gene: embeddings, target, aligned dosages, eQTL rows, baselines."""
    observed = observed_expression(expression, emb.gene_id, emb.samples, settings.transform)
    gene_dosages = None if dosages is None else dosages.get(emb.gene_id)
    if gene_dosages is not None:
        gene_dosages = gene_dosages.aligned(emb.samples)
    gene_eqtls = None if eqtls is None else eqtls[eqtls["GENE_ID"].astype(str) == emb.gene_id]
    return emb, observed, gene_dosages, gene_eqtls, dosages is not None or eqtls is not None


def _score_gene(
    emb: GeneEmbeddings,
    observed: np.ndarray,
    dosages: GeneDosages | None,
    eqtls: pd.DataFrame | None,
    baselines: bool,
    settings: ExpressionSettings,
) -> list[dict[str, Any]]:
    """Every row of one gene (one BLAS thread: the matrices are small)."""
    folds = sample_folds(len(emb.samples), settings.n_folds, settings.seed)
    with threadpool_limits(limits=1, user_api="blas"):
        rows = _embedding_rows(emb, observed, folds, settings)
        if baselines:
            rows += _baseline_rows(emb.gene_id, dosages, eqtls, observed, folds, settings.seed)
    _LOG.debug("scored gene %s", emb.gene_id)
    return rows


def compare_expression(
    embeddings: Sequence[GeneEmbeddings],
    expression: pd.DataFrame,
    *,
    eqtls: pd.DataFrame | None = None,
    dosages: Mapping[str, GeneDosages] | None = None,
    extra_predictions: Mapping[str, pd.DataFrame] | None = None,
    settings: ExpressionSettings | None = None,
) -> ExpressionComparison:
    """Score every method on every gene by cross-validated Pearson r and R².

    Parameters
    ----------
    embeddings : sequence of GeneEmbeddings
        One per gene (unique genes).
    expression : pandas.DataFrame
        Genes × samples RPKM (:func:`exprflow.data.geuvadis.read_expression`); put the
        file in ``expression.attrs["path"]`` for error messages.
    eqtls : pandas.DataFrame, optional
        EUR373-layout table (:func:`exprflow.data.geuvadis.read_eqtls`); without it the
        eQTL rows are left out.
    dosages : mapping of str to GeneDosages, optional
        Per gene dosages covering at least the embeddings' samples; without it the
        genotype baselines are left out, and a gene absent from it gets ``no_dosages``.
    extra_predictions : mapping of str to pandas.DataFrame, optional
        Method name → genes × samples out-of-fold predictions on the transformed scale
        (rows ``family="extra"``, ``features="predictions"``). A gene that was embedded
        is scored on the embeddings' samples, another on its non-NaN columns.
    settings : ExpressionSettings, optional
        Default :class:`ExpressionSettings()`.

    Returns
    -------
    ExpressionComparison
    """
    settings = settings or ExpressionSettings()
    genes = [e.gene_id for e in embeddings]
    if len(set(genes)) != len(genes):
        raise ValueError(
            f"embeddings repeat genes: {sorted({g for g in genes if genes.count(g) > 1})}"
        )
    tasks = [_gene_inputs(emb, expression, eqtls, dosages, settings) for emb in embeddings]
    if settings.n_jobs == 1:
        scored = [_score_gene(*task, settings) for task in tasks]
    else:
        parallel = Parallel(n_jobs=settings.n_jobs)
        scored = parallel(delayed(_score_gene)(*task, settings) for task in tasks)
    rows = [row for gene_rows in scored for row in gene_rows]
    samples_of = {e.gene_id: e.samples for e in embeddings}
    for method, predictions in (extra_predictions or {}).items():
        rows += _extra_rows(method, predictions, expression, samples_of, settings.transform)
    table = pd.DataFrame.from_records(rows, columns=list(TABLE_COLUMNS))
    return ExpressionComparison(table, summarise(table, settings.r_threshold), settings)
