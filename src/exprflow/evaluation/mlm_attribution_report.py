"""Files of the SNP attribution: ranking, recovery and enrichment tables, and plots.

:func:`write_attribution` writes into one folder, each file atomically:

- ``snp_rankings.csv.gz``: every gene's ranking (``rank_snps`` columns, gene first);
- ``planted_recovery.csv`` and ``causal_ranks.csv``: :class:`PlantedRecovery` tables;
- ``chromatin_enrichment.csv``: :func:`chromatin_enrichment`'s table;
- ``snp_attribution.png``: for a few genes, the score (mean |effect|) of each SNP along
  its position, planted causal variants marked (genes with ranked causal variants first);
- ``planted_recovery.png``: precision@k and recall@k against a random ranking's.

Figures use :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.atomic import atomic_path
from exprflow.evaluation.mlm_enrichment import PlantedRecovery

__all__ = [
    "CAUSAL_RANKS_FILE",
    "ENRICHMENT_FILE",
    "GENE_PLOT_FILE",
    "RANKINGS_FILE",
    "RECOVERY_FILE",
    "RECOVERY_PLOT_FILE",
    "plot_recovery",
    "plot_snp_scores",
    "write_attribution",
]

RANKINGS_FILE = "snp_rankings.csv.gz"
RECOVERY_FILE = "planted_recovery.csv"
CAUSAL_RANKS_FILE = "causal_ranks.csv"
ENRICHMENT_FILE = "chromatin_enrichment.csv"
GENE_PLOT_FILE = "snp_attribution.png"
RECOVERY_PLOT_FILE = "planted_recovery.png"
_COLUMNS = 3


def _write_csv(table: pd.DataFrame, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        table.to_csv(tmp, index=False)
    return dest


def _save(figure: Figure, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return dest


def _plotted_genes(
    rankings: Mapping[str, pd.DataFrame], causal_ranks: pd.DataFrame | None, n_genes: int
) -> list[str]:
    """Genes with ranked planted variants (best rank first), then the others in order."""
    first: list[str] = []
    if causal_ranks is not None:
        ranked = causal_ranks.dropna(subset=["rank"]).sort_values("rank", kind="stable")
        known = {str(g).split(".", 1)[0]: g for g in rankings}
        for gene in ranked["gene_id"]:
            name = known.get(str(gene).split(".", 1)[0])
            if name is not None and name not in first:
                first.append(name)
    rest = [g for g in rankings if g not in first]
    return (first + rest)[:n_genes]


def plot_snp_scores(
    rankings: Mapping[str, pd.DataFrame],
    dest: str | os.PathLike[str],
    causal_ranks: pd.DataFrame | None = None,
    *,
    n_genes: int = 6,
) -> Path:
    """Plot each SNP's score along its position for a few genes, causal variants marked.

    Parameters
    ----------
    rankings : mapping of str to pandas.DataFrame
        Gene id → ``rank_snps`` table (``pos``, ``score``, ``rank``).
    dest : str or PathLike
        PNG to write (atomically).
    causal_ranks : pandas.DataFrame, optional
        ``PlantedRecovery.causal_ranks``; its ranked variants are marked and their genes
        plotted first. Default None (no marks, the first genes of ``rankings``).
    n_genes : int, optional
        Panels at most. Default 6.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    genes = _plotted_genes(rankings, causal_ranks, n_genes)
    cols = max(1, min(_COLUMNS, len(genes)))
    rows = max(1, math.ceil(len(genes) / cols))
    figure = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[len(genes) :]:
        ax.set_visible(False)
    for ax, gene in zip(axes, genes, strict=False):
        ranking = rankings[gene].sort_values("pos")
        ax.plot(ranking["pos"] / 1e6, ranking["score"], ".", ms=3, color="0.4")
        marks = _causal_of(gene, causal_ranks)
        hits = ranking[ranking["pos"].isin(marks["pos"])]
        ax.plot(hits["pos"] / 1e6, hits["score"], "v", color="crimson", ms=8, label="planted")
        title = gene if hits.empty else f"{gene} (planted rank {int(hits['rank'].min())})"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("position (Mb)")
        ax.set_ylabel("mean |effect|")
    if len(genes) == 0:
        axes[0].text(0.5, 0.5, "no genes", ha="center", transform=axes[0].transAxes)
    return _save(figure, Path(dest))


