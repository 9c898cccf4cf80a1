"""Pick each gene's distal elements (pCREs) from a promoter-capture Hi-C interaction table.

Table layout: :mod:`exprflow.simulate.interactions` (tab-separated, header
:data:`~exprflow.simulate.interactions.COLUMNS`: ``cell_type``, the bait fragment and its
``bait_gene_id``, the other end ``other_chrom/other_start/other_end`` 0-based half-open,
``score``). Gene ids are matched without their version.

Selection (published ``get_neighbors``): per cell type and gene, the other ends with
``score > 1.5`` and length <= 40 kb, each interval once (its highest score), strongest
first (ties by the ``chrom:start-end`` text, as the published priority queue orders
them), at most 8.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.data.chromatin_meta import MAX_PCRE_LENGTH, MAX_PCRES, SCORE_THRESHOLD
from exprflow.data.roadmap import strip_version
from exprflow.errors import InputError
from exprflow.simulate.interactions import COLUMNS

__all__ = ["NO_INTERACTIONS", "Pcre", "read_interactions", "select_pcres"]

log = logging.getLogger(__name__)

#: Values of ``no_interactions``: what a gene without any row in the table gets.
NO_INTERACTIONS = ("error", "allow")
#: One selected pCRE: ``(chrom, start, end, score)``.
Pcre = tuple[str, int, int, float]
_INTEGER = ("bait_start", "bait_end", "other_start", "other_end")
_FIX = "give a pcHi-C table with header " + "\t".join(COLUMNS) + " (0-based half-open)."


def read_interactions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate an interaction table.

    Parameters
    ----------
    path : str or PathLike
        Tab-separated table (plain or gzip) with the columns of
        :data:`exprflow.simulate.interactions.COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        The table plus ``gene`` (``bait_gene_id`` without version);
        ``attrs["path"]`` names the file.

    Raises
    ------
    InputError
        Naming the file and line: missing file or columns, a coordinate that is not an
        integer, ``end <= start``, a score that is not a finite number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "interaction table not found.", fix="check the path.")
    table = pd.read_csv(path, sep="\t", dtype={"cell_type": str, "bait_gene_id": str})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(path, f"lacks columns {missing}.", record="header", fix=_FIX)
    for column in (*_INTEGER, "score"):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(values) | ((values % 1 != 0) if column in _INTEGER else False)
        _raise_at(
            path, bad, f"{column} is not " + ("an integer" if column != "score" else "a number")
        )
        table[column] = values.astype(np.int64) if column in _INTEGER else values
    for side in ("bait", "other"):
        start, end = table[f"{side}_start"].to_numpy(), table[f"{side}_end"].to_numpy()
        _raise_at(path, (start < 0) | (end <= start), f"{side} interval is not 0 <= start < end")
    table["gene"] = strip_version(table["bait_gene_id"])
    table.attrs["path"] = str(path)
    return table


def _raise_at(path: Path, bad: np.ndarray, problem: str) -> None:
    """Raise InputError naming the first bad line, if any."""
    if bad.any():
        line = int(np.flatnonzero(bad)[0])
        raise InputError(path, f"{problem}.", record=f"line {line + 2}", fix=_FIX)


def select_pcres(
    table: pd.DataFrame, eid: str, genes: Sequence[str], *, no_interactions: str = "error"
) -> dict[str, list[Pcre]]:
    """Select up to 8 pCREs for each gene in one cell type.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`read_interactions` output.
    eid : str
        Cell type (``cell_type`` value).
    genes : sequence of str
        Unversioned gene ids.
    no_interactions : {"error", "allow"}, optional
        A gene (or the whole cell type) without any row in the table: raise, or give it
        no pCRE. Default "error".

    Returns
    -------
    dict of str to list of Pcre
        ``{gene: [(chrom, start, end, score), …]}``, strongest first, for every gene.

    Raises
    ------
    InputError
        On a gene without any row for ``eid`` (naming gene, cell type and file), unless
        ``no_interactions="allow"``; on an unknown ``no_interactions``.
    """
    path = table.attrs.get("path", "interaction table")
    if no_interactions not in NO_INTERACTIONS:
        raise InputError(
            path,
            f"no_interactions is {no_interactions!r}, expected one of {NO_INTERACTIONS}.",
            fix="pass no_interactions=error or allow.",
        )
    rows = table.loc[table["cell_type"] == eid]
    cells = sorted(set(table["cell_type"].astype(str)))
    _check_covered(path, rows, eid, genes, no_interactions, cells)
    length = rows["other_end"] - rows["other_start"]
    kept = rows.loc[(rows["score"] > SCORE_THRESHOLD) & (length <= MAX_PCRE_LENGTH)]
    kept = kept.assign(
        neighbor=kept["other_chrom"].astype(str)
        + ":"
        + kept["other_start"].astype(str)
        + "-"
        + kept["other_end"].astype(str)
    )
    kept = kept.sort_values(["gene", "score", "neighbor"], ascending=[True, False, True])
    kept = kept.drop_duplicates(["gene", "neighbor"]).groupby("gene", sort=False).head(MAX_PCRES)
    chosen: dict[str, list[Pcre]] = {gene: [] for gene in genes}
    for gene, chrom, start, end, score in zip(
        kept["gene"], kept["other_chrom"], kept["other_start"], kept["other_end"], kept["score"],
        strict=True,
    ):  # fmt: skip
        if gene in chosen:
            chosen[gene].append((str(chrom), int(start), int(end), float(score)))
    return chosen


def _check_covered(
    path: str,
    rows: pd.DataFrame,
    eid: str,
    genes: Sequence[str],
    no_interactions: str,
    cells: list[str],
) -> None:
    """Raise (or warn, under ``allow``) for genes without any row for ``eid``."""
    present = set(rows["gene"])
    absent = [gene for gene in genes if gene not in present]
    if not absent:
        return
    fix = 'pass no_interactions="allow" (-P chromatin_no_interactions=allow) to give it no pCRE.'
    if no_interactions == "allow":
        log.warning("%s: %d genes have no interaction row for %s", path, len(absent), eid)
    elif rows.empty:
        raise InputError(
            path,
            f"cell type {eid} has no row at all (cell types present: {cells}).",
            record=eid,
            fix=f"give the interaction table of {eid}, drop that cell type, or {fix}",
        )
    else:
        raise InputError(
            path,
            f"gene {absent[0]} has no interaction row for cell type {eid} "
            f"({len(absent)} genes lack one).",
            record=f"{eid} {absent[0]}",
            fix=fix,
        )
