"""Summary of the promoter grid (``train_promoter``): mean ± sd over seeds × splits, report.

Input: a long table of test metrics, one row per configuration × split × seed × cell —
columns :data:`RUN_COLUMNS` (``model`` a backbone name, ``strategy`` one of the training
strategies, ``tasks`` the pretraining or joint task set as given, ``""`` for
``single_task``; ``split`` the fluorescence split seed, ``seed`` the training seed,
``cell`` e.g. ``K562``) and :data:`METRICS` (Pearson, Spearman, R² of the fluorescence
test set, NaN where undefined).

- :func:`summarize_runs`: per model × strategy × tasks × cell the number of runs and the
  mean and sample sd (``ddof=1``) over seeds × splits of each metric, plus a row with cell
  :data:`MEAN_OVER_CELLS` per configuration: each run's metrics averaged over its cells,
  then mean and sd over runs.
- :func:`strategy_ranking`: configurations ranked by their mean Spearman over cells.
- :func:`summary_metrics`: the headline numbers with MLflow-safe names.
- :func:`write_promoter_report`: CSV files, ``summary.md`` (cells as ``mean ± sd``) and a
  grouped bar plot per metric with sd error bars (matplotlib Figure on the Agg canvas).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.evaluation.report import markdown_table

__all__ = [
    "CONFIG_COLUMNS",
    "MEAN_OVER_CELLS",
    "METRICS",
    "REPORT_FILES",
    "RUN_COLUMNS",
    "bar_plot_name",
    "strategy_ranking",
    "summarize_runs",
    "summary_metrics",
    "write_promoter_report",
]

#: Columns identifying one configuration of the grid.
CONFIG_COLUMNS: Final = ("model", "strategy", "tasks")
#: Columns identifying one run's cell (besides the metrics).
RUN_COLUMNS: Final = (*CONFIG_COLUMNS, "split", "seed", "cell")
#: Metric columns summarised.
METRICS: Final = ("pearson", "spearman", "r2")
#: ``cell`` of the row averaging each run over its cells.
MEAN_OVER_CELLS: Final = "mean over cells"
#: Files :func:`write_promoter_report` writes by role (plus one bar plot per metric).
REPORT_FILES: Final = {
    "summary": "summary.csv",
    "runs": "runs.csv",
    "ranking": "ranking.csv",
    "report": "summary.md",
}
_FIX = "give the test metrics of train_promoter, one row per configuration, split, seed and cell."
_LABELS = {"pearson": "Pearson r", "spearman": "Spearman ρ", "r2": "R²"}
_NOTES = (
    "Each run trains one configuration (model × strategy × task set) on one fluorescence "
    "split with one seed and tests it on that split's test promoters, from the best "
    "validation checkpoint (the published v2 tested the final epoch).",
    "Cells show the mean ± the sample sd (ddof = 1) over seeds × splits; `n` is the number "
    "of runs.",
    f"`{MEAN_OVER_CELLS}` averages each run's metric over its cells first, then takes the "
    "mean ± sd over runs.",
    "Target: log2 fluorescence activity per cell; R² = 1 − SS_res / SS_tot.",
)


def _check(table: pd.DataFrame) -> pd.DataFrame:
    """Validate the run table; return a copy with string keys, integer split/seed, float metrics."""
    source = str(table.attrs.get("path", "<promoter runs>"))
    absent = [c for c in (*RUN_COLUMNS, *METRICS) if c not in table.columns]
    if absent:
        raise InputError(
            source,
            f"missing column(s) {absent}; the columns are {list(table.columns)}.",
            record="header",
            fix=_FIX,
        )
    if table.empty:
        raise InputError(source, "has no rows.", fix=_FIX)
    frame = table.copy()
    frame["tasks"] = frame["tasks"].astype(object).where(frame["tasks"].notna(), "")
    frame = frame.astype({c: str for c in (*CONFIG_COLUMNS, "cell")})
    for column in ("split", "seed"):
        number = pd.to_numeric(frame[column], errors="coerce")
        bad = (number.isna() | (number % 1 != 0)).to_numpy()
        _first_bad(frame, bad, source, f"{column} is not an integer.")
        frame[column] = number.astype(np.int64)
    for metric in METRICS:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce").astype(np.float64)
    _first_bad(frame, (frame["cell"] == MEAN_OVER_CELLS).to_numpy(), source, "reserved cell name.")
    twice = frame.duplicated(list(RUN_COLUMNS)).to_numpy()
    _first_bad(frame, twice, source, "the same configuration, split, seed and cell appear twice.")
    return frame


def _first_bad(frame: pd.DataFrame, bad: np.ndarray, source: str, problem: str) -> None:
    if bad.any():
        row = frame.iloc[int(np.flatnonzero(bad)[0])]
        record = " ".join(f"{c}={row[c]}" for c in RUN_COLUMNS)
        raise InputError(source, problem, record=record, fix=_FIX)


def _aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    aggregations: dict[str, tuple[str, str]] = {"n": ("seed", "size")}
    for metric in METRICS:
        aggregations[f"{metric}_mean"] = (metric, "mean")
        aggregations[f"{metric}_sd"] = (metric, "std")
    return frame.groupby(keys, sort=False).agg(**aggregations).reset_index()


def summarize_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds × splits of each metric, per configuration and cell.

    Parameters
    ----------
    table : pandas.DataFrame
        Runs (module docstring): :data:`RUN_COLUMNS` and :data:`METRICS`;
        ``attrs["path"]`` names it in errors. ``tasks`` NaN counts as ``""``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CONFIG_COLUMNS`, ``cell``, ``n`` (runs), ``<metric>_mean`` and
        ``<metric>_sd`` (sample sd, NaN for one run) per metric. Configurations in order
        of first appearance; within each, its cells in order of first appearance, then
        the :data:`MEAN_OVER_CELLS` row (each run's metrics averaged over its cells,
        NaN metrics left out, then mean and sd over runs).

    Raises
    ------
    InputError
        A missing column, no rows, a split or seed that is not an integer, a
        configuration × split × seed × cell twice, or a cell named :data:`MEAN_OVER_CELLS`.
    """
    frame = _check(table)
    per_cell = _aggregate(frame, [*CONFIG_COLUMNS, "cell"])
    runs = frame.groupby([*CONFIG_COLUMNS, "split", "seed"], sort=False)[list(METRICS)].mean()
    over_cells = _aggregate(runs.reset_index(), list(CONFIG_COLUMNS))
    over_cells.insert(len(CONFIG_COLUMNS), "cell", MEAN_OVER_CELLS)
    summary = pd.concat([per_cell, over_cells], ignore_index=True)
    configs = _positions(frame[list(CONFIG_COLUMNS)].itertuples(index=False, name=None))
    cells = _positions([*frame["cell"], MEAN_OVER_CELLS])
    config_rank = [configs[k] for k in summary[list(CONFIG_COLUMNS)].itertuples(False, None)]
    cell_rank = summary["cell"].map(cells).to_numpy()
    return summary.iloc[np.lexsort((cell_rank, config_rank))].reset_index(drop=True)


