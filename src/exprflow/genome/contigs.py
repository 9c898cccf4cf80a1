"""Contig-name aliases shared by the FASTA, VCF, bigWig and BED readers.

UCSC files name contigs ``chr1 … chrM``, Ensembl/1000 Genomes files ``1 … MT``. A
request for either spelling finds the contig under the other one, so files from the two
worlds can be mixed. The readers expose ``resolve`` methods built on these.
"""

from __future__ import annotations

from collections.abc import Collection
from os import PathLike

from exprflow.errors import InputError

__all__ = ["chrom_key", "contig_aliases", "resolve_contig"]

_MITO = ("chrM", "chrMT", "MT", "M")
_SHOWN = 12


def contig_aliases(name: str) -> list[str]:
    """Return ``name`` followed by its other spellings (``chr1``↔``1``, ``chrM``↔``MT``).

    Parameters
    ----------
    name : str
        A contig name as the user wrote it.

    Returns
    -------
    list of str
        The candidates in order of preference, ``name`` first, without duplicates.
    """
    if name in _MITO:
        return [name, *(alias for alias in _MITO if alias != name)]
    other = name[3:] if name.startswith("chr") else f"chr{name}"
    return [name, other] if other else [name]


def resolve_contig(
    name: str, available: Collection[str], path: str | PathLike[str], what: str = "contig"
) -> str:
    """Return the spelling of ``name`` that ``available`` uses.

    Parameters
    ----------
    name : str
        The requested contig.
    available : collection of str
        The contig names the file holds.
    path : str or PathLike
        The file, named in the error.
    what : str, optional
        What the names are, for the error message. Default is ``"contig"``.

    Returns
    -------
    str
        The first alias of ``name`` present in ``available``.

    Raises
    ------
    InputError
        When no alias of ``name`` is in the file; the message lists the contigs it has.
    """
    for alias in contig_aliases(name):
        if alias in available:
            return alias
    names = sorted(available)
    shown = ", ".join(names[:_SHOWN]) + (
        f", … ({len(names)} in all)" if len(names) > _SHOWN else ""
    )
    raise InputError(
        path,
        f"{what} {name!r} is not in the file (also tried {contig_aliases(name)[1:]}); "
        f"it has: {shown or 'no contigs'}.",
        record=name,
        fix="check the genome build and the contig naming (chr1 vs 1) of your inputs.",
    )


def chrom_key(chrom: object) -> str:
    """Return a contig name without a leading ``chr`` (case-insensitive), e.g. ``chr4`` → ``4``.

    Parameters
    ----------
    chrom : object
        Contig name or number.

    Returns
    -------
    str
        The name to compare contigs by.
    """
    name = str(chrom).strip()
    return name[3:] if name.lower().startswith("chr") else name
