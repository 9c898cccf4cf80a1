"""JASPAR motifs from the database bundled with pyjaspar (no download).

Counts plus a pseudocount, normalised per position, named as in the MEME files JASPAR
distributes (``MOTIF <matrix id> <TF name>``: ``name`` = matrix id, ``alt_name`` = TF).
The pseudocount default (0.5) is that of :func:`exprflow.simulate.motifs.load_motifs`, so
the world's planted motifs come back with the same probabilities.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from exprflow.errors import InputError
from exprflow.genome.pwm import ALPHABET, PWM

__all__ = ["JASPAR_PSEUDOCOUNT", "jaspar_pwms"]

#: Pseudocount added to every JASPAR count (as :func:`exprflow.simulate.motifs.load_motifs`).
JASPAR_PSEUDOCOUNT = 0.5
_SAFE_NAME = re.compile(r"^[\w.:+()/ -]+$")


def _jaspar_db(release: str | None) -> Any:
    """Open the bundled JASPAR release (default: pyjaspar's newest)."""
    from pyjaspar import jaspardb

    if release is None:
        return jaspardb()
    releases = jaspardb().get_releases()
    if release not in releases:
        raise InputError(
            "pyjaspar", f"unknown JASPAR release {release!r}.", fix=f"use one of {releases}."
        )
    return jaspardb(release=release)


def _check_safe(values: Sequence[str], what: str) -> None:
    """InputError for a value pyjaspar's SQL could not take (quotes and the like)."""
    for value in values:
        if not _SAFE_NAME.match(value):
            raise InputError("pyjaspar", f"{what} {value!r} has characters a name cannot have.")


def _fetch(db: Any, **query: object) -> list[Any]:
    """Call pyjaspar's ``fetch_motifs`` without its warnings (the errors here say more)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(db.fetch_motifs(**query))


def _named(db: Any, query: dict[str, object], tf_names: Sequence[str]) -> list[Any]:
    """Records of the named TFs, names matched case-insensitively.

    pyjaspar compares names case-sensitively, so the database's own spellings are looked
    up first (``AHR::ARNT`` → ``Ahr::Arnt``).
    """
    spellings: set[str] = set()
    for name in tf_names:
        rows = db.conn.execute(
            "SELECT DISTINCT NAME FROM MATRIX WHERE NAME = ? COLLATE NOCASE", (name,)
        )
        spellings.update(row[0] for row in rows)
    records = _fetch(db, **query, tf_name=sorted(spellings)) if spellings else []
    wanted = {n.casefold() for n in tf_names}
    _require(wanted, {r.name.casefold() for r in records}, "TF names", db.release)
    return records


def jaspar_pwms(
    collection: str = "CORE",
    tax_group: str = "vertebrates",
    release: str | None = None,
    tf_names: Sequence[str] | None = None,
    *,
    matrix_ids: Sequence[str] | None = None,
    pseudocount: float = JASPAR_PSEUDOCOUNT,
) -> list[PWM]:
    """Motifs of the JASPAR database bundled with pyjaspar (latest version of each matrix).

    Parameters
    ----------
    collection : str, optional
        JASPAR collection. Default ``"CORE"``.
    tax_group : str, optional
        Taxonomic group. Default ``"vertebrates"``.
    release : str, optional
        E.g. ``"JASPAR2024"``. Default None: pyjaspar's newest bundled release.
    tf_names : sequence of str, optional
        Keep only these TFs (case-insensitive). Default None: every TF.
    matrix_ids : sequence of str, optional
        Keep only these matrices (exact versions, e.g. ``"MA0139.2"``, older versions
        included). Default None: the latest version of every matrix.
    pseudocount : float, optional
        Added to every count before normalising. Default :data:`JASPAR_PSEUDOCOUNT` (0.5,
        the same as :func:`exprflow.simulate.motifs.load_motifs`).

    Returns
    -------
    list of PWM
        ``name`` = matrix id, ``alt_name`` = TF name, ``nsites`` = sites counted, in the
        database's order.

    Raises
    ------
    InputError
        Unknown release, a requested TF name or matrix id not found, or no motif at all.
    """
    _check_safe([collection, tax_group, *(tf_names or ()), *(matrix_ids or ())], "value")
    db = _jaspar_db(release)
    query: dict[str, object] = {"collection": collection, "tax_group": tax_group}
    if matrix_ids:
        query["matrix_id"] = list(matrix_ids)
    records = _named(db, query, tf_names) if tf_names else _fetch(db, **query)
    if matrix_ids:
        _require(set(matrix_ids), {r.matrix_id for r in records}, "matrix ids", db.release)
    if not records:
        raise InputError(db.release, f"no motif in collection {collection}, group {tax_group}.")
    return [_record_pwm(record, pseudocount) for record in records]


def _require(wanted: set[str], found: set[str], what: str, release: str) -> None:
    """InputError listing the requested names that were not found."""
    missing = sorted(wanted - found)
    if missing:
        raise InputError(release, f"{what} not found: {', '.join(missing)}.")


def _record_pwm(record: Any, pseudocount: float) -> PWM:
    """A pyjaspar motif record as a :class:`PWM` (counts + pseudocount, normalised)."""
    counts = np.array([record.counts[b] for b in ALPHABET], dtype=float).T
    nsites = round(float(counts[0].sum()))
    probs = counts + pseudocount
    probs /= probs.sum(axis=1, keepdims=True)
    return PWM(record.matrix_id, record.name, probs, nsites)
