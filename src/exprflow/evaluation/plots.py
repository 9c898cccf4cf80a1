"""Plots of the expression evaluation, written as PNG files (matplotlib, Agg backend).

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so
no global pyplot state or display is involved, and each file is written atomically.

- :func:`plot_cross_gene`: reference predictions against observed expression, one panel
  per tissue, held-out (test) genes highlighted.
- :func:`plot_cross_individual_histogram`: per-gene cross-individual Spearman, with
  significant positive and significant negative (wrong-sign) genes stacked apart.
- :func:`plot_gene_scatter`: predicted against observed expression across individuals,
  one panel per gene (e.g. the planted causal genes).
- :func:`plot_metric_bars`: one metric across runs, one bar each, coloured by group (the
  comparison of families in ``evaluate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.atomic import atomic_path
from exprflow.evaluation.expression import EVALUATED, CrossGeneResult, CrossIndividualResult

__all__ = [
    "plot_cross_gene",
    "plot_cross_individual_histogram",
    "plot_gene_scatter",
    "plot_metric_bars",
]

_COLUMNS = 4
_LOG = "ln(RPKM + c)"


def _grid(
    n_panels: int, xlabel: str = "", ylabel: str = "", panel: tuple[float, float] = (3.2, 3.2)
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes in rows of up to four, one axis label for all.

    A fixed layout (margins in inches) rather than a constrained one: drawing stays fast
    with many panels.
    """
    cols = max(1, min(_COLUMNS, n_panels))
    rows = max(1, math.ceil(n_panels / cols))
    width, height = panel[0] * cols + 0.7, panel[1] * rows + 1.4
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.15 / width,
        bottom=0.6 / height,
        top=1 - 0.9 / height,
        hspace=0.45,
        wspace=0.3,
    )
    axes = list(np.atleast_1d(figure.subplots(rows, cols, squeeze=False)).ravel())
    for unused in axes[n_panels:]:
        unused.set_visible(False)
    if xlabel:
        figure.supxlabel(xlabel, y=0.15 / height, va="bottom")
    if ylabel:
        figure.supylabel(ylabel, x=0.1 / width, ha="left")
    return figure, axes[:n_panels]


def _save(figure: Figure, dest: str | Path) -> Path:
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return dest


def _fmt(value: float, spec: str = ".2f") -> str:
    return "n/a" if not np.isfinite(value) else format(value, spec)


def plot_cross_gene(
    result: CrossGeneResult, dest: str | Path, first: str | None = None, max_panels: int = 12
) -> Path:
    """Scatter reference predictions against observed expression, one panel per tissue.

    Parameters
    ----------
    result : CrossGeneResult
        :func:`~exprflow.evaluation.expression.cross_gene` output.
    dest : str or Path
        PNG file to write.
    first : str, optional
        Tissue shown first (e.g. the LCL cell type). Default None: table order.
    max_panels : int, default 12
        Tissues shown at most (the first ones, in that order).

    Returns
    -------
    Path
        ``dest``.
    """
    tissues = list(result.predicted.columns)
    if first in tissues:
        tissues = [first, *[t for t in tissues if t != first]]
    tissues = tissues[:max_panels]
    figure, axes = _grid(len(tissues), f"predicted {_LOG}", f"observed {_LOG}")
    test = result.test.to_numpy()
    for ax, tissue in zip(axes, tissues, strict=True):
        x, y = result.predicted[tissue].to_numpy(), result.observed[tissue].to_numpy()
        ax.scatter(x[~test], y[~test], s=8, c="0.6", label="training chromosomes")
        ax.scatter(x[test], y[test], s=12, c="tab:orange", label="held-out (test)")
        row = result.per_tissue.loc[tissue]
        ax.set_title(
            f"{tissue}: test ρ={_fmt(row['test_spearman'])}, all ρ={_fmt(row['all_spearman'])}",
            fontsize=9,
        )
    axes[0].legend(fontsize=7, loc="upper left")
    figure.suptitle(f"Reference predictions across genes ({len(test)} genes, {test.sum()} test)")
    return _save(figure, dest)


