"""The promoter fluorescence tasks (Reddy et al. v2) from a sorted-cell MPRA count table.

Input: ``mpra/fluorescence.tsv`` (the world's, :mod:`exprflow.simulate.mpra`),
tab-separated with a header: ``sequence_id``, ``sequence`` (250 bp), ``promoter_class``,
optional ``gc`` and other columns, then the counts ``{J,K,T}{1,2}_P4``,
``{J,K,T}{1,2}_P7`` and ``{J,K,T}_sum`` (non-negative integers).

Processing, as the published v2 loader:

1. **Filter**: keep a promoter when every ``_sum`` column is ≥ 5.
2. **Target**: on the kept rows, +1 pseudocount on every P4/P7 column, each column
   divided by its total (library size), ``log2(P4 / P7)`` per replicate, mean of the two
   replicates → one value per cell (``JURKAT``, ``K562``, ``THP1``); not z-scored.
3. **Splits**: stratified by promoter class × GC bin (``floor(GC / 0.05)``, GC counted on
   the sequence, with a 1e-9 tolerance so that GC 0.35 falls in bin 7, not 6): within
   each stratum a seeded permutation gives ``ceil(0.7 n)`` train, ``floor(0.1 n)`` val
   and the rest test; split seeds 0..4, one column each
   (``numpy.random.default_rng(seed)``, strata in sorted order: deterministic).
4. **Classification** variant: label 1 when the value is above the cell's median over
   all kept rows.

Outputs (:func:`build_fluorescence_tasks`): the ``FluorescenceData`` and
``FluorescenceData_classification`` tasks (:mod:`exprflow.data.promoter_tasks`) and the
published ``merged.tsv``: the kept input rows, ``JURKAT, K562, THP1``,
``is_train, is_val, is_test`` of split seed 0 and ``split_0 … split_4``
(``train``/``val``/``test``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.data.promoter_codes import encode_codes
from exprflow.data.promoter_tasks import SPLITS, TaskData, TaskSpec
from exprflow.errors import InputError
from exprflow.simulate.mpra import CELLS, COUNT_COLUMNS

__all__ = [
    "CELL_NAMES",
    "CLASSIFICATION_TASK",
    "FLUORESCENCE_TASK",
    "MERGED_FILE",
    "FluorescenceBuilt",
    "build_fluorescence",
    "build_fluorescence_tasks",
    "count_filter",
    "fluorescence_activity",
    "median_labels",
    "read_fluorescence_table",
    "stratified_splits",
]

log = logging.getLogger(__name__)

FLUORESCENCE_TASK = "FluorescenceData"
CLASSIFICATION_TASK = "FluorescenceData_classification"
#: Cells in output order.
CELL_NAMES: tuple[str, ...] = tuple(CELLS.values())
#: Name of the published merged table.
MERGED_FILE = "merged.tsv"
_ID, _SEQ, _CLASS = "sequence_id", "sequence", "promoter_class"
_FIX = "give the MPRA table of exprflow.simulate.mpra (sequence_id, sequence, promoter_class, "
_FIX += "counts {J,K,T}{1,2}_P4, _P7 and {J,K,T}_sum)."
_LETTERS = frozenset("ACGTNacgtn")


def _check_columns(path: Path, table: pd.DataFrame) -> None:
    """Refuse a table without the id, sequence, class or a count column."""
    missing = [c for c in (_ID, _SEQ, _CLASS, *COUNT_COLUMNS) if c not in table.columns]
    if missing:
        raise InputError(path, f"lacks column(s) {missing}.", record="header", fix=_FIX)
    if table[_ID].duplicated().any():
        first = table.loc[table[_ID].duplicated(), _ID].iloc[0]
        raise InputError(path, f"sequence id {first} appears twice.", record=first, fix=_FIX)


def _check_sequences(path: Path, table: pd.DataFrame, length: int) -> None:
    """Refuse a sequence of the wrong length or with letters other than ACGTN."""
    sizes = table[_SEQ].str.len().to_numpy()
    wrong = np.flatnonzero(sizes != length)
    if len(wrong):
        row = int(wrong[0])
        raise InputError(
            path,
            f"sequence {table[_ID].iat[row]} is {sizes[row]} bp; promoters must be "
            f"{length} bp ({len(wrong)} sequence(s) differ).",
            record=f"line {row + 2} ({table[_ID].iat[row]})",
            fix=f"give {length}-bp promoters, or pass length= with the library's length.",
        )
    for row, seq in enumerate(table[_SEQ]):
        if not _LETTERS.issuperset(seq):
            bad = sorted(set(seq) - _LETTERS)
            raise InputError(
                path,
                f"sequence {table[_ID].iat[row]} has letters {bad}; only ACGTN are DNA.",
                record=f"line {row + 2} ({table[_ID].iat[row]})",
                fix="give DNA sequences.",
            )


def _counts(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    """The count columns as int64, refusing non-integers and negatives (naming the cell)."""
    text = table[list(COUNT_COLUMNS)]
    values = text.apply(lambda column: pd.to_numeric(column.str.strip(), errors="coerce"))
    bad = values.isna().to_numpy() | (values.to_numpy() < 0)
    bad |= ~bad & (values.fillna(0).to_numpy() % 1 != 0)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise InputError(
            path,
            f"count {text.iat[row, col]!r} of {table[_ID].iat[row]} in column "
            f"{COUNT_COLUMNS[col]} is not a non-negative integer.",
            record=f"line {row + 2} ({table[_ID].iat[row]})",
            fix="give read counts as whole numbers >= 0.",
        )
    return values.astype(np.int64)


def read_fluorescence_table(path: str | Path, *, length: int = 250) -> pd.DataFrame:
    """Read and validate an MPRA fluorescence count table.

    Parameters
    ----------
    path : str or Path
        Tab-separated table (layout in the module docstring).
    length : int, optional
        Required promoter length in bp. Default 250.

    Returns
    -------
    pandas.DataFrame
        The table in file order: text columns as str, count columns int64;
        ``attrs["path"]`` names the file.

    Raises
    ------
    InputError
        Naming the file and the record: unreadable or empty file, missing column, a
        repeated id, a sequence of the wrong length (its id, length and the fix) or
        with non-DNA letters, a count that is not a non-negative integer.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"cannot read the fluorescence table: {exc}.", fix=_FIX) from exc
    _check_columns(path, table)
    if table.empty:
        raise InputError(path, "has no promoters.", fix=_FIX)
    _check_sequences(path, table, length)
    table[list(COUNT_COLUMNS)] = _counts(path, table)
    table.attrs["path"] = str(path)
    return table


