"""Genomic intervals and BED files.

Reads BED3 and wider (BED6 columns name and strand are kept, a missing strand reads as
``"."``; ``track``, ``browser`` and ``#`` lines are skipped), plain or
gzip/bgzip-compressed, whole (:func:`read_bed`) or by region from a tabix-indexed
bgzipped BED (:func:`fetch_bed`, through ``pysam.TabixFile``). Writes BED6
(:func:`write_bed`), atomically.

BED is 0-based half-open, like :class:`Interval` and everything inside exprflow, so no
coordinate shifts happen at this boundary.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pysam

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome._textio import open_text
from exprflow.genome.contigs import resolve_contig

__all__ = ["Interval", "centered", "fetch_bed", "merge", "overlaps", "read_bed", "write_bed"]

_STRANDS = ("+", "-", ".")
_SKIPPED = ("track", "browser", "#")
_BED_FIX = (
    "give tab-separated BED: chrom, 0-based start, end (start <= end), [name, score, strand]."
)


@dataclass(frozen=True)
class Interval:
    """A stretch of one contig, 0-based half-open.

    Parameters
    ----------
    chrom : str
        Contig name.
    start, end : int
        0-based half-open bounds, ``0 <= start <= end``.
    name : str, optional
        Label. Default None.
    strand : str, optional
        ``"+"``, ``"-"`` or ``"."``. Default ``"+"``.
    """

    chrom: str
    start: int
    end: int
    name: str | None = None
    strand: str = "+"

    def __post_init__(self) -> None:
        if not self.chrom:
            raise ValueError("Interval needs a contig name")
        if not 0 <= self.start <= self.end:
            raise ValueError(
                f"Interval needs 0 <= start <= end, got {self.chrom}:{self.start}-{self.end}"
            )
        if self.strand not in _STRANDS:
            raise ValueError(f"Interval strand must be one of {_STRANDS}, got {self.strand!r}")

    def __len__(self) -> int:
        return self.end - self.start


def centered(where: Interval | tuple[str, int], width: int) -> Interval:
    """Return the interval of ``width`` bases centred on an interval or a base.

    Parameters
    ----------
    where : Interval or (str, int)
        An interval (its centre base is ``start + len // 2``; name and strand are kept)
        or a ``(chrom, 0-based position)`` pair.
    width : int
        Width of the result, > 0. The centre base sits at index ``width // 2``.

    Returns
    -------
    Interval
        ``[centre - width // 2, centre - width // 2 + width)``.

    Raises
    ------
    ValueError
        When the result would start below 0 (use ``Genome.fetch``, which pads, instead).
    """
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    if isinstance(where, Interval):
        chrom, centre = where.chrom, where.start + len(where) // 2
        name, strand = where.name, where.strand
    else:
        (chrom, centre), name, strand = where, None, "+"
    start = centre - width // 2
    return Interval(chrom, start, start + width, name, strand)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping or touching intervals, ignoring strand.

    Parameters
    ----------
    intervals : iterable of Interval
        Any order.

    Returns
    -------
    list of Interval
        Disjoint, sorted by contig name then start, without names; a merged interval
        keeps its members' strand when they share one, else ``"."``.
    """
    merged: list[Interval] = []
    for item in sorted(intervals, key=lambda iv: (iv.chrom, iv.start, iv.end)):
        last = merged[-1] if merged else None
        if last is not None and last.chrom == item.chrom and item.start <= last.end:
            strand = last.strand if last.strand == item.strand else "."
            merged[-1] = Interval(last.chrom, last.start, max(last.end, item.end), None, strand)
        else:
            merged.append(Interval(item.chrom, item.start, item.end, None, item.strand))
    return merged


def overlaps(intervals: Iterable[Interval], chrom: str, start: int, end: int) -> list[Interval]:
    """Return the intervals that share at least one base with ``chrom:[start, end)``.

    Parameters
    ----------
    intervals : iterable of Interval
        Candidates (a linear scan; use :func:`fetch_bed` for large indexed files).
    chrom : str
        Contig, matched exactly.
    start, end : int
        0-based half-open query.

    Returns
    -------
    list of Interval
        The overlapping intervals, in input order.
    """
    return [iv for iv in intervals if iv.chrom == chrom and iv.start < end and iv.end > start]


def read_bed(path: str | os.PathLike[str]) -> list[Interval]:
    """Read every interval of a BED file.

    Parameters
    ----------
    path : str or PathLike
        BED3+ file, plain or gzip/bgzip-compressed.

    Returns
    -------
    list of Interval
        In file order.

    Raises
    ------
    InputError
        On a malformed line (named by its number).
    """
    path = Path(path)
    with open_text(path, "BED") as lines:
        return [
            _parse(path, line, f"line {number}")
            for number, line in enumerate(lines, start=1)
            if line.strip() and not line.startswith(_SKIPPED)
        ]


def fetch_bed(path: str | os.PathLike[str], chrom: str, start: int, end: int) -> list[Interval]:
    """Read the intervals of a tabix-indexed BED that overlap ``chrom:[start, end)``.

    Parameters
    ----------
    path : str or PathLike
        bgzip-compressed BED with a ``.tbi`` or ``.csi`` index beside it.
    chrom : str
        Contig (``chr1``↔``1`` aliases accepted); a contig absent from the index raises.
    start, end : int
        0-based half-open query.

    Returns
    -------
    list of Interval
        Overlapping intervals, sorted as in the file.
    """
    path = Path(path)
    if not any(path.with_name(path.name + ext).exists() for ext in (".tbi", ".csi")):
        raise InputError(
            path,
            "has no tabix index (.tbi/.csi) for region queries.",
            fix=f"sort it, bgzip it and run `tabix -p bed {path}`.",
        )
    with pysam.TabixFile(str(path)) as tabix:
        contig = resolve_contig(chrom, tabix.contigs, path)
        return [
            _parse(path, line, f"{contig}:{start}-{end}")
            for line in tabix.fetch(contig, max(start, 0), end)
        ]


def write_bed(path: str | os.PathLike[str], intervals: Iterable[Interval]) -> None:
    """Write intervals as BED6 (name ``.`` when None, score 0), atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination; written under a temporary name and renamed when complete.
    intervals : iterable of Interval
        Written in the given order.
    """
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        for iv in intervals:
            out.write(f"{iv.chrom}\t{iv.start}\t{iv.end}\t{iv.name or '.'}\t0\t{iv.strand}\n")


def _parse(path: Path, line: str, record: str) -> Interval:
    """Parse one BED line into an :class:`Interval`."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < 3:
        fields = line.split()
    if len(fields) < 3:
        raise InputError(
            path, f"has {len(fields)} column(s), BED needs 3.", record=record, fix=_BED_FIX
        )
    name = fields[3] if len(fields) > 3 and fields[3] != "." else None
    strand = fields[5] if len(fields) > 5 else "."
    try:
        return Interval(fields[0], int(fields[1]), int(fields[2]), name, strand)
    except ValueError as exc:
        raise InputError(
            path, f"is not a valid interval ({exc}).", record=record, fix=_BED_FIX
        ) from exc
