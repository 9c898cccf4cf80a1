"""Histone-mark activity in the models' receptive fields, by cell-type class, with plots.

For every gene and mark the **mean over bins of ln(depth + 1)** at 100 bp resolution, in
two windows (:data:`WINDOWS`): ``promoter_6kb``, the promoter CNN's TSS ± 3 kb (60 bins,
:func:`~exprflow.data.chromatin_dataset.cnn_window`), as the published
``bin/chromexpress_hist_mark_activity.py``; and ``window_40kb``, Chromoformer's TSS ± 20 kb
(all 400 bins of ``promoter_100``), as ``bin/chromoformer_hist_mark_activity.py`` — which
stored one mean per **batch of 64 genes** by mistake; here it is computed per gene. Each
value is stored with the gene's log2(RPKM + 1) and above-median label, and the cell type's
class (:data:`CELL_CLASSES`: ESC, ESC-derived, cancer line, primary; ``other`` when
unknown). The published scripts use the test genes; pass the rows you want (e.g. a
fold's test genes, or all genes: activity is a property of the data, not of a model).

Outputs (:func:`write_activity_report`, :data:`ACTIVITY_FILES`): the long table
(:data:`ACTIVITY_COLUMNS`), a summary per window × class × mark (mean activity in
expressed and non-expressed genes and their difference, :data:`SUMMARY_COLUMNS`), and one
PNG per window: a panel per cell-type class, per mark a box of activity for expressed
(label 1) and for not expressed genes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.atomic import atomic_path
from exprflow.data.chromatin_dataset import cnn_window, read_chromatin_features
from exprflow.data.chromatin_meta import WINDOW
from exprflow.errors import InputError
from exprflow.simulate.layout import MARKS

if TYPE_CHECKING:
    from exprflow.data.chromatin_dataset import ChromatinFeatures

__all__ = [
    "ACTIVITY_COLUMNS",
    "ACTIVITY_FILES",
    "CELL_CLASSES",
    "CLASS_ORDER",
    "OTHER",
    "SUMMARY_COLUMNS",
    "WINDOWS",
    "activity_summary",
    "cell_class",
    "dataset_activity",
    "mark_activity",
    "plot_mark_activity",
    "write_activity_report",
]

#: Cell-type class of each Roadmap epigenome (the published grouping, plus the synthetic
#: world's HUVEC E122 as primary and K562 E123 as a cancer line).
CELL_CLASSES: dict[str, str] = {
    "E003": "ESC",
    "E016": "ESC",
    "E004": "ESC-derived",
    "E005": "ESC-derived",
    "E006": "ESC-derived",
    "E007": "ESC-derived",
    "E114": "cancer line",
    "E118": "cancer line",
    "E123": "cancer line",
    "E066": "primary",
    "E087": "primary",
    "E116": "primary",
    "E122": "primary",
}
#: Class of an epigenome not in :data:`CELL_CLASSES`.
OTHER = "other"
#: Display order of the classes.
CLASS_ORDER = ("ESC", "ESC-derived", "cancer line", "primary", OTHER)
#: Windows averaged, with their description.
WINDOWS = {
    "promoter_6kb": "TSS ± 3 kb, 60 × 100 bp (promoter CNN)",
    "window_40kb": "TSS ± 20 kb, 400 × 100 bp (Chromoformer)",
}
#: Columns of the long activity table.
ACTIVITY_COLUMNS = (
    "eid",
    "cell_class",
    "gene_id",
    "mark",
    "window",
    "activity",
    "log2_rpkm",
    "label",
)
#: Columns of :func:`activity_summary`.
SUMMARY_COLUMNS = (
    "window",
    "cell_class",
    "mark",
    "n_expressed",
    "n_not_expressed",
    "mean_expressed",
    "mean_not_expressed",
    "difference",
)
#: Files :func:`write_activity_report` writes, by role (plus ``activity_<window>.png``).
ACTIVITY_FILES = {"table": "activity.csv.gz", "summary": "activity_summary.csv"}
_META = ("gene_id", "expression", "label")
_BIN = 100
_FIX = "give train.csv rows (gene_id, expression, label[, eid]) of the features' genes."


def cell_class(eid: str) -> str:
    """The cell-type class of an epigenome.

    Parameters
    ----------
    eid : str
        Roadmap epigenome id (``E003``).

    Returns
    -------
    str
        Its :data:`CELL_CLASSES` entry, :data:`OTHER` when unknown.
    """
    return CELL_CLASSES.get(eid, OTHER)


def _rows(features: ChromatinFeatures, meta_rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of ``features.eid`` and their gene positions in ``features``."""
    source = str(meta_rows.attrs.get("path", "<train.csv rows>"))
    absent = [c for c in _META if c not in meta_rows.columns]
    if absent:
        raise InputError(source, f"missing column(s) {absent}.", record="header", fix=_FIX)
    rows = meta_rows
    if "eid" in rows.columns:
        rows = rows[rows["eid"].astype(str) == features.eid]
    if rows.empty:
        raise InputError(source, f"has no rows of cell type {features.eid}.", fix=_FIX)
    genes = rows["gene_id"].astype(str)
    if genes.duplicated().any():
        gene = genes[genes.duplicated()].iat[0]
        raise InputError(source, "gene appears twice.", record=f"{gene} {features.eid}", fix=_FIX)
    positions = pd.Index(np.asarray(features.gene_id, str)).get_indexer(genes)
    if (positions < 0).any():
        gene = genes.iat[int(np.flatnonzero(positions < 0)[0])]
        raise InputError(
            source,
            f"gene is not in the chromatin features of {features.eid}.",
            record=gene,
            fix="build the dataset with these genes, or pass only genes it has.",
        )
    return rows, positions


