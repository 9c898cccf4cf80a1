"""Summary, MLflow metrics, CSV files and figure of the MLM expression comparison.

- :func:`summarise`: one row per (family, method, features) of the long table
  (:data:`~exprflow.evaluation.mlm_regression.TABLE_COLUMNS`) — genes, evaluated genes,
  median and mean r and R², genes with r above a threshold (:data:`SUMMARY_COLUMNS`);
  :func:`best_mlm` picks the embedding regression with the highest median r.
- :func:`comparison_metrics`: the summary as flat MLflow metrics.
- :func:`write_comparison`: ``expression_comparison.csv`` (long table),
  ``expression_summary.csv`` and ``expression_comparison.png`` (:data:`COMPARISON_FILES`),
  each written atomically.
- :func:`plot_expression_comparison`: two panels — per method (``method·features``, best
  median r first) a box plot of the genes' out-of-fold r with the genes as jittered
  points; and per gene, r of the best embedding regression (y) against r of the single
  best eQTL SNP (x), with the diagonal. Built like :mod:`exprflow.evaluation.plots`
  (matplotlib Figure on the Agg canvas, no pyplot).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.atomic import atomic_path

if TYPE_CHECKING:
    from exprflow.evaluation.mlm_expression import ExpressionComparison

__all__ = [
    "COMPARISON_FILES",
    "MLM",
    "SUMMARY_COLUMNS",
    "best_mlm",
    "comparison_metrics",
    "plot_expression_comparison",
    "summarise",
    "write_comparison",
]

#: ``family`` of rows from regressions on the embeddings.
MLM = "mlm"
_EQTL_METHOD = "best_eqtl_snp"
#: Files :func:`write_comparison` writes, by role.
COMPARISON_FILES = {
    "table": "expression_comparison.csv",
    "summary": "expression_summary.csv",
    "figure": "expression_comparison.png",
}
#: Columns of the per-method summary.
SUMMARY_COLUMNS = (
    "family",
    "method",
    "features",
    "n_genes",
    "n_evaluated",
    "median_r",
    "mean_r",
    "median_r2",
    "mean_r2",
    "n_r_above",
    "frac_r_above",
)


def summarise(table: pd.DataFrame, r_threshold: float = 0.3) -> pd.DataFrame:
    """One row per (family, method, features): how many genes, median/mean r and R².

    Parameters
    ----------
    table : pandas.DataFrame
        The long table (:data:`~exprflow.evaluation.mlm_regression.TABLE_COLUMNS`).
    r_threshold : float, default 0.3
        ``n_r_above`` counts genes with r above it; ``frac_r_above`` divides by the
        number of evaluated genes.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`, best median r first.
    """
    records = []
    for (family, method, features), group in table.groupby(
        ["family", "method", "features"], sort=False
    ):
        r, r2 = group["r"].astype(float), group["r2"].astype(float)
        finite = int(r.notna().sum())
        above = int((r > r_threshold).sum())
        records.append(
            {
                "family": family,
                "method": method,
                "features": features,
                "n_genes": len(group),
                "n_evaluated": finite,
                "median_r": r.median(),
                "mean_r": r.mean(),
                "median_r2": r2.median(),
                "mean_r2": r2.mean(),
                "n_r_above": above,
                "frac_r_above": above / finite if finite else float("nan"),
            }
        )
    summary = pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))
    ordered = summary.sort_values("median_r", ascending=False, na_position="last", kind="stable")
    return ordered.reset_index(drop=True)


def best_mlm(summary: pd.DataFrame) -> tuple[str, str] | None:
    """(method, features) of the embedding regression with the highest median r.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`summarise` output.

    Returns
    -------
    (str, str) or None
        None when no embedding regression has an evaluated gene.
    """
    rows = summary[(summary["family"] == MLM) & summary["median_r"].notna()]
    if rows.empty:
        return None
    best = rows.loc[rows["median_r"].idxmax()]
    return str(best["method"]), str(best["features"])


def _label(method: str, features: str) -> str:
    return f"{method}·{features}"


def _boxes(ax: Axes, table: pd.DataFrame, order: list[tuple[str, str]], seed: int) -> None:
    """Box plot plus jittered points of per-gene r, one box per (method, features)."""
    rng = np.random.default_rng(seed)
    data = []
    for position, (method, features) in enumerate(order, start=1):
        chosen = (table["method"] == method) & (table["features"] == features)
        r = table.loc[chosen, "r"].astype(float).dropna().to_numpy()
        data.append(r)
        jitter = rng.uniform(-0.15, 0.15, len(r))
        ax.scatter(position + jitter, r, s=8, alpha=0.5, color="tab:blue", zorder=3)
    ax.boxplot(data, positions=range(1, len(order) + 1), widths=0.5, showfliers=False)
    ax.set_xticks(range(1, len(order) + 1))
    ax.set_xticklabels([_label(m, f) for m, f in order], rotation=60, ha="right", fontsize=8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("per-gene Pearson r (out of fold)")
    ax.set_title("expression prediction by method")


def _scatter(ax: Axes, table: pd.DataFrame, best: tuple[str, str] | None) -> None:
    """Per-gene r of the best embedding regression against the best eQTL SNP."""
    eqtl = table[table["method"] == _EQTL_METHOD].set_index("gene_id")["r"].astype(float)
    if best is None or eqtl.notna().sum() == 0:
        ax.text(0.5, 0.5, "no embedding or best-eQTL-SNP scores", ha="center", va="center")
        ax.set_axis_off()
        return
    chosen = (table["method"] == best[0]) & (table["features"] == best[1])
    mlm = table[chosen].set_index("gene_id")["r"].astype(float)
    pairs = pd.concat([eqtl.rename("eqtl"), mlm.rename("mlm")], axis=1, join="inner").dropna()
    ax.scatter(pairs["eqtl"], pairs["mlm"], s=14, alpha=0.7)
    low = float(min(pairs.min().min(), 0.0)) if len(pairs) else 0.0
    ax.plot([low, 1], [low, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("r, best eQTL SNP")
    ax.set_ylabel(f"r, {_label(*best)}")
    ax.set_title(f"per gene ({len(pairs)} genes)")


def plot_expression_comparison(
    table: pd.DataFrame,
    order: list[tuple[str, str]],
    best: tuple[str, str] | None,
    dest: str | Path,
    *,
    seed: int = 0,
) -> Path:
    """Draw the comparison figure and write it as PNG.

    Parameters
    ----------
    table : pandas.DataFrame
        The long comparison table.
    order : list of (str, str)
        (method, features) boxes, left to right.
    best : (str, str) or None
        (method, features) of the embedding regression on the scatter's y axis; None
        leaves the scatter empty.
    dest : str or Path
        PNG file to write (atomically).
    seed : int, default 0
        Seed of the jitter.

    Returns
    -------
    Path
        ``dest``.
    """
    width = max(8.0, 4.0 + 0.45 * len(order))
    figure = Figure(figsize=(width + 4.5, 5.0))
    FigureCanvasAgg(figure)
    box_ax, scatter_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [width, 4.5]})
    _boxes(box_ax, table, order, seed)
    _scatter(scatter_ax, table, best)
    figure.subplots_adjust(bottom=0.3, left=0.07, right=0.98, wspace=0.25)
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return dest


def comparison_metrics(comparison: ExpressionComparison) -> dict[str, float]:
    """The summary as flat MLflow metrics.

    Parameters
    ----------
    comparison : ExpressionComparison
        :func:`~exprflow.evaluation.mlm_expression.compare_expression` output.

    Returns
    -------
    dict of str to float
        ``expr_<method>_<features>_{median_r,mean_r,mean_r2,frac_r_above}`` for every
        summary row with an evaluated gene, and ``expr_best_mlm_median_r``.
    """
    metrics = {}
    for row in comparison.summary.itertuples(index=False):
        if row.n_evaluated == 0:
            continue
        stem = f"expr_{row.method}_{row.features}"
        for name in ("median_r", "mean_r", "mean_r2", "frac_r_above"):
            metrics[f"{stem}_{name}"] = float(getattr(row, name))
    best = best_mlm(comparison.summary)
    if best is not None:
        metrics["expr_best_mlm_median_r"] = metrics[f"expr_{best[0]}_{best[1]}_median_r"]
    return metrics


def write_comparison(comparison: ExpressionComparison, folder: str | Path) -> dict[str, Path]:
    """Write the long table, the summary (CSV) and the figure (PNG) into ``folder``.

    Parameters
    ----------
    comparison : ExpressionComparison
        :func:`~exprflow.evaluation.mlm_expression.compare_expression` output.
    folder : str or Path
        Created if needed; files are named by :data:`COMPARISON_FILES` and each is
        written atomically.

    Returns
    -------
    dict of str to Path
        Role (``table``, ``summary``, ``figure``) → file written.
    """
    folder = Path(folder)
    paths = {role: folder / name for role, name in COMPARISON_FILES.items()}
    for role, frame in (("table", comparison.table), ("summary", comparison.summary)):
        with atomic_path(paths[role]) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    summary = comparison.summary[comparison.summary["n_evaluated"] > 0]
    order = list(zip(summary["method"], summary["features"], strict=True))
    plot_expression_comparison(
        comparison.table,
        order,
        comparison.best_mlm(),
        paths["figure"],
        seed=comparison.settings.seed,
    )
    return paths
