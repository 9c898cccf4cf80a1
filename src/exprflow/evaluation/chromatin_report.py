"""Report of the chromatin cross-validation (``cv_chromatin``): CSV files, heatmaps, ``summary.md``.

The tables come from :mod:`exprflow.evaluation.chromatin_summary` (fold summary, mark
ranking, headline metrics), whose public names are re-exported here; the input layouts
(fold results, out-of-fold predictions) are described there.

- :func:`plot_mark_heatmap`: one model × task, cell types (rows) × mark sets (columns:
  singles in ``MARKS`` order, then pairs, then all marks), each cell annotated with the
  fold-mean metric. Built like :mod:`exprflow.evaluation.plots` (matplotlib Figure on the
  Agg canvas, no pyplot), written atomically.
- :func:`write_cv_report`: writes :data:`REPORT_FILES` and one heatmap per model × task
  (:func:`heatmap_name`) into a folder and returns the headline metrics
  (:func:`~exprflow.evaluation.chromatin_summary.cv_metrics`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.evaluation.chromatin_summary import (
    HEADLINE_METRICS,
    KEY_COLUMNS,
    MARK_SETS,
    METRICS,
    POOLED_METRICS,
    PREDICTION_COLUMNS,
    RANKING_COLUMNS,
    RESULT_COLUMNS,
    cv_metrics,
    mark_ranking,
    mark_set_order,
    pooled_metrics,
    summarise_folds,
)
from exprflow.evaluation.report import markdown_table

__all__ = [
    "HEADLINE_METRICS",
    "KEY_COLUMNS",
    "MARK_SETS",
    "METRICS",
    "POOLED_METRICS",
    "PREDICTION_COLUMNS",
    "RANKING_COLUMNS",
    "REPORT_FILES",
    "RESULT_COLUMNS",
    "cv_metrics",
    "heatmap_name",
    "mark_ranking",
    "mark_set_order",
    "plot_mark_heatmap",
    "pooled_metrics",
    "summarise_folds",
    "write_cv_report",
]

#: Files :func:`write_cv_report` writes, by role (plus one heatmap per model × task).
REPORT_FILES = {
    "summary": "summary.csv",
    "folds": "folds.csv",
    "predictions": "predictions.csv.gz",
    "ranking": "ranking.csv",
    "report": "summary.md",
}
_NOTES = (
    "Each fold holds out one chromosome group; its metric is computed on that group's "
    "test genes. `<metric>_mean` / `<metric>_sd` are the mean and the sample sd (ddof = 1) "
    "over folds.",
    "`<metric>_pooled` is the metric on all folds' test predictions concatenated (each "
    "gene once, predicted by the model that did not see it).",
    "Regression: target log2(RPKM + 1); Pearson, Spearman and R² = 1 − SS_res / SS_tot. "
    "Classification: label = expression ≥ the cell type's median; AUROC of P(label = 1).",
    "The ranking averages each single mark's fold-mean metric over cell types; the best "
    "partner is the mark B whose pair A+B has the highest such mean, the gain is pair − "
    "single.",
)


def heatmap_name(model: str, task: str) -> str:
    """File name of the heatmap of one model × task, ``heatmap_<model>_<task>.png``.

    Parameters
    ----------
    model, task : str
        As in the fold results.

    Returns
    -------
    str
    """
    return f"heatmap_{model}_{task}.png"


def _grid(summary: pd.DataFrame, model: str, task: str, metric: str) -> pd.DataFrame:
    """Cells × mark-set labels of ``<metric>_mean`` for one model × task."""
    source = str(summary.attrs.get("path", "<cv summary>"))
    column = f"{metric}_mean"
    if column not in summary.columns:
        raise InputError(source, f"has no column {column!r}.", record="header")
    chosen = summary[(summary["model"] == model) & (summary["task"] == task)]
    if chosen.empty:
        pairs = sorted(set(zip(summary["model"], summary["task"], strict=True)))
        raise InputError(
            source,
            f"has no rows of model {model!r}, task {task!r}; it has (model, task) {pairs}.",
            fix="pass a model and task of the summary.",
        )
    order = mark_set_order(chosen)
    grid = chosen.pivot(index="eid", columns="marks", values=column)
    grid = grid.reindex(index=sorted(grid.index), columns=order)
    alls = set(chosen.loc[chosen["mark_set"] == "all", "marks"])
    return grid.rename(columns=lambda marks: "all" if marks in alls else marks)


def plot_mark_heatmap(
    summary: pd.DataFrame, model: str, task: str, metric: str, dest: str | Path
) -> Path:
    """Draw cell types × mark sets of one model × task, annotated, and write it as PNG.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~exprflow.evaluation.chromatin_summary.summarise_folds` output.
    model, task : str
        The configuration shown.
    metric : str
        Base metric name; its ``<metric>_mean`` column (mean over folds) is shown.
    dest : str or Path
        PNG file to write (atomically).

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    InputError
        No ``<metric>_mean`` column, or no row of that model and task.
    """
    grid = _grid(summary, model, task, metric)
    values = grid.to_numpy(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    rows, cols = values.shape
    figure = Figure(figsize=(2.5 + 0.62 * cols, 2.2 + 0.45 * rows))
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap="viridis", aspect="auto", vmin=low, vmax=high
    )
    middle = (low + high) / 2
    for (i, j), value in np.ndenumerate(values):
        text = "n/a" if not np.isfinite(value) else f"{value:.2f}"
        colour = "white" if np.isfinite(value) and value < middle else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(cols), list(grid.columns), rotation=70, ha="right", fontsize=8)
    ax.set_yticks(range(rows), list(grid.index), fontsize=8)
    figure.colorbar(image, ax=ax, label=f"{metric}, mean over folds", shrink=0.8)
    ax.set_title(f"{model}, {task}: {metric} per cell type and mark set", fontsize=10)
    figure.tight_layout()
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return dest


def _rankings(summary: pd.DataFrame) -> pd.DataFrame:
    """The mark ranking of every task on its first headline metric."""
    tables = []
    for task, metrics in HEADLINE_METRICS.items():
        rows = summary[summary["task"] == task]
        if len(rows) and f"{metrics[0]}_mean" in rows.columns:
            tables.append(mark_ranking(rows, metrics[0]))
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=RANKING_COLUMNS)


def _summary_columns(summary: pd.DataFrame, task: str) -> list[str]:
    stats = [f"{m}_{kind}" for m in HEADLINE_METRICS[task] for kind in ("mean", "sd", "pooled")]
    base = ["eid", "marks", "n_folds", "n_test"]
    return [c for c in (*base, *stats) if c in summary.columns]


def _markdown(summary: pd.DataFrame, ranking: pd.DataFrame, heatmaps: dict[str, str]) -> str:
    parts = ["# Chromatin cross-validation\n", "## How the numbers are computed\n"]
    parts.append("".join(f"- {note}\n" for note in _NOTES))
    for (model, task), rank in ranking.groupby(["model", "task"], sort=False):
        metric = rank["metric"].iat[0]
        parts.append(f"## Mark ranking: {model}, {task} ({metric}, mean over cell types)\n")
        shown = rank.drop(columns=["model", "task", "metric", "all_marks_mean_over_cells"])
        parts.append(markdown_table(shown))
        whole = float(rank["all_marks_mean_over_cells"].iat[0])
        parts.append(
            f"All marks: {whole:.4g}.\n" if np.isfinite(whole) else "All marks: not run.\n"
        )
    for (model, task), group in summary.groupby(["model", "task"], sort=False):
        parts.append(f"## Summary: {model}, {task}\n")
        parts.append(markdown_table(group[_summary_columns(group, str(task))]))
        name = heatmaps.get(f"{model}_{task}")
        if name:
            parts.append(f"![{model}, {task}]({name})\n")
    return "\n".join(parts)


def _write_csv(frame: pd.DataFrame, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def write_cv_report(
    results: pd.DataFrame, predictions: pd.DataFrame | None, folder: str | Path
) -> dict[str, float]:
    """Summarise the cross-validation and write its report into ``folder``.

    Parameters
    ----------
    results : pandas.DataFrame
        Fold results (:mod:`~exprflow.evaluation.chromatin_summary` layout).
    predictions : pandas.DataFrame or None
        Out-of-fold test predictions; None: no pooled metrics and no ``predictions.csv.gz``.
    folder : str or Path
        Created if needed. Receives :data:`REPORT_FILES` (``summary.csv``: the
        fold summary; ``folds.csv``: ``results`` as given; ``predictions.csv.gz``;
        ``ranking.csv``: the mark ranking of each task on its first headline metric;
        ``summary.md``) and ``heatmap_<model>_<task>.png`` per model × task, each written
        atomically.

    Returns
    -------
    dict of str to float
        :func:`~exprflow.evaluation.chromatin_summary.cv_metrics` of the summary.

    Raises
    ------
    InputError
        Bad fold results or predictions (see
        :func:`~exprflow.evaluation.chromatin_summary.summarise_folds`).
    """
    folder = Path(folder)
    summary = summarise_folds(results, predictions)
    ranking = _rankings(summary)
    _write_csv(summary, folder / REPORT_FILES["summary"])
    _write_csv(results, folder / REPORT_FILES["folds"])
    _write_csv(ranking, folder / REPORT_FILES["ranking"])
    if predictions is not None:
        _write_csv(predictions, folder / REPORT_FILES["predictions"])
    heatmaps = {}
    for model, task in dict.fromkeys(zip(summary["model"], summary["task"], strict=True)):
        metric = HEADLINE_METRICS[task][0]
        if f"{metric}_mean" in summary.columns:
            name = heatmap_name(model, task)
            plot_mark_heatmap(summary, model, task, metric, folder / name)
            heatmaps[f"{model}_{task}"] = name
    with atomic_path(folder / REPORT_FILES["report"]) as tmp:
        tmp.write_text(_markdown(summary, ranking, heatmaps))
    return cv_metrics(summary)