def count_filter(table: pd.DataFrame, min_reads: int = 5) -> np.ndarray:
    """Rows whose every ``_sum`` count is at least ``min_reads``.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`read_fluorescence_table`.
    min_reads : int, optional
        Threshold on each ``{J,K,T}_sum``. Default 5 (published).

    Returns
    -------
    numpy.ndarray
        bool ``(N,)``, True = kept.
    """
    sums = table[[f"{code}_sum" for code in CELLS]].to_numpy()
    return np.asarray((sums >= min_reads).all(axis=1))


def fluorescence_activity(table: pd.DataFrame) -> np.ndarray:
    """The v2 target per cell: normalised log2(P4/P7), mean of the two replicates.

    Parameters
    ----------
    table : pandas.DataFrame
        Count table, already filtered (library totals are taken over its rows).

    Returns
    -------
    numpy.ndarray
        float64 ``(N, 3)``, columns :data:`CELL_NAMES`.
    """

    def normalised(column: str) -> np.ndarray:
        values = table[column].to_numpy(dtype=np.float64) + 1.0
        return np.asarray(values / values.sum())

    out = np.zeros((len(table), len(CELLS)))
    for c, code in enumerate(CELLS):
        for rep in (1, 2):
            out[:, c] += np.log2(normalised(f"{code}{rep}_P4") / normalised(f"{code}{rep}_P7"))
    return out / 2.0


def _gc_bins(sequences: pd.Series, width: float) -> np.ndarray:
    """GC bin ``floor(GC / width)`` of each sequence (GC over its length)."""
    upper = sequences.str.upper()
    gc = (upper.str.count("G") + upper.str.count("C")) / upper.str.len()
    return np.floor(gc.to_numpy(dtype=np.float64) / width + 1e-9).astype(np.int64)


def stratified_splits(
    classes: Sequence[str] | np.ndarray,
    gc_bins: np.ndarray,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    fractions: tuple[float, float] = (0.7, 0.1),
) -> np.ndarray:
    """Train/val/test codes stratified by class × GC bin, one column per split seed.

    Within each stratum (sorted order), a permutation from
    ``numpy.random.default_rng(seed)`` puts the first ``ceil(train n)`` rows in train,
    the next ``floor(val n)`` in val and the rest in test.

    Parameters
    ----------
    classes : sequence of str
        Promoter class per row.
    gc_bins : numpy.ndarray
        int GC bin per row.
    seeds : sequence of int, optional
        Split seeds. Default 0..4.
    fractions : tuple of float, optional
        Train and val fractions; test gets the rest. Default (0.7, 0.1).

    Returns
    -------
    numpy.ndarray
        int8 ``(N, len(seeds))``: 0 train, 1 val, 2 test.
    """
    strata = pd.Series(list(zip(np.asarray(classes, dtype=str), gc_bins, strict=True)))
    groups = sorted(strata.groupby(strata).indices.items())
    out = np.full((len(strata), len(seeds)), SPLITS["test"], dtype=np.int8)
    for column, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for _, rows in groups:
            shuffled = rows[rng.permutation(len(rows))]
            n_train = math.ceil(len(rows) * fractions[0])
            n_val = math.floor(len(rows) * fractions[1])
            out[shuffled[:n_train], column] = SPLITS["train"]
            out[shuffled[n_train : n_train + n_val], column] = SPLITS["val"]
    return out


def median_labels(values: np.ndarray) -> np.ndarray:
    """1.0 where a value is above its column's median over all rows, else 0.0.

    Parameters
    ----------
    values : numpy.ndarray
        ``(N, cells)`` activities.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, cells)``.
    """
    return (values > np.median(values, axis=0, keepdims=True)).astype(np.float32)