def _causal_of(gene: str, causal_ranks: pd.DataFrame | None) -> pd.DataFrame:
    """The planted variants of ``gene`` that were ranked."""
    if causal_ranks is None:
        return pd.DataFrame({"pos": []})
    key = str(gene).split(".", 1)[0]
    same = causal_ranks["gene_id"].map(lambda g: str(g).split(".", 1)[0]) == key
    return causal_ranks[same & causal_ranks["rank"].notna()]


def plot_recovery(recovery: PlantedRecovery, dest: str | os.PathLike[str]) -> Path:
    """Plot precision@k and recall@k of the planted variants against random rankings.

    Parameters
    ----------
    recovery : PlantedRecovery
        :func:`~exprflow.evaluation.mlm_enrichment.planted_recovery`'s result.
    dest : str or PathLike
        PNG to write (atomically).

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    summary = recovery.summary
    figure = Figure(figsize=(8.0, 3.2), layout="constrained")
    FigureCanvasAgg(figure)
    for ax, metric in zip(figure.subplots(1, 2), ("precision", "recall"), strict=True):
        ax.plot(summary["k"], summary[metric], "o-", label="attribution")
        ax.plot(summary["k"], summary[f"random_{metric}"], "s--", color="0.5", label="random")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("top k SNPs per gene")
        ax.set_ylabel(f"{metric}@k")
        ax.legend(fontsize=8)
    n_genes = int(summary["n_genes"].max()) if len(summary) else 0
    figure.suptitle(f"planted causal variants ({n_genes} genes)", fontsize=10)
    return _save(figure, Path(dest))


def write_attribution(
    out_dir: str | os.PathLike[str],
    rankings: Mapping[str, pd.DataFrame],
    recovery: PlantedRecovery | None = None,
    enrichment: pd.DataFrame | None = None,
    *,
    n_genes_plotted: int = 6,
) -> dict[str, Path]:
    """Write the attribution tables and plots into ``out_dir``.

    Parameters
    ----------
    out_dir : str or PathLike
        Folder (created if missing).
    rankings : mapping of str to pandas.DataFrame
        Gene id → ``rank_snps`` table.
    recovery : PlantedRecovery, optional
        Planted-variant recovery; its tables and plot are skipped when None.
    enrichment : pandas.DataFrame, optional
        ``chromatin_enrichment`` table; skipped when None.
    n_genes_plotted : int, optional
        Genes in the SNP score plot. Default 6.

    Returns
    -------
    dict of str to pathlib.Path
        File name constant (e.g. :data:`RANKINGS_FILE`) → written path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = [r.assign(gene_id=str(g)) for g, r in rankings.items()]
    columns = ["gene_id", *(c for c in (tables[0].columns if tables else []) if c != "gene_id")]
    written = {
        RANKINGS_FILE: _write_csv(
            pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(),
            out / RANKINGS_FILE,
        )
    }
    causal_ranks = recovery.causal_ranks if recovery is not None else None
    written[GENE_PLOT_FILE] = plot_snp_scores(
        rankings, out / GENE_PLOT_FILE, causal_ranks, n_genes=n_genes_plotted
    )
    if recovery is not None:
        written[RECOVERY_FILE] = _write_csv(recovery.summary, out / RECOVERY_FILE)
        written[CAUSAL_RANKS_FILE] = _write_csv(recovery.causal_ranks, out / CAUSAL_RANKS_FILE)
        written[RECOVERY_PLOT_FILE] = plot_recovery(recovery, out / RECOVERY_PLOT_FILE)
    if enrichment is not None:
        written[ENRICHMENT_FILE] = _write_csv(enrichment, out / ENRICHMENT_FILE)
    return written
