"""Tables of the chromatin cross-validation (``cv_chromatin``): fold summary, mark ranking, metrics.

The report (CSV files, heatmaps, ``summary.md``) is written by
:mod:`exprflow.evaluation.chromatin_report`, which re-exports these functions.

Inputs
------
Fold results (one row per model × task × cell type × mark set × fold)
    Columns :data:`RESULT_COLUMNS` (``model`` e.g. ``chromoformer`` / ``cnn``, ``task``
    ``regression`` / ``classification``, ``eid``, ``marks`` — mark names joined by ``+`` in
    :data:`~exprflow.simulate.layout.MARKS` order —, ``mark_set`` ``single`` / ``pair`` /
    ``all``, ``fold`` ≥ 1), at least one metric column of :data:`METRICS` (NaN where not
    applicable) and optionally ``n_train``, ``n_val``, ``n_test``, ``best_epoch``,
    ``seconds``.
Out-of-fold test predictions (one row per model × task × cell type × mark set × gene)
    Columns :data:`PREDICTION_COLUMNS`; every gene is predicted once per mark set, in the
    fold that held it out. ``target`` is log2(RPKM + 1) (regression) or the 0/1 label
    (classification); ``prediction`` the value or P(label = 1).

What is computed
----------------
- :func:`summarise_folds`: per model × task × eid × marks the mean and sample sd
  (``ddof=1``) over folds of every metric, and the pooled out-of-fold metrics
  (:func:`pooled_metrics` on the concatenated test predictions of all folds).
- :func:`mark_ranking`: single marks ranked by their fold-mean metric averaged over cell
  types, each with its best pair partner (the mark ``B`` whose pair ``A+B`` scores
  highest) and the gain of that pair over the single mark.
- :func:`cv_metrics`: the headline numbers as MLflow-safe metric names.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

from exprflow.errors import InputError
from exprflow.evaluation.stats import MIN_VALUES, correlation
from exprflow.simulate.layout import MARKS

__all__ = [
    "HEADLINE_METRICS",
    "KEY_COLUMNS",
    "MARK_SETS",
    "METRICS",
    "POOLED_METRICS",
    "PREDICTION_COLUMNS",
    "RANKING_COLUMNS",
    "RESULT_COLUMNS",
    "cv_metrics",
    "mark_ranking",
    "mark_set_order",
    "pooled_metrics",
    "summarise_folds",
]

#: Columns identifying one cross-validated configuration.
KEY_COLUMNS = ("model", "task", "eid", "marks")
#: Required columns of the fold-results table.
RESULT_COLUMNS = (*KEY_COLUMNS, "mark_set", "fold")
#: Required columns of the predictions table.
PREDICTION_COLUMNS = (*KEY_COLUMNS, "fold", "gene_id", "target", "prediction")
#: Metric columns summarised when present in the fold results.
METRICS = ("pearson", "spearman", "r2", "mse", "auroc", "auprc", "accuracy")
#: Metrics recomputed on the pooled out-of-fold predictions, per task.
POOLED_METRICS = {"regression": ("pearson", "spearman", "r2"), "classification": ("auroc",)}
#: Metrics reported per task; the first ranks the marks and colours the heatmap.
HEADLINE_METRICS = {"regression": ("pearson", "spearman"), "classification": ("auroc",)}
#: Allowed ``mark_set`` values, in heatmap order, with the number of marks each holds.
MARK_SETS = {"single": 1, "pair": 2, "all": None}
#: Columns of :func:`mark_ranking`.
RANKING_COLUMNS = (
    "model",
    "task",
    "metric",
    "rank",
    "mark",
    "mean_over_cells",
    "sd_over_cells",
    "n_cells",
    "best_partner",
    "pair_mean_over_cells",
    "pair_gain",
    "all_marks_mean_over_cells",
)
_FIX = "give the fold results of cv_chromatin (exprflow.evaluation.chromatin_report)."


def _source(frame: pd.DataFrame, default: str) -> str:
    return str(frame.attrs.get("path", default))


def _require(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise InputError(
            source,
            f"missing column(s) {absent}; the columns are {list(frame.columns)}.",
            record="header",
            fix=_FIX,
        )
    if frame.empty:
        raise InputError(source, "has no rows.", fix=_FIX)


def _first_bad(frame: pd.DataFrame, bad: np.ndarray, source: str, problem: str) -> None:
    if bad.any():
        row = frame.iloc[int(np.flatnonzero(bad)[0])]
        record = " ".join(str(row[c]) for c in KEY_COLUMNS if c in frame.columns)
        raise InputError(source, problem, record=f"{record} fold {row['fold']}", fix=_FIX)


def _check_results(results: pd.DataFrame) -> list[str]:
    """Validate the fold results; return the metric columns present."""
    source = _source(results, "<fold results>")
    _require(results, RESULT_COLUMNS, source)
    metrics = [m for m in METRICS if m in results.columns]
    if not metrics:
        raise InputError(source, f"has no metric column (one of {METRICS}).", fix=_FIX)
    tasks = results["task"].astype(str)
    _first_bad(results, ~tasks.isin(POOLED_METRICS).to_numpy(), source, "unknown task.")
    sets = results["mark_set"].astype(str)
    _first_bad(results, ~sets.isin(MARK_SETS).to_numpy(), source, f"mark_set not in {MARK_SETS}.")
    n_marks = results["marks"].astype(str).str.split("+").str.len()
    wrong = [sets == name for name, size in MARK_SETS.items() if size is not None]
    sizes = [n_marks != size for size in MARK_SETS.values() if size is not None]
    mismatch = np.any([(w & s).to_numpy() for w, s in zip(wrong, sizes, strict=True)], axis=0)
    _first_bad(results, mismatch, source, "marks do not match mark_set (single: 1, pair: 2).")
    fold = pd.to_numeric(results["fold"], errors="coerce")
    _first_bad(results, ~(fold >= 1).to_numpy() | (fold % 1 != 0).to_numpy(), source, "bad fold.")
    twice = results.duplicated([*KEY_COLUMNS, "fold"]).to_numpy()
    _first_bad(results, twice, source, "the same configuration and fold appear twice.")
    return metrics


def pooled_metrics(task: str, target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Metrics of one task on pooled (concatenated out-of-fold) predictions.

    Parameters
    ----------
    task : str
        ``"regression"``: Pearson and Spearman (:func:`~exprflow.evaluation.stats.correlation`)
        and R² (``sklearn.metrics.r2_score``, 1 − SS_res / SS_tot); ``"classification"``:
        AUROC (``sklearn.metrics.roc_auc_score``) of P(label = 1).
    target, prediction : numpy.ndarray
        Shape (n,). Pairs with a non-finite side are left out.

    Returns
    -------
    dict of str to float
        Keys :data:`POOLED_METRICS` ``[task]``; NaN when undefined (fewer than
        :data:`~exprflow.evaluation.stats.MIN_VALUES` pairs, a constant side, one class).
    """
    if task not in POOLED_METRICS:
        raise ValueError(f"task must be one of {tuple(POOLED_METRICS)}, got {task!r}")
    y, p = np.asarray(target, np.float64), np.asarray(prediction, np.float64)
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    if task == "classification":
        two_classes = len(y) >= MIN_VALUES and len(np.unique(y)) == 2
        return {"auroc": float(roc_auc_score(y, p)) if two_classes else float("nan")}
    corr = correlation(p, y)
    varies = len(y) >= MIN_VALUES and bool(np.ptp(y) > 0)
    r2 = float(r2_score(y, p)) if varies else float("nan")
    return {"pearson": corr.pearson, "spearman": corr.spearman, "r2": r2}