@dataclass
class FluorescenceBuilt:
    """The fluorescence tasks and the published merged table.

    Attributes
    ----------
    regression : TaskData
        ``FluorescenceData``.
    classification : TaskData
        ``FluorescenceData_classification`` (same rows, ids and splits).
    merged : pandas.DataFrame
        Kept rows with targets and split columns (``merged.tsv``).
    n_rows : int
        Promoters in the table.
    n_filtered : int
        Promoters removed by the count filter.
    """

    regression: TaskData
    classification: TaskData
    merged: pd.DataFrame
    n_rows: int
    n_filtered: int


def _task(
    name: str, kind: str, kept: pd.DataFrame, targets: np.ndarray, splits: np.ndarray
) -> TaskData:
    """TaskData of the kept promoters with the given targets."""
    length = int(kept[_SEQ].str.len().max())
    codes = encode_codes(kept[_SEQ].tolist(), length, ids=kept[_ID].tolist())
    spec = TaskSpec(name, kind, CELL_NAMES, len(CELL_NAMES), max_length=length)
    return TaskData(
        spec=spec,
        ids=kept[_ID].to_numpy(dtype=str),
        codes=codes,
        lengths=np.full(len(kept), length, dtype=np.int32),
        targets=targets.astype(np.float32),
        mask=np.ones(targets.shape, dtype=bool),
        splits=splits,
        group=np.arange(len(kept), dtype=np.int64),
    )


def _merged(kept: pd.DataFrame, values: np.ndarray, splits: np.ndarray) -> pd.DataFrame:
    """The published ``merged.tsv`` table."""
    merged = kept.reset_index(drop=True).copy()
    names = np.array(list(SPLITS))
    for c, cell in enumerate(CELL_NAMES):
        merged[cell] = values[:, c]
    for split, code in SPLITS.items():
        merged[f"is_{split}"] = splits[:, 0] == code
    for k in range(splits.shape[1]):
        merged[f"split_{k}"] = names[splits[:, k]]
    return merged


def build_fluorescence(
    path: str | Path,
    *,
    length: int = 250,
    min_reads: int = 5,
    split_seeds: int = 5,
    gc_bin_width: float = 0.05,
) -> FluorescenceBuilt:
    """Build both fluorescence tasks from a count table (steps in the module docstring).

    Parameters
    ----------
    path : str or Path
        The MPRA count table.
    length : int, optional
        Promoter length in bp. Default 250.
    min_reads : int, optional
        Count filter on every ``_sum``. Default 5.
    split_seeds : int, optional
        Split seeds 0..split_seeds-1. Default 5.
    gc_bin_width : float, optional
        GC bin width of the stratification. Default 0.05.

    Returns
    -------
    FluorescenceBuilt
        Tasks, merged table and row counts.

    Raises
    ------
    InputError
        For a bad table (:func:`read_fluorescence_table`) or when no promoter passes
        the count filter.
    """
    table = read_fluorescence_table(path, length=length)
    keep = count_filter(table, min_reads)
    if not keep.any():
        raise InputError(
            path,
            f"no promoter has every _sum >= {min_reads} ({len(table)} rows).",
            fix="check the count columns, or lower min_reads.",
        )
    kept = table.loc[keep].reset_index(drop=True)
    log.info("fluorescence: %d of %d promoters pass the count filter", len(kept), len(table))
    values = fluorescence_activity(kept)
    bins = _gc_bins(kept[_SEQ], gc_bin_width)
    splits = stratified_splits(kept[_CLASS].to_numpy(), bins, tuple(range(split_seeds)))
    return FluorescenceBuilt(
        regression=_task(FLUORESCENCE_TASK, "regression", kept, values, splits),
        classification=_task(CLASSIFICATION_TASK, "binary", kept, median_labels(values), splits),
        merged=_merged(kept, values, splits),
        n_rows=len(table),
        n_filtered=int((~keep).sum()),
    )


def build_fluorescence_tasks(
    path: str | Path,
    merged_dir: str | Path,
    *,
    split_seeds: int = 5,
    length: int = 250,
    min_reads: int = 5,
) -> list[TaskData]:
    """Build both fluorescence tasks and write the published ``merged.tsv`` (atomic).

    Parameters
    ----------
    path : str or Path
        The MPRA count table.
    merged_dir : str or Path
        Folder of ``merged.tsv`` (created when missing).
    split_seeds : int, optional
        Split seeds 0..split_seeds-1. Default 5.
    length : int, optional
        Promoter length in bp. Default 250.
    min_reads : int, optional
        Count filter on every ``_sum``. Default 5.

    Returns
    -------
    list of TaskData
        ``FluorescenceData`` and ``FluorescenceData_classification``.
    """
    built = build_fluorescence(path, length=length, min_reads=min_reads, split_seeds=split_seeds)
    with atomic_path(Path(merged_dir) / MERGED_FILE) as tmp:
        built.merged.to_csv(tmp, sep="\t", index=False)
    return [built.regression, built.classification]
