"""Motif insertion analysis: the change of predicted activity when a motif is planted.

For each motif, every sequence is copied ``n_insertions`` times; each copy has
``L_motif`` bases overwritten, at a start drawn uniformly from the positions where the
motif fits inside the sequence (before any padding), by a fresh sample of the motif's
PWM (forward strand). Insertions of different copies may overlap; each copy is a
separate edit of the original sequence, and length is preserved. The influence of a
motif on a cell is the mean over sequences × insertions of
``predict(copy) − predict(original)``; ``sd`` is the standard deviation of those
changes. Each motif's draws come from a generator seeded by ``(seed, its index)``,
drawn before batching, so results do not depend on the batch size.

:func:`summarize_influence` lists each cell's top (most activating) and bottom (most
repressing) motifs and those in the top or bottom list of every cell;
:func:`write_insertion_report` writes ``motif_insertion.csv`` (every motif × cell),
``motif_insertion_top.csv`` (the top and bottom lists), ``motif_insertion.md`` and
``motif_insertion.png`` (bars of each cell's top and bottom motifs, ± sd).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exprflow.atomic import atomic_path
from exprflow.data.promoter_codes import PAD_CODE
from exprflow.evaluation.report import markdown_table
from exprflow.genome.pwm import PWM

__all__ = [
    "INSERTION_FILE",
    "INSERTION_MARKDOWN",
    "INSERTION_PLOT",
    "INSERTION_TOP_FILE",
    "InsertionSummary",
    "Predictor",
    "insertion_influence",
    "summarize_influence",
    "write_insertion_report",
]

INSERTION_FILE = "motif_insertion.csv"
INSERTION_TOP_FILE = "motif_insertion_top.csv"
INSERTION_MARKDOWN = "motif_insertion.md"
INSERTION_PLOT = "motif_insertion.png"
_PLOTTED = 10

#: ``predict(codes (n, L) int8) -> (n, n_cells)`` predicted activity.
Predictor = Callable[[np.ndarray], np.ndarray]


def _predict(predict: Predictor, codes: np.ndarray, n_cells: int, batch_size: int) -> np.ndarray:
    """``predict`` over ``codes`` in batches, checked to be ``(n, n_cells)``."""
    parts = []
    for start in range(0, len(codes), batch_size):
        block = codes[start : start + batch_size]
        out = np.asarray(predict(block), dtype=np.float64)
        if out.shape != (len(block), n_cells):
            raise ValueError(
                f"predict returned shape {out.shape} for {len(block)} sequences, "
                f"expected ({len(block)}, {n_cells}) (one column per cell)."
            )
        parts.append(out)
    return np.concatenate(parts) if parts else np.zeros((0, n_cells))


def _sample_sites(pwm: PWM, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sites drawn from the PWM, int8 codes ``(n, L_motif)`` (inverse CDF)."""
    cdf = np.cumsum(pwm.probs, axis=1)
    draws = rng.random((n, pwm.length))
    sites = np.zeros((n, pwm.length), dtype=np.int8)
    for column in range(3):
        sites += draws >= cdf[:, column]
    return sites