def _pooled(predictions: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Pooled metrics per configuration of ``keys``, one row each (NaN without predictions)."""
    source = _source(predictions, "<predictions>")
    _require(predictions, PREDICTION_COLUMNS, source)
    frame = predictions.astype({c: str for c in KEY_COLUMNS})
    twice = frame.duplicated([*KEY_COLUMNS, "gene_id"]).to_numpy()
    _first_bad(frame, twice, source, "a gene is predicted twice (out-of-fold means once).")
    known = pd.MultiIndex.from_frame(keys[list(KEY_COLUMNS)])
    unknown = ~pd.MultiIndex.from_frame(frame[list(KEY_COLUMNS)]).isin(known)
    _first_bad(frame, unknown, source, "predictions of a configuration with no fold results.")
    records = []
    for key, group in frame.groupby(list(KEY_COLUMNS), sort=False):
        values = pooled_metrics(str(key[1]), group["target"], group["prediction"])
        records.append(
            dict(zip(KEY_COLUMNS, key, strict=True)) | {f"{m}_pooled": v for m, v in values.items()}
        )
    columns = [
        f"{m}_pooled" for m in dict.fromkeys(m for ms in POOLED_METRICS.values() for m in ms)
    ]
    return pd.DataFrame(records, columns=[*KEY_COLUMNS, *columns])


def _marks_key(marks: str, mark_set: str) -> tuple[int, int, tuple[int, ...], str]:
    """Order of mark sets: singles, pairs, all; within them by MARKS position, then name."""
    parts = marks.split("+")
    rank = list(MARK_SETS).index(mark_set) if mark_set in MARK_SETS else len(MARK_SETS)
    positions = tuple(MARKS.index(p) if p in MARKS else len(MARKS) for p in parts)
    return rank, len(parts), positions, marks


def mark_set_order(summary: pd.DataFrame) -> list[str]:
    """The distinct ``marks`` of a summary in display order.

    Parameters
    ----------
    summary : pandas.DataFrame
        Any table with ``marks`` and ``mark_set`` columns.

    Returns
    -------
    list of str
        Singles in ``MARKS`` order, then pairs (by their marks' ``MARKS`` positions), then
        the all-marks set; unknown marks after known ones, by name.
    """
    pairs = set(zip(summary["marks"].astype(str), summary["mark_set"].astype(str), strict=True))
    return [marks for marks, _ in sorted(pairs, key=lambda pair: _marks_key(*pair))]


def _sort(summary: pd.DataFrame) -> pd.DataFrame:
    position = {marks: i for i, marks in enumerate(mark_set_order(summary))}
    order = summary.assign(_position=summary["marks"].map(position))
    order = order.sort_values(["model", "task", "eid", "_position"], kind="stable")
    return order.drop(columns="_position").reset_index(drop=True)


def summarise_folds(results: pd.DataFrame, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and sd over folds of each metric, plus the pooled out-of-fold metrics.

    Parameters
    ----------
    results : pandas.DataFrame
        Fold results (module docstring); ``attrs["path"]`` names it in errors.
    predictions : pandas.DataFrame, optional
        Out-of-fold test predictions (:data:`PREDICTION_COLUMNS`). Default None: the
        pooled columns are NaN.

    Returns
    -------
    pandas.DataFrame
        One row per model × task × eid × marks, sorted by model, task, eid and mark set
        (singles in ``MARKS`` order, pairs, all): :data:`KEY_COLUMNS`, ``mark_set``,
        ``n_folds``, ``n_test`` (summed, when the results have it), ``<metric>_mean`` and
        ``<metric>_sd`` (sample sd, ``ddof=1``: NaN for one fold) for each metric column
        present, and ``<metric>_pooled`` (:func:`pooled_metrics`; NaN where the task does
        not define it or no prediction is given).

    Raises
    ------
    InputError
        A missing column, no metric column, an unknown task or mark set, marks not
        matching the mark set, a fold that is not a positive integer, a configuration and
        fold twice; in predictions a missing column, a gene predicted twice in one
        configuration, or a configuration with no fold results.
    """
    metrics = _check_results(results)
    frame = results.astype({c: str for c in (*KEY_COLUMNS, "mark_set")})
    aggregations: dict[str, tuple[str, str]] = {
        "mark_set": ("mark_set", "first"),
        "n_folds": ("fold", "nunique"),
    }
    if "n_test" in frame.columns:
        aggregations["n_test"] = ("n_test", "sum")
    for metric in metrics:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce").astype(np.float64)
        aggregations[f"{metric}_mean"] = (metric, "mean")
        aggregations[f"{metric}_sd"] = (metric, "std")
    summary = frame.groupby(list(KEY_COLUMNS), sort=False).agg(**aggregations).reset_index()
    if predictions is None:
        for column in dict.fromkeys(m for ms in POOLED_METRICS.values() for m in ms):
            summary[f"{column}_pooled"] = np.nan
    else:
        summary = summary.merge(_pooled(predictions, summary), on=list(KEY_COLUMNS), how="left")
    return _sort(summary)


def _over_cells(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per model × task × marks: mean, sd and count over cell types of ``column``."""
    grouped = summary.groupby(["model", "task", "marks"], sort=False)
    return grouped.agg(
        mark_set=("mark_set", "first"),
        mean=(column, "mean"),
        sd=(column, "std"),
        n_cells=(column, "count"),
    ).reset_index()


def _metric_column(summary: pd.DataFrame, metric: str) -> str:
    column = f"{metric}_mean"
    if column not in summary.columns:
        raise InputError(
            _source(summary, "<cv summary>"),
            f"has no column {column!r}; the columns are {list(summary.columns)}.",
            record="header",
            fix="pass a metric of the fold results (summarise_folds output).",
        )
    return column


def _best_partner(pairs: pd.DataFrame, anchor: str) -> tuple[str, float]:
    """The mark whose pair with ``anchor`` has the highest mean, and that mean."""
    parts = pairs["marks"].str.split("+")
    with_anchor = pairs[parts.map(lambda p: anchor in p).to_numpy(bool)]
    if with_anchor.empty:
        return "", float("nan")
    best = with_anchor.loc[with_anchor["mean"].idxmax()]
    partner = [p for p in str(best["marks"]).split("+") if p != anchor]
    return (partner[0] if partner else anchor), float(best["mean"])


def mark_ranking(summary: pd.DataFrame, metric: str = "pearson") -> pd.DataFrame:
    """Rank single marks by their fold-mean metric averaged over cell types, per model × task.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`summarise_folds` output.
    metric : str, default "pearson"
        Base metric name; its ``<metric>_mean`` column is averaged over cell types.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RANKING_COLUMNS`: per model × task (groups where the metric is
        defined for a single mark), rank 1 = best; ties keep ``MARKS`` order.
        ``best_partner`` is the mark ``B`` whose pair ``mark+B`` has the highest mean over
        cells (``""`` without pairs), ``pair_gain`` = pair − single; ``all_marks_…`` is the
        all-marks mean (NaN when not run).

    Raises
    ------
    InputError
        ``summary`` has no ``<metric>_mean`` column.
    """
    cells = _over_cells(summary, _metric_column(summary, metric))
    records = []
    for (model, task), group in cells.groupby(["model", "task"], sort=False):
        singles = group[(group["mark_set"] == "single") & group["mean"].notna()]
        pairs = group[(group["mark_set"] == "pair") & group["mean"].notna()]
        whole = group.loc[group["mark_set"] == "all", "mean"]
        all_marks = float(whole.iloc[0]) if len(whole) else float("nan")
        ordered = singles.sort_values("mean", ascending=False, kind="stable")
        for rank, row in enumerate(ordered.itertuples(index=False), start=1):
            partner, pair_mean = _best_partner(pairs, str(row.marks))
            gain = pair_mean - float(row.mean)
            single = (model, task, metric, rank, row.marks, row.mean, row.sd, row.n_cells)
            records.append((*single, partner, pair_mean, gain, all_marks))
    return pd.DataFrame(records, columns=list(RANKING_COLUMNS))


def _metric_name(*parts: str) -> str:
    """Join with ``_``; characters MLflow refuses in metric names become ``-``."""
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "-", "_".join(parts))


def cv_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """Headline metrics of the cross-validation with MLflow-safe names.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`summarise_folds` output.

    Returns
    -------
    dict of str to float
        For each model × task and each of its :data:`HEADLINE_METRICS` ``m`` (fold means
        averaged over cell types): ``<model>_<task>_<m>_<mark>`` per single mark,
        ``<model>_<task>_<m>_all``, ``<model>_<task>_best_<m>`` (best mark set of any
        size) and ``<model>_<task>_best_pair_<m>``; undefined values are left out.
    """
    metrics: dict[str, float] = {}
    for (model, task), group in summary.groupby(["model", "task"], sort=False):
        for metric in HEADLINE_METRICS.get(str(task), ()):
            if f"{metric}_mean" not in group.columns:
                continue
            cells = _over_cells(group, f"{metric}_mean").dropna(subset=["mean"])
            if cells.empty:
                continue
            stem = f"{model}_{task}"
            for row in cells.itertuples(index=False):
                if row.mark_set != "pair":
                    label = "all" if row.mark_set == "all" else str(row.marks)
                    metrics[_metric_name(stem, metric, label)] = float(row.mean)
            metrics[_metric_name(stem, "best", metric)] = float(cells["mean"].max())
            pairs = cells.loc[cells["mark_set"] == "pair", "mean"]
            if len(pairs):
                metrics[_metric_name(stem, "best_pair", metric)] = float(pairs.max())
    return metrics