def plot_cross_individual_histogram(result: CrossIndividualResult, dest: str | Path) -> Path:
    """Histogram of per-gene cross-individual Spearman, significant genes marked by sign.

    Parameters
    ----------
    result : CrossIndividualResult
        :func:`~exprflow.evaluation.expression.cross_individual` output.
    dest : str or Path
        PNG file to write.

    Returns
    -------
    Path
        ``dest``.
    """
    genes = result.per_gene[result.per_gene["status"] == EVALUATED]
    significant = genes["significant"].to_numpy()
    positive = genes["pearson"].to_numpy() > 0
    groups = {
        "not significant": genes["spearman"][~significant],
        "significant, positive": genes["spearman"][significant & positive],
        "significant, wrong sign": genes["spearman"][significant & ~positive],
    }
    xlabel = "Spearman ρ, predicted vs observed across individuals"
    figure, (ax,) = _grid(1, xlabel, "genes", panel=(6.5, 3.8))
    ax.hist(
        [values.to_numpy() for values in groups.values()],
        bins=np.linspace(-1, 1, 41).tolist(),
        stacked=True,
        color=["0.7", "tab:green", "tab:red"],
        label=[f"{name} ({len(values)})" for name, values in groups.items()],
    )
    ax.axvline(0, color="k", lw=0.8)
    ax.legend(fontsize=8, loc="upper center")
    excluded = len(result.per_gene) - len(genes)
    ax.set_title(
        f"{len(genes)} genes evaluated, {excluded} without a defined correlation; "
        f"BH FDR < {result.alpha:g}",
        fontsize=9,
    )
    return _save(figure, dest)


def plot_gene_scatter(
    result: CrossIndividualResult, genes: Sequence[str], dest: str | Path, max_panels: int = 12
) -> Path:
    """Scatter each gene's predicted against observed expression across individuals.

    Parameters
    ----------
    result : CrossIndividualResult
        :func:`~exprflow.evaluation.expression.cross_individual` output.
    genes : Sequence of str
        Unversioned gene ids to show (those not compared are skipped).
    dest : str or Path
        PNG file to write.
    max_panels : int, default 12
        Genes shown at most (the first ones).

    Returns
    -------
    Path
        ``dest``.
    """
    rows = result.per_gene.set_index("gene_id")
    shown = [g for g in genes if g in rows.index][:max_panels]
    figure, axes = _grid(max(1, len(shown)), f"predicted {_LOG}", f"observed {_LOG}")
    if not shown:
        axes[0].text(0.5, 0.5, "no gene to show", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, gene in zip(axes, shown, strict=False):
        row = rows.loc[gene]
        ax.scatter(result.predicted.loc[gene], result.observed.loc[gene], s=10)
        ax.set_title(
            f"{gene}\nr={_fmt(row['pearson'])}, q={_fmt(row['q_value'], '.2g')} ({row['status']})",
            fontsize=8,
        )
    figure.suptitle("Predicted vs observed expression across individuals")
    return _save(figure, dest)


def plot_metric_bars(
    labels: Sequence[str],
    values: Sequence[float],
    groups: Sequence[str],
    dest: str | Path,
    *,
    title: str,
    ylabel: str,
) -> Path:
    """Bar chart of one metric: a bar per label, its value written on it, coloured by group.

    Parameters
    ----------
    labels : Sequence of str
        One label per bar (e.g. family and step), left to right.
    values : Sequence of float
        The metric per bar, same length (NaN: an empty bar marked ``n/a``).
    groups : Sequence of str
        Group per bar (e.g. the family): one colour and legend entry each.
    dest : str or Path
        PNG file to write.
    title, ylabel : str
        Figure title and y-axis label.

    Returns
    -------
    Path
        ``dest``.
    """
    if not len(labels) == len(values) == len(groups):
        raise ValueError(f"{len(labels)} labels, {len(values)} values, {len(groups)} groups")
    order = list(dict.fromkeys(groups))
    colours = {g: f"C{i % 10}" for i, g in enumerate(order)}
    figure, (ax,) = _grid(1, "", ylabel, panel=(max(3.0, 1.1 * len(labels) + 1), 3.6))
    heights = [v if np.isfinite(v) else 0.0 for v in values]
    bars = ax.bar(range(len(labels)), heights, color=[colours[g] for g in groups])
    ax.bar_label(bars, labels=[_fmt(v, ".3g") for v in values], fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.axhline(0, color="k", lw=0.8)
    ax.margins(y=0.15)
    ax.legend(handles=[bars[groups.index(g)] for g in order], labels=order, fontsize=8, loc="best")
    figure.suptitle(title)
    return _save(figure, dest)
