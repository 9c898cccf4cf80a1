"""Reference sequence from an indexed FASTA file (plain or bgzip-compressed).

Reads FASTA through ``pysam.FastaFile``. The ``.fai`` index (and ``.gzi`` for bgzip) is
built when missing, next to the FASTA or in ``index_dir``; a FASTA in a read-only folder
without an index gets an error saying to run ``samtools faidx``.

Coordinates are 0-based half-open. Sequences come back upper-case. Requests that reach
past a contig end (or start below 0) are padded with ``N``; every padding is logged as a
warning and counted (``Genome.padded_fetches``, ``Genome.padded_bases``), and
``Genome.fetch_padded`` reports how much was padded on each side.

Contig names are matched through aliases: ``chr1`` finds ``1`` and vice versa, ``chrM``
finds ``MT``.

Region-named records, ``chr8:11496144-11627216``, are read as that span of ``chr8``: the
file behaves as a genome whose ``chr8`` is known only there, and bases outside the span
are ``N``-padded like bases past a contig end. The record length tells the naming
convention apart: ``samtools faidx`` names are 1-based inclusive (length
``end - start + 1``), ``bedtools getfasta`` names are BED-style 0-based half-open (length
``end - start``; the real ``gata4.fa`` is one: 131,072 bases named ``…11496144-11627216``).
A name whose length fits neither is a plain contig name. Several windows of one contig
may coexist; they must not overlap.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import pysam

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome._closing import Closing
from exprflow.genome.contigs import resolve_contig

__all__ = ["Genome", "PaddedSequence"]

log = logging.getLogger(__name__)

_REGION_NAME = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>[0-9,]+)-(?P<end>[0-9,]+)$")


class PaddedSequence(NamedTuple):
    """A fetched sequence and how many of its bases are ``N`` padding.

    Attributes
    ----------
    sequence : str
        Upper-case sequence, exactly ``end - start`` long.
    left_pad : int
        ``N`` bases before the first base the file holds (start < 0, or before a
        region-named record's span).
    right_pad : int
        ``N`` bases after the last base the file holds (past the contig end).
    inner_pad : int
        ``N`` bases in gaps between two region-named records of one contig. Default 0.
    """

    sequence: str
    left_pad: int
    right_pad: int
    inner_pad: int = 0


@dataclass(frozen=True, order=True)
class _Piece:
    """One FASTA record placed on its contig: ``[start, end)`` of ``chrom``."""

    start: int
    end: int
    record: str


class Genome(Closing):
    """An indexed FASTA genome: contig lengths and padded, upper-case sequence fetches.

    Parameters
    ----------
    path : str or PathLike
        FASTA file, plain or bgzip-compressed.
    index_dir : str or PathLike, optional
        Folder for the ``.fai`` (and ``.gzi``) when the FASTA has none beside it. Default
        None: build the index next to the FASTA.

    Attributes
    ----------
    path : Path
        The FASTA file.
    padded_fetches : int
        How many fetches needed ``N`` padding so far.
    padded_bases : int
        How many ``N`` bases were padded in so far.

    Raises
    ------
    InputError
        When the file is missing, cannot be indexed, or has no index and sits in a
        folder that cannot be written.
    """

    def __init__(
        self, path: str | os.PathLike[str], index_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "FASTA file not found.", fix="check the path.")
        fai, gzi = _ensure_index(self.path, index_dir)
        try:
            self._fasta = pysam.FastaFile(
                str(self.path),
                filepath_index=str(fai),
                filepath_index_compressed=None if gzi is None else str(gzi),
            )
        except (OSError, ValueError) as exc:
            raise InputError(
                self.path, f"cannot be opened as FASTA ({exc}).", fix=_FAIDX_FIX
            ) from exc
        self._pieces = _place_records(self.path, self._fasta.references, self._fasta.lengths)
        self.padded_fetches = 0
        self.padded_bases = 0

    @property
    def contigs(self) -> dict[str, int]:
        """Contig lengths, ``{name: length}`` in file order.

        For a contig known only through region-named records, the length is the end of
        its last window.
        """
        return {chrom: pieces[-1].end for chrom, pieces in self._pieces.items()}

    def resolve(self, chrom: str) -> str:
        """Return the file's spelling of ``chrom`` (``chr1``↔``1``, ``chrM``↔``MT``).

        Parameters
        ----------
        chrom : str
            Requested contig.

        Returns
        -------
        str
            The contig name as used by :attr:`contigs`.

        Raises
        ------
        InputError
            When the contig is not in the file; the message lists those that are.
        """
        return resolve_contig(chrom, self._pieces, self.path)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Return the upper-case sequence of ``chrom:[start, end)``, ``N``-padded off the contig.

        Parameters
        ----------
        chrom : str
            Contig (aliases accepted).
        start, end : int
            0-based half-open interval; ``start`` may be negative and ``end`` past the end.

        Returns
        -------
        str
            Exactly ``end - start`` characters.
        """
        return self.fetch_padded(chrom, start, end).sequence

    def fetch_padded(self, chrom: str, start: int, end: int) -> PaddedSequence:
        """Return the sequence of ``chrom:[start, end)`` and how much of it is ``N`` padding.

        Parameters
        ----------
        chrom : str
            Contig (aliases accepted).
        start, end : int
            0-based half-open interval, ``start <= end``.

        Returns
        -------
        PaddedSequence
            ``(sequence, left_pad, right_pad, inner_pad)``.
        """
        if end < start:
            raise ValueError(f"fetch needs start <= end, got {chrom}:{start}-{end}")
        name = self.resolve(chrom)
        parts: list[str] = []
        cursor, first = start, None
        for piece in self._pieces[name]:
            lo, hi = max(start, piece.start), min(end, piece.end)
            if lo >= hi:
                continue
            first = lo if first is None else first
            parts.append("N" * (lo - cursor))
            parts.append(self._fasta.fetch(piece.record, lo - piece.start, hi - piece.start))
            cursor = hi
        parts.append("N" * (end - cursor))
        sequence = "".join(parts).upper()
        if first is None:
            padded = PaddedSequence(sequence, end - start, 0)
        else:
            left, right = first - start, end - cursor
            inner = sum(len(part) for part in parts[2:-1:2])
            padded = PaddedSequence(sequence, left, right, inner)
        self._count_padding(name, start, end, padded)
        return padded

    def _count_padding(self, chrom: str, start: int, end: int, padded: PaddedSequence) -> None:
        """Log and count the ``N`` padding of one fetch."""
        total = padded.left_pad + padded.right_pad + padded.inner_pad
        if total:
            self.padded_fetches += 1
            self.padded_bases += total
            log.warning(
                "%s: %s:%d-%d reaches outside the sequence in the file; padded %d N bases "
                "(left %d, right %d, inner %d)",
                self.path,
                chrom,
                start,
                end,
                total,
                padded.left_pad,
                padded.right_pad,
                padded.inner_pad,
            )

    def close(self) -> None:
        """Close the FASTA file."""
        self._fasta.close()


_FAIDX_FIX = (
    "give an uncompressed or bgzip-compressed (not gzip) FASTA, and check it with `samtools faidx`."
)


def _index_folder_writable(folder: Path) -> bool:
    """Return whether an index can be written into ``folder``."""
    return os.access(folder, os.W_OK)


def _ensure_index(path: Path, index_dir: str | os.PathLike[str] | None) -> tuple[Path, Path | None]:
    """Return the ``.fai`` (and ``.gzi`` for bgzip) of ``path``, building them when missing."""
    compressed = path.suffix in {".gz", ".bgz"}
    beside = path.with_name(path.name + ".fai")
    folder = path.parent
    if index_dir is not None and not beside.exists():
        folder = Path(index_dir)
        folder.mkdir(parents=True, exist_ok=True)
    fai = folder / (path.name + ".fai")
    gzi = folder / (path.name + ".gzi") if compressed else None
    if fai.exists() and (gzi is None or gzi.exists()):
        return fai, gzi
    if not _index_folder_writable(folder):
        raise InputError(
            path,
            f"has no index ({fai.name}) and its folder {folder} is not writable.",
            fix=f"run `samtools faidx {path}` where the folder is writable, "
            "or pass index_dir= a writable folder.",
        )
    _build_index(path, fai, gzi)
    return fai, gzi


def _build_index(path: Path, fai: Path, gzi: Path | None) -> None:
    """Write the ``.fai`` (and ``.gzi``) of ``path`` atomically with ``samtools faidx``."""
    log.info("indexing %s into %s", path, fai)
    with atomic_path(fai) as tmp_fai:
        args = [str(path), "--fai-idx", str(tmp_fai)]
        try:
            if gzi is None:
                pysam.faidx(*args)
            else:
                with atomic_path(gzi) as tmp_gzi:
                    pysam.faidx(*args, "--gzi-idx", str(tmp_gzi))
        except pysam.SamtoolsError as exc:
            raise InputError(path, "cannot be indexed as FASTA.", fix=_FAIDX_FIX) from exc


def _place_records(
    path: Path, records: Sequence[str], lengths: Sequence[int]
) -> dict[str, list[_Piece]]:
    """Place each record on its contig: whole contigs at 0, region-named ones at their span."""
    pieces: dict[str, list[_Piece]] = {}
    for record, length in zip(records, lengths, strict=True):
        chrom, start = _record_span(record, length)
        pieces.setdefault(chrom, []).append(_Piece(start, start + length, record))
    for chrom_pieces in pieces.values():
        chrom_pieces.sort()
        for before, after in pairwise(chrom_pieces):
            if after.start < before.end:
                raise InputError(
                    path,
                    f"records {before.record!r} and {after.record!r} cover overlapping "
                    "stretches of one contig.",
                    record=after.record,
                    fix="keep one record per contig, or non-overlapping region-named windows.",
                )
    return pieces


def _record_span(record: str, length: int) -> tuple[str, int]:
    """Return ``(contig, 0-based start)`` of a record: region names map to their span.

    ``samtools faidx`` names are 1-based inclusive (length ``end - start + 1``),
    ``bedtools getfasta`` names are BED-style (length ``end - start``); the record length
    tells which. Other lengths leave the name as a plain contig name.
    """
    match = _REGION_NAME.match(record)
    if match is None:
        return record, 0
    first = int(match["start"].replace(",", ""))
    last = int(match["end"].replace(",", ""))
    if first >= 1 and length == last - first + 1:
        return match["chrom"], first - 1
    if length == last - first:
        return match["chrom"], first
    log.warning(
        "FASTA record %r looks region-named but holds %d bases, neither %d (samtools, "
        "1-based inclusive) nor %d (bedtools, 0-based half-open); reading it as a contig "
        "of that name",
        record,
        length,
        last - first + 1,
        last - first,
    )
    return record, 0
