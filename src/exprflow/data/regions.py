"""Read a Basenji ``sequences.bed``: the fixed-length regions a Basenji2 model reads, by fold.

The layout of ``bin/basenji_data.py``'s output and of the published hg38 file
(``../shared/real/basenji2/sequences.bed``: 38,171 regions of 131,072 bp): no header,
tab-separated chrom, start, end (0-based half-open, as BED), fold (``train``, ``valid``
or ``test``). A file without the fold column reads every region as ``test``.

:func:`read_regions` checks every row: integers, ``start < end``, one region length for
the whole file (or the one the model needs), known folds, and — given the genome's
contigs — a known contig (aliases ``chr1``↔``1`` accepted, the contig renamed to the
genome's spelling) and an end inside it. Row order is kept: it is the region index of
every output (embeddings, labels).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.errors import InputError
from exprflow.genome._textio import open_text
from exprflow.genome.contigs import resolve_contig

__all__ = ["COLUMNS", "FOLDS", "read_regions"]

#: Folds in the order Basenji writes them.
FOLDS: tuple[str, ...] = ("train", "valid", "test")
#: Columns of the returned table.
COLUMNS: tuple[str, ...] = ("chrom", "start", "end", "fold")


def _parse_line(path: Path, number: int, line: str) -> tuple[str, int, int, str]:
    """One row as ``(chrom, start, end, fold)``; clear errors for a malformed line."""
    fields = line.rstrip("\r\n").split("\t")
    record = f"line {number}"
    if len(fields) not in (3, 4):
        raise InputError(
            path,
            f"has {len(fields)} tab-separated columns; expected chrom, start, end, fold.",
            record=record,
            fix="write the sequences.bed layout of basenji_data.py (tab-separated, no header).",
        )
    chrom, start_text, end_text = fields[:3]
    fold = fields[3] if len(fields) == 4 else "test"
    try:
        start, end = int(start_text), int(end_text)
    except ValueError:
        raise InputError(
            path,
            f"start/end {start_text!r}/{end_text!r} are not integers.",
            record=record,
            fix="remove header lines; columns are chrom, start, end, fold.",
        ) from None
    if not 0 <= start < end:
        raise InputError(path, f"interval {start}-{end} is empty or negative.", record=record)
    if fold not in FOLDS:
        raise InputError(
            path,
            f"unknown fold {fold!r}; expected one of {', '.join(FOLDS)}.",
            record=record,
            fix="name each region's fold train, valid or test.",
        )
    return chrom, start, end, fold


def _check_length(path: Path, table: pd.DataFrame, length: int | None) -> None:
    """Refuse regions of a length other than ``length`` (or than the first region's)."""
    lengths = (table["end"] - table["start"]).to_numpy()
    expected = length if length is not None else int(lengths[0])
    bad = np.flatnonzero(lengths != expected)
    if bad.size:
        row = table.iloc[int(bad[0])]
        raise InputError(
            path,
            f"region {row.chrom}:{row.start}-{row.end} is {lengths[bad[0]]:,} bp; every "
            f"region must be {expected:,} bp ({bad.size} region(s) differ).",
            record=f"line {int(bad[0]) + 1}",
            fix="use regions of the model's seq_length (params file), or another params file.",
        )


def _check_contigs(path: Path, table: pd.DataFrame, contigs: Mapping[str, int]) -> pd.DataFrame:
    """Rename contigs to the genome's spelling; refuse unknown contigs and regions past an end."""
    names = {c: resolve_contig(c, contigs, path) for c in table["chrom"].unique()}
    table = table.assign(chrom=table["chrom"].map(names))
    limit = table["chrom"].map(contigs).to_numpy()
    bad = np.flatnonzero(table["end"].to_numpy() > limit)
    if bad.size:
        row = table.iloc[int(bad[0])]
        raise InputError(
            path,
            f"region {row.chrom}:{row.start}-{row.end} runs past the end of {row.chrom} "
            f"({contigs[row.chrom]:,} bp).",
            record=f"line {int(bad[0]) + 1}",
            fix="use regions of the same genome build as the FASTA, or drop that region.",
        )
    return table


def read_regions(
    path: str | os.PathLike[str],
    *,
    contigs: Mapping[str, int] | None = None,
    length: int | None = None,
) -> pd.DataFrame:
    """Read and check a ``sequences.bed``.

    Parameters
    ----------
    path : str or PathLike
        The table (plain or gzip).
    contigs : mapping of str to int, optional
        The genome's contig lengths; when given, every region must lie on one of them.
    length : int, optional
        The region length the model reads; default: the first region's.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` (``start``/``end`` int64), one row per region in file order.

    Raises
    ------
    InputError
        Naming the file, the line and the fix, for any malformed or inconsistent row.
    """
    path = Path(path)
    with open_text(path, "sequences.bed") as handle:
        rows = [_parse_line(path, n, line) for n, line in enumerate(handle, 1) if line.strip()]
    if not rows:
        raise InputError(path, "holds no region.", fix="pass a non-empty sequences.bed.")
    table = pd.DataFrame(rows, columns=list(COLUMNS)).astype({"start": "int64", "end": "int64"})
    _check_length(path, table, length)
    return _check_contigs(path, table, contigs) if contigs is not None else table
