"""Histone-mark tracks of the chromatin dataset: find them per cell type, read per-base depth.

Layout: ``<tracks_dir>/<eid>/<mark><suffix>`` with a suffix of :data:`TRACK_SUFFIXES`
(the synthetic world writes ``.bigWig``), or an explicit ``{eid: {mark: path}}`` mapping.

Formats
-------
bigWig
    Read with :class:`exprflow.genome.bigwig.BigWig` (contig aliases ``chr1``↔``1``).
bedGraph (``.bedGraph``, ``.bedGraph.gz``)
    Tab-separated ``chrom start end value``, 0-based half-open, intervals of a contig
    sorted or not but not overlapping; leading ``track``/``browser``/``#`` lines skipped.
    Bases without an interval, and contigs the file does not name, read 0.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyBigWig

from exprflow.errors import InputError
from exprflow.genome._textio import open_text
from exprflow.genome.bigwig import BigWig
from exprflow.genome.contigs import contig_aliases, resolve_contig

__all__ = ["TRACK_SUFFIXES", "SignalTrack", "open_track", "track_files"]

#: File name endings tried, in order, for ``<tracks_dir>/<eid>/<mark>``.
TRACK_SUFFIXES = (".bigWig", ".bw", ".bedGraph", ".bedGraph.gz")
_HEADER = ("track", "browser", "#")
TrackSpec = str | os.PathLike[str] | Mapping[str, Mapping[str, str | os.PathLike[str]]]


class SignalTrack(Protocol):
    """A per-base signal track."""

    path: Path

    def per_base(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Return float32 depth of ``chrom:[start, end)``, 0 without coverage."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


class _BigWigTrack:
    """A bigWig read per base through pyBigWig (opened and checked by :class:`BigWig`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        BigWig(path).close()  # the checks: exists, is a bigWig
        self._bw = pyBigWig.open(str(path))
        self._contigs: dict[str, int] = dict(self._bw.chroms())

    def per_base(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Return float32 depth of ``chrom:[start, end)``, 0 without coverage or off the contig."""
        name = resolve_contig(chrom, self._contigs, self.path)
        lo, hi = max(start, 0), min(end, self._contigs[name])
        if lo >= hi:
            return np.zeros(end - start, np.float32)
        values = self._bw.values(name, lo, hi, numpy=True)
        values[np.isnan(values)] = 0.0
        if (lo, hi) == (start, end):
            return values
        out = np.zeros(end - start, np.float32)
        out[lo - start : hi - start] = values
        return out

    def close(self) -> None:
        """Close the file."""
        self._bw.close()


class _BedGraphTrack:
    """A bedGraph held in memory as sorted intervals per contig."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._contigs = _read_bedgraph(path)

    def per_base(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Return float32 depth of ``chrom:[start, end)``, 0 without an interval."""
        name = next((a for a in contig_aliases(chrom) if a in self._contigs), None)
        if name is None:
            return np.zeros(end - start, np.float32)
        starts, ends, values = self._contigs[name]
        position = np.arange(start, end)
        index = np.searchsorted(starts, position, side="right") - 1
        inside = (index >= 0) & (position < ends[np.maximum(index, 0)])
        return np.where(inside, values[np.maximum(index, 0)], np.float32(0))

    def close(self) -> None:
        """Nothing to release (the file was read whole)."""


def _read_bedgraph(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read and validate a bedGraph: ``{chrom: (starts, ends, float32 values)}``, sorted."""
    with open_text(path, "bedGraph") as text:
        skip = 0
        for line in text:
            if not line.startswith(_HEADER) and line.strip():
                break
            skip += 1
    fix = "give a 4-column bedGraph: chrom, start, end (0-based half-open), value."
    try:
        with open_text(path, "bedGraph") as text:  # gzip told by content, not by name
            table = pd.read_csv(text, sep="\t", header=None, skiprows=skip, dtype={0: str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(path, f"cannot be read as bedGraph ({exc}).", fix=fix) from exc
    if table.shape[1] != 4 or not all(pd.api.types.is_numeric_dtype(table[c]) for c in (1, 2, 3)):
        raise InputError(path, "is not 4 tab-separated columns with numbers.", fix=fix)
    contigs = {}
    for chrom, rows in table.groupby(0, sort=False):
        rows = rows.sort_values(1)
        starts, ends = rows[1].to_numpy(np.int64), rows[2].to_numpy(np.int64)
        bad = (starts < 0) | (ends <= starts)
        bad[1:] |= starts[1:] < ends[:-1]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                path,
                "interval is empty, negative or overlaps the one before it.",
                record=f"{chrom}:{starts[i]}-{ends[i]}",
                fix=fix,
            )
        contigs[str(chrom)] = (starts, ends, rows[3].to_numpy(np.float32))
    return contigs


def open_track(path: str | os.PathLike[str]) -> SignalTrack:
    """Open a bigWig or bedGraph track by its name.

    Parameters
    ----------
    path : str or PathLike
        ``.bedGraph``/``.bedGraph.gz``/``.bdg`` files are read as bedGraph, the rest as
        bigWig.

    Returns
    -------
    SignalTrack
        An object with ``per_base(chrom, start, end)`` and ``close()``.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".bedgraph", ".bedgraph.gz", ".bdg", ".bdg.gz")):
        return _BedGraphTrack(path)
    return _BigWigTrack(path)


def track_files(
    tracks: TrackSpec, cells: Sequence[str], marks: Sequence[str]
) -> dict[str, dict[str, Path]]:
    """Find every cell type's track of every mark, failing on the first one missing.

    Parameters
    ----------
    tracks : str, PathLike or mapping
        Folder ``<eid>/<mark><suffix>`` (:data:`TRACK_SUFFIXES`), or ``{eid: {mark: path}}``.
    cells : sequence of str
        Epigenome ids.
    marks : sequence of str
        Histone marks.

    Returns
    -------
    dict of str to dict of str to Path
        ``{eid: {mark: file}}``.

    Raises
    ------
    InputError
        Naming the cell type, the mark and the path expected, when a track is missing.
    """
    found: dict[str, dict[str, Path]] = {}
    for eid in cells:
        found[eid] = {}
        for mark in marks:
            if isinstance(tracks, Mapping):
                given = tracks.get(eid, {}).get(mark)
                candidates = [Path(given)] if given is not None else []
                expected = Path(given) if given is not None else Path(f"tracks[{eid!r}][{mark!r}]")
            else:
                candidates = [Path(tracks) / eid / f"{mark}{s}" for s in TRACK_SUFFIXES]
                expected = candidates[0]
            path = next((c for c in candidates if c.is_file()), None)
            if path is None:
                raise _missing(expected, eid, mark, tracks)
            found[eid][mark] = path
    return found


def _missing(expected: Path, eid: str, mark: str, tracks: TrackSpec) -> InputError:
    """The error for a cell type lacking a mark's track."""
    if isinstance(tracks, Mapping):
        present = sorted(tracks.get(eid, {}))
    else:
        folder = Path(tracks) / eid
        present = sorted(
            {
                p.name[: -len(s)]
                for p in folder.glob("*")
                for s in TRACK_SUFFIXES
                if p.name.endswith(s)
            }
        )
    return InputError(
        expected,
        f"cell type {eid} has no {mark} track (tried {', '.join(TRACK_SUFFIXES)}); "
        f"tracks present for {eid}: {present or 'none'}.",
        record=f"{eid} {mark}",
        fix=f"add the track, drop the mark with -P chromatin_marks=… (without {mark}), "
        f"or drop cell type {eid}.",
    )
