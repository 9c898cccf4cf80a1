"""Reader of the Roadmap Epigenomics RPKM table, and gene-id version stripping to join it.

Format
------
``57epigenomes.RPKM.pc.gz`` (gzip or plain text, tab-separated)
    Header ``gene_id`` then one column per epigenome id (``E000``, ``E003``, …); one row
    per protein-coding gene with its *unversioned* Ensembl id (``ENSG00000000003``) and
    its RPKM in every epigenome (finite, >= 0).

GTF and gene-list ids usually carry a version (``ENSG00000000003.14``);
:func:`strip_version` drops it so the two can be joined. :func:`read_roadmap_rpkm` also
strips versions from the table's own ids, so a versioned table reads the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import overload

import numpy as np
import pandas as pd

from exprflow.errors import InputError

__all__ = ["GENE_ID_COLUMN", "read_roadmap_rpkm", "strip_version"]

#: Name of the gene-id column of the Roadmap RPKM table.
GENE_ID_COLUMN = "gene_id"
#: A trailing ``.<digits>`` version, kept apart from GENCODE's ``_PAR_Y`` suffix.
_VERSION = re.compile(r"\.\d+(?=(_PAR_Y)?$)")
_FIX = "give a Roadmap-style RPKM table: header gene_id<TAB>E000<TAB>…, one row per gene."


@overload
def strip_version(ids: str) -> str: ...  # type: ignore[overload-overlap]
@overload
def strip_version(ids: Iterable[str]) -> list[str]: ...
def strip_version(ids: str | Iterable[str]) -> str | list[str]:
    """Drop the ``.version`` suffix of Ensembl ids (``ENSG00000000003.14`` → ``ENSG00000000003``).

    Only a trailing ``.<digits>`` is removed; GENCODE's ``_PAR_Y`` suffix is kept
    (``ENSG00000182378.14_PAR_Y`` → ``ENSG00000182378_PAR_Y``), so the chrY copies of
    pseudo-autosomal genes stay distinct from their chrX ids. Unversioned ids and other
    names come back unchanged.

    Parameters
    ----------
    ids : str or iterable of str
        One id or several.

    Returns
    -------
    str or list of str
        The id(s) without version, in the same order.
    """
    if isinstance(ids, str):
        return _VERSION.sub("", ids)
    return [_VERSION.sub("", str(gene_id)) for gene_id in ids]


def _read_text(path: Path) -> pd.DataFrame:
    """The table with every cell as a string (no NA conversion), or an InputError."""
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, f"cannot read the RPKM table: {err}.", fix=_FIX) from err


def _check_header(path: Path, table: pd.DataFrame) -> list[str]:
    """Return the epigenome columns, refusing a missing gene_id column or repeated names."""
    header = pd.read_csv(path, sep="\t", header=None, nrows=1, dtype=str).iloc[0].tolist()
    if GENE_ID_COLUMN not in header:
        raise InputError(
            path,
            f"has no {GENE_ID_COLUMN!r} column; the header is {header[:6]}"
            f"{'…' if len(header) > 6 else ''}.",
            record="header",
            fix=_FIX,
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InputError(path, f"column(s) {repeated} appear twice.", record="header", fix=_FIX)
    columns = [name for name in table.columns if name != GENE_ID_COLUMN]
    if not columns:
        raise InputError(path, "has no epigenome (RPKM) columns.", record="header", fix=_FIX)
    return columns


def _gene_ids(path: Path, table: pd.DataFrame) -> pd.Index:
    """Unversioned gene ids, refusing empty and duplicated ones (naming the line)."""
    ids = pd.Index(strip_version(table[GENE_ID_COLUMN].str.strip()), name=GENE_ID_COLUMN)
    empty = np.flatnonzero(ids == "")
    if len(empty):
        raise InputError(path, "empty gene id.", record=f"line {empty[0] + 2}", fix=_FIX)
    repeated = np.flatnonzero(ids.duplicated())
    if len(repeated):
        row = int(repeated[0])
        first = int(np.flatnonzero(ids == ids[row])[0])
        raise InputError(
            path,
            f"gene {ids[row]} appears twice (lines {first + 2} and {row + 2}, versions ignored).",
            record=f"line {row + 2}",
            fix="keep one row per gene.",
        )
    return ids


def _values(path: Path, table: pd.DataFrame, ids: pd.Index, columns: list[str]) -> pd.DataFrame:
    """The RPKM columns as float64, refusing non-numeric, non-finite and negative values."""
    text = table[columns]
    values = text.apply(lambda column: pd.to_numeric(column.str.strip(), errors="coerce"))
    values = values.astype(np.float64).set_axis(ids, axis=0)
    for problem, bad in (
        ("is not a number", values.isna().to_numpy()),
        ("is not finite", ~np.isfinite(values.to_numpy()) & values.notna().to_numpy()),
        ("is negative (RPKM must be >= 0)", values.to_numpy() < 0),
    ):
        if bad.any():
            row, col = (int(i[0]) for i in np.nonzero(bad))
            raise InputError(
                path,
                f"RPKM {text.iat[row, col]!r} of gene {ids[row]} in column {columns[col]} "
                f"{problem}.",
                record=f"line {row + 2}",
                fix="give finite, non-negative RPKM values in every column.",
            )
    return values


def read_roadmap_rpkm(path: str | Path) -> pd.DataFrame:
    """Read a Roadmap-style RPKM table (``57epigenomes.RPKM.pc.gz``).

    Parameters
    ----------
    path : str or Path
        Tab-separated table, gzipped or plain: ``gene_id`` then one column per epigenome.

    Returns
    -------
    pandas.DataFrame
        float64 RPKM, index ``gene_id`` (unversioned, file order) × one column per
        epigenome id (file order); ``attrs["path"]`` names the file (for later errors).

    Raises
    ------
    InputError
        Naming the file and line: unreadable file, no ``gene_id`` column, no epigenome
        columns, a repeated column name, an empty or repeated gene id (versions ignored),
        a non-numeric, non-finite or negative value.
    """
    path = Path(path)
    table = _read_text(path)
    columns = _check_header(path, table)
    values = _values(path, table, _gene_ids(path, table), columns)
    values.attrs["path"] = str(path)
    return values