def _positions(items: Iterable[Hashable]) -> dict[Hashable, int]:
    """Each distinct item → its rank in order of first appearance."""
    return {item: i for i, item in enumerate(dict.fromkeys(items))}


def strategy_ranking(summary: pd.DataFrame) -> pd.DataFrame:
    """Rank the configurations by their mean Spearman over cells (best first).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`summarize_runs` output.

    Returns
    -------
    pandas.DataFrame
        One row per configuration: ``rank`` (1 = best; ties keep summary order; NaN
        last), :data:`CONFIG_COLUMNS`, ``n`` and ``<metric>_mean`` / ``<metric>_sd`` of
        its :data:`MEAN_OVER_CELLS` row.

    Raises
    ------
    InputError
        ``summary`` has no :data:`MEAN_OVER_CELLS` rows (not a :func:`summarize_runs`
        output).
    """
    rows = summary[summary["cell"] == MEAN_OVER_CELLS].drop(columns="cell")
    if rows.empty:
        raise InputError(
            str(summary.attrs.get("path", "<promoter summary>")),
            f"has no {MEAN_OVER_CELLS!r} rows.",
            fix="pass the output of summarize_runs.",
        )
    ranked = rows.sort_values("spearman_mean", ascending=False, kind="stable", na_position="last")
    ranked = ranked.reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def _metric_name(*parts: str) -> str:
    """Join with ``_``; characters MLflow refuses in metric names become ``-``."""
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "-", "_".join(p for p in parts if p))


def summary_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """The summary as MLflow metrics.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`summarize_runs` output.

    Returns
    -------
    dict of str to float
        ``<model>_<strategy>_<tasks>_<cell>_<metric>_{mean,sd}`` (``tasks`` left out when
        empty, cell :data:`MEAN_OVER_CELLS` spelt ``mean``; characters MLflow refuses,
        such as ``+`` and ``,``, become ``-``); undefined values are left out.
    """
    metrics: dict[str, float] = {}
    for row in summary.to_dict("records"):
        cell = "mean" if row["cell"] == MEAN_OVER_CELLS else str(row["cell"])
        stem = [str(row[c]) for c in CONFIG_COLUMNS] + [cell]
        for metric in METRICS:
            for kind in ("mean", "sd"):
                value = float(row[f"{metric}_{kind}"])
                if np.isfinite(value):
                    metrics[_metric_name(*stem, metric, kind)] = value
    return metrics