def _draws(
    pwm: PWM, lengths: np.ndarray, repeats: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Start and site of every copy (sequence-major): ``(N·R,)`` and ``(N·R, L_motif)``."""
    room = np.repeat(lengths - pwm.length + 1, repeats)
    starts = (rng.random(len(room)) * room).astype(np.int64)
    return starts, _sample_sites(pwm, len(room), rng)


def _inserted(codes: np.ndarray, starts: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Copies of ``codes`` (each repeated ``len(starts) / N`` times) with the sites written."""
    copies = np.repeat(codes, len(starts) // len(codes), axis=0)
    columns = starts[:, None] + np.arange(sites.shape[1])
    copies[np.arange(len(copies))[:, None], columns] = sites
    return copies


def _check_inputs(codes: np.ndarray, pwms: Sequence[PWM], cells: Sequence[str], n: int) -> None:
    """ValueError for inputs the analysis cannot use."""
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer) or len(codes) == 0:
        raise ValueError(f"codes must be a non-empty (N, L) integer array, got {codes.shape}.")
    if not pwms or not cells or n < 1:
        raise ValueError(
            f"need motifs, cells and n_insertions ≥ 1, got {len(pwms)}, {len(cells)}, {n}."
        )
    shortest = int((codes != PAD_CODE).sum(axis=1).min())
    longest = max(pwms, key=lambda p: p.length)
    if longest.length > shortest:
        raise ValueError(
            f"motif {longest.label} ({longest.length} bp) does not fit in a sequence of "
            f"{shortest} bp."
        )


def insertion_influence(
    predict: Predictor,
    codes: np.ndarray,
    pwms: Sequence[PWM],
    cells: Sequence[str],
    *,
    n_insertions: int = 10,
    seed: int = 0,
    batch_size: int = 2048,
) -> pd.DataFrame:
    """Mean change of each cell's prediction when each motif is inserted.

    Parameters
    ----------
    predict : callable
        ``predict(codes (n, L) int8) -> (n, n_cells)`` predictions, columns in ``cells``
        order.
    codes : numpy.ndarray
        Sequences as section-0 int8 codes, shape ``(N, L)`` (padding, code 5, only at
        the right end).
    pwms : sequence of PWM
        Motifs to insert; each must fit in the shortest sequence.
    cells : sequence of str
        Names of ``predict``'s output columns.
    n_insertions : int, optional
        Edited copies per sequence and motif. Default 10.
    seed : int, optional
        Seed of the positions and sampled sites. Default 0.
    batch_size : int, optional
        Sequences per ``predict`` call. Default 2048.

    Returns
    -------
    pandas.DataFrame
        One row per motif × cell (motifs in ``pwms`` order): ``motif`` (the PWM's
        label), ``cell``, ``influence`` (mean change), ``sd`` (sd of the changes,
        ddof 1), ``n`` (copies scored).

    Raises
    ------
    ValueError
        Empty or non-integer ``codes``, no motif or cell, ``n_insertions < 1``, a motif
        longer than the shortest sequence, or ``predict`` returning the wrong shape.
    """
    codes = np.asarray(codes)
    _check_inputs(codes, pwms, cells, n_insertions)
    codes = codes.astype(np.int8)
    lengths = (codes != PAD_CODE).sum(axis=1)
    baseline = _predict(predict, codes, len(cells), batch_size)
    per_block = max(1, batch_size // n_insertions)
    rows = []
    for index, pwm in enumerate(pwms):
        starts, sites = _draws(pwm, lengths, n_insertions, np.random.default_rng([seed, index]))
        changes = []
        for start in range(0, len(codes), per_block):
            block = slice(start, start + per_block)
            copied = slice(start * n_insertions, (start + per_block) * n_insertions)
            copies = _inserted(codes[block], starts[copied], sites[copied])
            predicted = _predict(predict, copies, len(cells), batch_size)
            changes.append(predicted - np.repeat(baseline[block], n_insertions, axis=0))
        delta = np.concatenate(changes)
        sd = delta.std(axis=0, ddof=1) if len(delta) > 1 else np.zeros(len(cells))
        for cell, mean, spread in zip(cells, delta.mean(axis=0), sd, strict=True):
            rows.append((pwm.label, cell, float(mean), float(spread), len(delta)))
    return pd.DataFrame(rows, columns=["motif", "cell", "influence", "sd", "n"])


@dataclass(frozen=True)
class InsertionSummary:
    """Top and bottom motifs of each cell, and those shared by every cell.

    Attributes
    ----------
    cells : tuple of str
        Cells in table order.
    top : pandas.DataFrame
        ``cell, rank, motif, influence, sd``: each cell's ``top`` highest influences,
        rank 1 the highest.
    bottom : pandas.DataFrame
        Same columns: each cell's ``top`` lowest influences, rank 1 the lowest.
    shared_top : tuple of str
        Motifs in every cell's top list, highest mean influence over cells first.
    shared_bottom : tuple of str
        Motifs in every cell's bottom list, lowest mean influence first.
    """

    cells: tuple[str, ...]
    top: pd.DataFrame
    bottom: pd.DataFrame
    shared_top: tuple[str, ...]
    shared_bottom: tuple[str, ...]


def _ranked(table: pd.DataFrame, top: int, ascending: bool) -> pd.DataFrame:
    """Each cell's ``top`` motifs by influence, ranked from 1."""
    ordered = table.sort_values(["cell", "influence"], ascending=[True, ascending], kind="stable")
    head = ordered.groupby("cell", sort=False).head(top).copy()
    head["rank"] = head.groupby("cell", sort=False).cumcount() + 1
    return head[["cell", "rank", "motif", "influence", "sd"]].reset_index(drop=True)


def _shared(
    table: pd.DataFrame, lists: pd.DataFrame, n_cells: int, ascending: bool
) -> tuple[str, ...]:
    """Motifs of every cell's list, ordered by their mean influence over cells."""
    hits = lists.groupby("motif")["cell"].nunique()
    motifs = hits[hits == n_cells].index
    means = table[table["motif"].isin(motifs)].groupby("motif")["influence"].mean()
    return tuple(means.sort_values(ascending=ascending, kind="stable").index)


def summarize_influence(table: pd.DataFrame, top: int = 50) -> InsertionSummary:
    """Each cell's top and bottom motifs and the motifs shared by all cells.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`insertion_influence`'s table (``motif``, ``cell``, ``influence``, ``sd``).
    top : int, optional
        Motifs per list (≥ 1). Default 50.

    Returns
    -------
    InsertionSummary
        The lists; with fewer than ``2 · top`` motifs, top and bottom lists overlap.

    Raises
    ------
    ValueError
        A missing column or ``top < 1``.
    """
    missing = {"motif", "cell", "influence", "sd"} - set(table.columns)
    if missing or top < 1:
        raise ValueError(f"need columns motif, cell, influence, sd and top ≥ 1; missing {missing}")
    cells = tuple(dict.fromkeys(table["cell"].astype(str)))
    highest = _ranked(table, top, ascending=False)
    lowest = _ranked(table, top, ascending=True)
    return InsertionSummary(
        cells,
        highest,
        lowest,
        _shared(table, highest, len(cells), ascending=False),
        _shared(table, lowest, len(cells), ascending=True),
    )


def _plot(summary: InsertionSummary, dest: Path, n: int) -> Path:
    """Horizontal bars: each cell's ``n`` top and ``n`` bottom motifs, ± sd."""
    cells = summary.cells
    figure = Figure(figsize=(4.8 * max(1, len(cells)), 0.28 * 2 * n + 1.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(1, max(1, len(cells)), squeeze=False)).ravel()
    for ax, cell in zip(axes, cells, strict=False):
        best = summary.top[summary.top["cell"] == cell].head(n)
        worst = summary.bottom[summary.bottom["cell"] == cell].head(n).iloc[::-1]
        shown = pd.concat([best, worst[~worst["motif"].isin(best["motif"])]])
        colours = ["tab:red" if v > 0 else "tab:blue" for v in shown["influence"]]
        y = np.arange(len(shown))[::-1]
        ax.barh(y, shown["influence"], xerr=shown["sd"], color=colours, ecolor="0.4")
        ax.set_yticks(y, shown["motif"], fontsize=7)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_title(cell, fontsize=10)
        ax.set_xlabel("mean predicted change")
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return dest


def _markdown(table: pd.DataFrame, summary: InsertionSummary, n: int) -> str:
    """The report: shared motifs, then each cell's top and bottom motifs."""
    n_motifs = table["motif"].nunique()
    out = [
        "# Motif insertion analysis\n",
        f"{n_motifs} motifs × {len(summary.cells)} cells; influence = mean predicted change.\n",
        "## Shared by all cells\n",
        f"- top: {', '.join(summary.shared_top) or 'none'}",
        f"- bottom: {', '.join(summary.shared_bottom) or 'none'}\n",
    ]
    for cell in summary.cells:
        for title, lists in (("Top", summary.top), ("Bottom", summary.bottom)):
            rows = lists[lists["cell"] == cell].head(n).drop(columns="cell")
            out += [f"## {title} motifs in {cell}\n", markdown_table(rows)]
    return "\n".join(out)


def write_insertion_report(
    table: pd.DataFrame,
    summary: InsertionSummary,
    out_dir: str | os.PathLike[str],
    *,
    n_shown: int = _PLOTTED,
) -> dict[str, Path]:
    """Write the tables, a markdown report and a bar plot into ``out_dir``.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`insertion_influence`'s table.
    summary : InsertionSummary
        :func:`summarize_influence`'s result for ``table``.
    out_dir : str or PathLike
        Folder (created if missing).
    n_shown : int, optional
        Top and bottom motifs per cell in the markdown and the plot. Default 10.

    Returns
    -------
    dict of str to pathlib.Path
        File name constant (e.g. :data:`INSERTION_FILE`) → written path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lists = pd.concat(
        [summary.top.assign(direction="top"), summary.bottom.assign(direction="bottom")]
    )
    written = {}
    for name, frame in ((INSERTION_FILE, table), (INSERTION_TOP_FILE, lists)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
        written[name] = out / name
    with atomic_path(out / INSERTION_MARKDOWN) as tmp:
        tmp.write_text(_markdown(table, summary, n_shown))
    written[INSERTION_MARKDOWN] = out / INSERTION_MARKDOWN
    written[INSERTION_PLOT] = _plot(summary, out / INSERTION_PLOT, n_shown)
    return written
