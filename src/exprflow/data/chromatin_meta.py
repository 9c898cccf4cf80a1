"""Chromoformer's ``train.csv``: the dataset constants, a validating reader and a writer.

Format (published ``preprocessing/scripts/prepare_train_metadata.py``)
-----------------------------------------------------------------------
Comma-separated with a header, columns :data:`META_COLUMNS`, one row per gene × epigenome:

``gene_id``
    Unversioned Ensembl id.
``expression``
    RPKM in that epigenome (Roadmap ``57epigenomes.RPKM.pc``), finite, >= 0.
``eid``
    Epigenome id (``E003``).
``label``
    1 when ``expression`` >= the epigenome's median RPKM over the dataset's genes, else 0.
``chrom, start, end``
    The TSS, 0-based: ``start`` = TSS, ``end`` = ``start + 1``.
``strand``
    ``+`` or ``-``.
``split``
    Fold group 1..4 of the chromosome (:mod:`exprflow.data.chromatin_folds`).
``neighbors``
    Up to :data:`MAX_PCRES` distal elements (pCREs) ``chrom:start-end`` (0-based
    half-open), joined by ``;``, strongest interaction first; empty when none.
``scores``
    Their interaction scores (normalised pcHi-C frequency > :data:`SCORE_THRESHOLD`),
    joined by ``;``, one per neighbour.

``../shared/real/chromoformer/demo_meta.csv`` (E003, 100 genes of fold 1) is one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.simulate.interactions import SCORE_THRESHOLD
from exprflow.simulate.layout import MARKS

__all__ = [
    "CNN_FLANK",
    "MARKS",
    "MAX_PCRES",
    "MAX_PCRE_LENGTH",
    "META_COLUMNS",
    "N_FOLDS",
    "RESOLUTIONS",
    "SCORE_THRESHOLD",
    "WINDOW",
    "format_intervals",
    "parse_intervals",
    "parse_scores",
    "read_chromatin_meta",
    "write_chromatin_meta",
]

#: Bin sizes (bp) of the three Chromoformer resolutions, coarse to fine.
RESOLUTIONS: tuple[int, ...] = (2000, 500, 100)
#: Promoter window (bp): TSS ± 20 kb; also the frame every pCRE is padded into.
WINDOW = 40_000
#: Most distal elements (pCREs) per gene.
MAX_PCRES = 8
#: Longest pCRE kept (bp).
MAX_PCRE_LENGTH = 40_000
#: The promoter CNN's window: TSS ± 3 kb at 100 bp (60 bins).
CNN_FLANK = 3_000
#: Chromosome fold groups (``split`` values 1..N_FOLDS).
N_FOLDS = 4
#: Columns of ``train.csv``, in order.
META_COLUMNS: tuple[str, ...] = (
    "gene_id",
    "expression",
    "eid",
    "label",
    "chrom",
    "start",
    "end",
    "strand",
    "split",
    "neighbors",
    "scores",
)
_INTEGER = ("label", "start", "end", "split")
_NONE = ("nan", "none")
_FIX = "give Chromoformer's train.csv layout (" + ",".join(META_COLUMNS) + ")."


def parse_intervals(text: str) -> list[tuple[str, int, int]]:
    """Split a ``neighbors`` field into ``(chrom, start, end)`` intervals.

    Parameters
    ----------
    text : str
        ``chrom:start-end`` items joined by ``;``; empty for none.

    Returns
    -------
    list of (str, int, int)
        0-based half-open intervals, in field order.

    Raises
    ------
    ValueError
        On an item that is not ``chrom:start-end`` with ``0 <= start < end``.
    """
    intervals = []
    for item in text.split(";") if text else []:
        chrom, _, span = item.rpartition(":")
        first, _, last = span.partition("-")
        if not (chrom and first.isdigit() and last.isdigit() and int(first) < int(last)):
            raise ValueError(f"neighbour {item!r} is not chrom:start-end with start < end")
        intervals.append((chrom, int(first), int(last)))
    return intervals


def parse_scores(text: str) -> list[float]:
    """Split a ``scores`` field into floats.

    Parameters
    ----------
    text : str
        Numbers joined by ``;``; empty for none.

    Returns
    -------
    list of float
        The scores, in field order.

    Raises
    ------
    ValueError
        On an item that is not a finite number.
    """
    scores = [float(item) for item in text.split(";")] if text else []
    if not all(math.isfinite(s) for s in scores):
        raise ValueError(f"scores {text!r} are not all finite")
    return scores


def format_intervals(intervals: list[tuple[str, int, int]]) -> str:
    """Join intervals as a ``neighbors`` field (inverse of :func:`parse_intervals`).

    Parameters
    ----------
    intervals : list of (str, int, int)
        0-based half-open ``(chrom, start, end)``.

    Returns
    -------
    str
        ``chrom:start-end`` items joined by ``;`` (empty for none).
    """
    return ";".join(f"{chrom}:{start}-{end}" for chrom, start, end in intervals)


def read_chromatin_meta(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a Chromoformer ``train.csv``.

    Parameters
    ----------
    path : str or PathLike
        The file (comma-separated, header :data:`META_COLUMNS`; extra columns kept after
        them).

    Returns
    -------
    pandas.DataFrame
        One row per gene × eid, file order; ``neighbors`` and ``scores`` as strings
        (empty for none; ``NaN``/``None`` read as none); ``label``, ``start``, ``end``,
        ``split`` int64; ``expression`` float64.

    Raises
    ------
    InputError
        Naming the file and line: missing file or columns, a non-numeric value, a
        negative or non-finite expression, a label not 0/1, ``end <= start``, a strand
        not ``+``/``-``, a split not in 1..4, a malformed neighbour, a neighbour count
        different from the score count, a repeated gene × eid.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "train.csv file not found.", fix="check the path.")
    table = pd.read_csv(path, dtype=dict.fromkeys(META_COLUMNS, str), keep_default_na=False)
    missing = [c for c in META_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(path, f"lacks columns {missing}.", record="header", fix=_FIX)
    table = table[[*META_COLUMNS, *(c for c in table.columns if c not in META_COLUMNS)]]
    for column in ("neighbors", "scores"):  # pandas may have written NaN for none
        table[column] = table[column].mask(table[column].str.lower().isin(_NONE), "")
    table = _numeric(path, table)
    for line, record in enumerate(table.to_dict("records")):
        problem = _row_problem(record)
        if problem:
            raise InputError(
                path,
                problem,
                record=f"line {line + 2} ({record['gene_id']}, {record['eid']})",
                fix=_FIX,
            )
    _check_unique(path, table)
    return table.reset_index(drop=True)


def _numeric(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    """Convert the numeric columns, raising on the first value that is not a number."""
    table = table.copy()
    for column in ("expression", *_INTEGER):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | (values % 1 != 0 if column in _INTEGER else False)
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                path,
                f"{column} {table[column].iloc[line]!r} is not "
                + ("an integer." if column in _INTEGER else "a number."),
                record=f"line {line + 2}",
                fix=_FIX,
            )
        table[column] = values.astype(np.int64 if column in _INTEGER else np.float64)
    return table


def _row_problem(record: dict[str, Any]) -> str:
    """Describe what is wrong with one row, or return ``""``."""
    if not record["gene_id"] or not record["eid"] or not record["chrom"]:
        return "gene_id, eid and chrom must not be empty."
    if not math.isfinite(record["expression"]) or record["expression"] < 0:
        return f"expression {record['expression']} is not a finite RPKM >= 0."
    if record["label"] not in (0, 1):
        return f"label {record['label']} is not 0 or 1."
    if not 0 <= record["start"] < record["end"]:
        return f"start {record['start']} / end {record['end']} is not 0 <= start < end."
    if record["strand"] not in ("+", "-"):
        return f"strand {record['strand']!r} is not '+' or '-'."
    if not 1 <= record["split"] <= N_FOLDS:
        return f"split {record['split']} is not a fold group 1..{N_FOLDS}."
    try:
        neighbors = parse_intervals(record["neighbors"])
        scores = parse_scores(record["scores"])
    except ValueError as exc:
        return f"{exc}."
    if len(neighbors) != len(scores):
        return f"{len(neighbors)} neighbors but {len(scores)} scores."
    if len(neighbors) > MAX_PCRES:
        return f"{len(neighbors)} neighbors, more than {MAX_PCRES}."
    return ""


def _check_unique(path: Path, table: pd.DataFrame) -> None:
    """Raise InputError when a gene × eid pair has two rows."""
    repeated = table.duplicated(["gene_id", "eid"])
    if repeated.any():
        line = int(np.flatnonzero(repeated.to_numpy())[0])
        row = table.iloc[line]
        raise InputError(
            path,
            f"gene {row['gene_id']} appears twice for {row['eid']}.",
            record=f"line {line + 2}",
            fix="keep one row per gene and epigenome.",
        )


def write_chromatin_meta(meta: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``meta`` as a Chromoformer ``train.csv``, atomically.

    Parameters
    ----------
    meta : pandas.DataFrame
        At least :data:`META_COLUMNS` (written first, in that order; extra columns after
        them); ``neighbors``/``scores`` empty or NaN for none.
    path : str or PathLike
        Destination file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        When columns are missing.
    """
    path = Path(path)
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise InputError(path, f"metadata to write lacks columns {missing}.", fix=_FIX)
    table = meta[[*META_COLUMNS, *(c for c in meta.columns if c not in META_COLUMNS)]]
    table = table.assign(neighbors=table["neighbors"].fillna(""), scores=table["scores"].fillna(""))
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