def _bins(features: ChromatinFeatures) -> np.ndarray:
    """``promoter_100`` (G, 400, M), checked."""
    where = f"<chromatin features of {features.eid}>"
    if _BIN not in features.promoter:
        raise InputError(where, f"has no {_BIN} bp promoter bins.", fix="read all resolutions.")
    bins = np.asarray(features.promoter[_BIN])
    expected = (len(features.gene_id), WINDOW // _BIN, len(features.marks))
    if bins.shape != expected:
        raise InputError(
            where,
            f"promoter_{_BIN} has shape {bins.shape}; expected (genes, bins, marks) {expected}.",
        )
    return bins


def mark_activity(features: ChromatinFeatures, meta_rows: pd.DataFrame) -> pd.DataFrame:
    """Mean ln(depth + 1) per gene and mark over the CNN window and the 40 kb window.

    Computed per gene (the published Chromoformer script averaged per batch of 64 genes
    by mistake).

    Parameters
    ----------
    features : ChromatinFeatures
        One cell type's features (:func:`~exprflow.data.chromatin_dataset.read_chromatin_features`);
        ``promoter[100]`` (G, 400, M) is used.
    meta_rows : pandas.DataFrame
        ``train.csv`` rows (``gene_id``, ``expression`` RPKM, ``label``; with an ``eid``
        column only the rows of ``features.eid`` are used): the genes reported, in order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ACTIVITY_COLUMNS`, one row per window × gene × mark (windows in
        :data:`WINDOWS` order, marks in ``features.marks`` order); ``activity`` float64,
        ``log2_rpkm`` = log2(expression + 1), ``label`` int64.

    Raises
    ------
    InputError
        A missing column, no row of the cell type, a gene twice or absent from the
        features, no or mis-shaped 100 bp bins.
    """
    rows, positions = _rows(features, meta_rows)
    bins = _bins(features)[positions].astype(np.float64)
    means = {"promoter_6kb": cnn_window(bins).mean(axis=1), "window_40kb": bins.mean(axis=1)}
    n_genes, n_marks = len(rows), len(features.marks)
    expression = pd.to_numeric(rows["expression"], errors="coerce").to_numpy(np.float64)
    per_gene = {
        "gene_id": np.repeat(rows["gene_id"].astype(str).to_numpy(), n_marks),
        "mark": np.tile(np.asarray(features.marks, dtype=object), n_genes),
        "log2_rpkm": np.repeat(np.log2(expression + 1), n_marks),
        "label": np.repeat(rows["label"].to_numpy(np.int64), n_marks),
    }
    frames = [
        pd.DataFrame(per_gene | {"window": window, "activity": means[window].ravel()})
        for window in WINDOWS
    ]
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "eid", features.eid)
    table.insert(1, "cell_class", cell_class(features.eid))
    return table[list(ACTIVITY_COLUMNS)]


def dataset_activity(
    folder: str | Path,
    meta: pd.DataFrame,
    *,
    genes: Iterable[str] | None = None,
    marks: Iterable[str] | None = None,
) -> pd.DataFrame:
    """:func:`mark_activity` of every cell type of a chromatin dataset, one table.

    Parameters
    ----------
    folder : str or Path
        The ``chromatin/`` folder written by ``prepare`` (``features/<eid>.h5``).
    meta : pandas.DataFrame
        Its ``train.csv`` (:func:`~exprflow.data.chromatin_meta.read_chromatin_meta`);
        cell types in order of first appearance.
    genes : Iterable of str, optional
        Only these genes (e.g. test genes). Default None: every gene.
    marks : Iterable of str, optional
        Only these marks, in this order. Default None: the file's marks.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ACTIVITY_COLUMNS`.
    """
    if genes is not None:
        meta = meta[meta["gene_id"].astype(str).isin(set(genes))]
    chosen = tuple(marks) if marks is not None else None
    tables = [
        mark_activity(read_chromatin_features(folder, str(eid), chosen), meta)
        for eid in meta["eid"].astype(str).unique()
    ]
    if not tables:
        raise InputError(folder, "no gene of the metadata was selected.", fix=_FIX)
    return pd.concat(tables, ignore_index=True)


def _check_table(table: pd.DataFrame) -> None:
    absent = [c for c in ACTIVITY_COLUMNS if c not in table.columns]
    if absent:
        raise InputError(
            str(table.attrs.get("path", "<activity table>")),
            f"missing column(s) {absent}.",
            record="header",
            fix="give mark_activity output.",
        )