def _config_label(row: pd.Series) -> str:
    tasks = f" [{row['tasks']}]" if row["tasks"] else ""
    return f"{row['model']} {row['strategy']}{tasks}"


def bar_plot_name(metric: str) -> str:
    """File name of the bar plot of one metric, ``bars_<metric>.png``.

    Parameters
    ----------
    metric : str
        One of :data:`METRICS`.

    Returns
    -------
    str
    """
    return f"bars_{metric}.png"


def _plot_bars(summary: pd.DataFrame, metric: str, dest: Path) -> Path:
    """Cells on the x axis, one bar per configuration (mean), sd as error bars."""
    cells = list(dict.fromkeys(summary["cell"]))
    labels = summary.apply(_config_label, axis=1)
    configs = list(dict.fromkeys(labels))
    width = 0.8 / len(configs)
    size = (max(6.0, 1.0 + 0.3 * len(cells) * len(configs)), 3.6 + 0.2 * len(configs))
    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for k, config in enumerate(configs):
        rows = summary[labels == config].set_index("cell").reindex(cells)
        means = rows[f"{metric}_mean"].to_numpy(np.float64)
        sds = np.nan_to_num(rows[f"{metric}_sd"].to_numpy(np.float64))
        x = np.arange(len(cells)) + (k - (len(configs) - 1) / 2) * width
        colour = f"C{k % 10}"
        ax.bar(x, np.nan_to_num(means), width, yerr=sds, capsize=2, label=config, color=colour)
    ax.set_xticks(range(len(cells)), [c.replace(" over ", "\nover ") for c in cells], fontsize=8)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel(f"{_LABELS.get(metric, metric)}, mean ± sd", fontsize=8)
    ax.set_title(f"Fluorescence test {_LABELS.get(metric, metric)} per cell", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    figure.tight_layout()
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return dest


def _mean_sd(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace each ``<metric>_mean`` / ``_sd`` pair by one ``<metric>`` text column."""
    shown = frame.drop(columns=[f"{m}_{k}" for m in METRICS for k in ("mean", "sd")])
    for metric in METRICS:
        pairs = zip(frame[f"{metric}_mean"], frame[f"{metric}_sd"], strict=True)
        shown[metric] = [_format(mean, sd) for mean, sd in pairs]
    return shown


def _format(mean: float, sd: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


def _markdown(summary: pd.DataFrame, ranking: pd.DataFrame, plots: list[str]) -> str:
    parts = ["# Promoter-driven expression: strategies\n", "## How the numbers are computed\n"]
    parts.append("".join(f"- {note}\n" for note in _NOTES))
    parts.append("## Ranking (mean Spearman over cells)\n")
    parts.append(markdown_table(_mean_sd(ranking)))
    parts.append("## Per cell\n")
    parts.append(markdown_table(_mean_sd(summary)))
    parts.extend(f"![{name}]({name})\n" for name in plots)
    return "\n".join(parts)


def _write_csv(frame: pd.DataFrame, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return dest


def write_promoter_report(table: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Summarise the runs and write the report into ``out_dir``.

    Parameters
    ----------
    table : pandas.DataFrame
        Runs (module docstring).
    out_dir : str or Path
        Created if needed. Receives :data:`REPORT_FILES` (``summary.csv``:
        :func:`summarize_runs`; ``runs.csv``: ``table`` as given; ``ranking.csv``:
        :func:`strategy_ranking`; ``summary.md``: both tables with ``mean ± sd`` cells)
        and :func:`bar_plot_name` per metric, each written atomically.

    Returns
    -------
    list of Path
        The files written, in the order above, then the plots.

    Raises
    ------
    InputError
        Bad runs (see :func:`summarize_runs`).
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize_runs(table)
    ranking = strategy_ranking(summary)
    written = [
        _write_csv(summary, folder / REPORT_FILES["summary"]),
        _write_csv(table, folder / REPORT_FILES["runs"]),
        _write_csv(ranking, folder / REPORT_FILES["ranking"]),
    ]
    plots = [_plot_bars(summary, m, folder / bar_plot_name(m)) for m in METRICS]
    with atomic_path(folder / REPORT_FILES["report"]) as tmp:
        tmp.write_text(_markdown(summary, ranking, [p.name for p in plots]))
    return [*written, folder / REPORT_FILES["report"], *plots]