def _order(values: Iterable[str], first: tuple[str, ...]) -> list[str]:
    """Distinct values, those of ``first`` in its order, then the rest by name."""
    distinct = set(values)
    return [v for v in first if v in distinct] + sorted(distinct - set(first))


def activity_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean activity of expressed and not expressed genes per window × class × mark.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`mark_activity` output (several cell types may be concatenated).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`; ``difference`` = ``mean_expressed`` −
        ``mean_not_expressed`` (NaN when a side has no gene). Ordered by window, class
        (:data:`CLASS_ORDER`) and mark (``MARKS`` order).
    """
    _check_table(table)
    keys = ["window", "cell_class", "mark"]
    expressed = table["label"].astype(int) == 1
    stats = {}
    for name, chosen in (("expressed", expressed), ("not_expressed", ~expressed)):
        grouped = table[chosen].groupby(keys)["activity"]
        stats[f"n_{name}"] = grouped.count()
        stats[f"mean_{name}"] = grouped.mean()
    summary = pd.DataFrame(stats).reindex(pd.MultiIndex.from_frame(table[keys].drop_duplicates()))
    summary = summary.reset_index()
    for column in ("n_expressed", "n_not_expressed"):
        summary[column] = summary[column].fillna(0).astype(np.int64)
    summary["difference"] = summary["mean_expressed"] - summary["mean_not_expressed"]
    rank = {
        "window": _order(summary["window"], tuple(WINDOWS)),
        "cell_class": _order(summary["cell_class"], CLASS_ORDER),
        "mark": _order(summary["mark"], MARKS),
    }
    summary = summary.sort_values(
        keys, key=lambda c: c.map({v: i for i, v in enumerate(rank[c.name])})
    )
    return summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def plot_mark_activity(
    table: pd.DataFrame, dest: str | Path, *, window: str = "promoter_6kb"
) -> Path:
    """Box plots of activity, expressed vs not expressed genes, per cell-type class and mark.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`mark_activity` output.
    dest : str or Path
        PNG file to write (atomically).
    window : str, default "promoter_6kb"
        The window shown (a key of :data:`WINDOWS`).

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    InputError
        A missing column, or no row of ``window``.
    """
    _check_table(table)
    rows = table[table["window"] == window]
    if rows.empty:
        raise InputError(
            str(table.attrs.get("path", "<activity table>")),
            f"has no rows of window {window!r}; it has {sorted(set(table['window']))}.",
            fix=f"pass one of {tuple(WINDOWS)}.",
        )
    classes = _order(rows["cell_class"], CLASS_ORDER)
    marks = _order(rows["mark"], MARKS)
    figure = Figure(figsize=(1.0 + 1.0 * len(marks), 1.2 + 2.4 * len(classes)))
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(classes), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, classes, strict=True):
        _panel(ax, rows[rows["cell_class"] == name], marks)
        cells = ", ".join(sorted(set(rows.loc[rows["cell_class"] == name, "eid"])))
        ax.set_title(f"{name} ({cells})", fontsize=9)
        ax.set_ylabel("mean ln(depth + 1)", fontsize=8)
    axes[-1].set_xticks(range(len(marks)), marks, rotation=45, ha="right", fontsize=8)
    axes[0].legend(fontsize=7, loc="upper right")
    figure.suptitle(f"Mark activity, {WINDOWS.get(window, window)}", fontsize=10)
    figure.tight_layout()
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return dest


_SIDES = ((-0.2, 0, "tab:blue", "not expressed"), (0.2, 1, "tab:orange", "expressed"))


def _panel(ax: Axes, rows: pd.DataFrame, marks: list[str]) -> None:
    """One class: per mark a box for not expressed (left) and expressed (right) genes."""
    for offset, label, colour, name in _SIDES:
        chosen = rows[rows["label"].astype(int) == label]
        data = [chosen.loc[chosen["mark"] == m, "activity"].to_numpy(np.float64) for m in marks]
        boxes = ax.boxplot(
            data,
            positions=np.arange(len(marks)) + offset,
            widths=0.35,
            showfliers=False,
            patch_artist=True,
            manage_ticks=False,
            medianprops={"color": "black"},
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(colour)
        boxes["boxes"][0].set_label(name)


def write_activity_report(table: pd.DataFrame, folder: str | Path) -> dict[str, Path]:
    """Write the activity table, its summary and one plot per window into ``folder``.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`mark_activity` output (one or more cell types).
    folder : str or Path
        Created if needed; receives :data:`ACTIVITY_FILES` and ``activity_<window>.png``
        for each window of the table, each written atomically.

    Returns
    -------
    dict of str to Path
        Role → file: ``table``, ``summary``, ``plot_<window>``.
    """
    folder = Path(folder)
    summary = activity_summary(table)
    paths = {role: folder / name for role, name in ACTIVITY_FILES.items()}
    for role, frame in (("table", table), ("summary", summary)):
        with atomic_path(paths[role]) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    for window in _order(table["window"], tuple(WINDOWS)):
        paths[f"plot_{window}"] = plot_mark_activity(
            table, folder / f"activity_{window}.png", window=window
        )
    return paths
