"""One label track over a window: per-base values (bigWig, BED, k-mer starts) and pooling.

Each reader returns a fresh float32 array of ``end - start`` values for ``chrom:[start,
end)`` (0-based half-open), which the caller may modify. Definitions (and the policy for
contigs a track lacks) are in :mod:`exprflow.data.basenji_labels`.

bigWig: ``pyBigWig`` per-base values, NaN where the file has no data. BED: intervals
read once per contig — through the tabix index when the file has one (``.tbi``/``.csi``
beside it: only the contigs asked for are read), else the whole file — sorted and merged,
so a window's coverage is a few ``searchsorted`` calls and a cumulative sum. FASTA:
:class:`~exprflow.genome.fasta.Genome` sequence as uint8, compared with the k-mer.
:func:`pool_track` turns a window's values into bins and a single bin, clipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pyBigWig
import pysam

from exprflow.data.label_targets import LabelTarget
from exprflow.errors import InputError
from exprflow.genome._textio import open_text
from exprflow.genome.contigs import contig_aliases
from exprflow.genome.fasta import Genome

__all__ = ["Reader", "open_reader", "pool_track"]

log = logging.getLogger(__name__)

#: ``reader(chrom, start, end)`` → float32 ``(end - start,)`` per-base values.
Reader = Callable[[str, int, int], np.ndarray]
_SKIPPED = ("track", "browser", "#")
_BED_FIX = "give tab-separated BED: chrom, 0-based start, end (start <= end)."


class _Contigs:
    """Contig lookup through aliases; logs once per contig a track lacks, at ``level``."""

    def __init__(self, path: Path, names: Collection[str], level: int) -> None:
        self.path, self.names, self.level, self._told = path, set(names), level, set[str]()

    def find(self, chrom: str) -> str | None:
        name = next((a for a in contig_aliases(chrom) if a in self.names), None)
        if name is None and chrom not in self._told:
            self._told.add(chrom)
            log.log(
                self.level, "%s has no contig %r: no data there for its label", self.path, chrom
            )
        return name


class _BigWigTrack:
    """A bigWig's per-base values, NaN without data."""

    def __init__(self, path: Path) -> None:
        try:
            self._bw = pyBigWig.open(str(path))
        except RuntimeError:
            raise InputError(
                path, "cannot be opened as bigWig.", fix="convert it with bedGraphToBigWig."
            ) from None
        if not self._bw.isBigWig():
            self._bw.close()
            raise InputError(path, "is a bigBed, not a bigWig.", fix="give a bigWig track.")
        self._lengths: dict[str, int] = dict(self._bw.chroms())
        self._contigs = _Contigs(path, self._lengths, logging.WARNING)

    def read(self, chrom: str, start: int, end: int) -> np.ndarray:
        name = self._contigs.find(chrom)
        if name is None:
            return np.full(end - start, np.nan, np.float32)
        lo, hi = max(start, 0), min(end, self._lengths[name])
        if (lo, hi) == (start, end):
            return self._bw.values(name, lo, hi, numpy=True)
        out = np.full(end - start, np.nan, np.float32)
        if lo < hi:
            out[lo - start : hi - start] = self._bw.values(name, lo, hi, numpy=True)
        return out

    def close(self) -> None:
        self._bw.close()


def _parse(path: Path, lines: Iterable[str], where: str) -> tuple[list[str], np.ndarray]:
    """Contigs and ``(n, 2)`` int64 starts/ends of BED lines; clear error on a bad line."""
    chroms, bounds = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith(_SKIPPED):
            continue
        fields = line.split("\t", 3) if "\t" in line else line.split(None, 3)
        try:
            start, end = int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            start, end = -1, -1
        if not 0 <= start <= end:
            raise InputError(
                path,
                f"is not a BED interval: {line.strip()[:80]!r}.",
                record=f"{where}line {number}",
                fix=_BED_FIX,
            )
        chroms.append(fields[0])
        bounds.append((start, end))
    return chroms, np.array(bounds, dtype=np.int64).reshape(-1, 2)


def _merge(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint (overlapping and touching intervals merged) starts and ends."""
    bounds = bounds[bounds[:, 1] > bounds[:, 0]]
    if not len(bounds):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    bounds = bounds[np.lexsort((bounds[:, 1], bounds[:, 0]))]
    reach = np.maximum.accumulate(bounds[:, 1])
    first = np.flatnonzero(np.r_[True, bounds[1:, 0] > reach[:-1]])
    return bounds[first, 0], reach[np.r_[first[1:] - 1, len(bounds) - 1]]


def _tabix(path: Path) -> pysam.TabixFile:
    """Open a tabix-indexed BED; clear error when it is not bgzipped or the index is bad."""
    try:
        return pysam.TabixFile(str(path))
    except (OSError, ValueError) as exc:
        raise InputError(
            path,
            f"has a tabix index but cannot be read through it ({exc}).",
            fix=f"bgzip it and rebuild the index: `tabix -f -p bed {path}`.",
        ) from None


class _BedTrack:
    """Coverage (1 covered, 0 not) of a BED's intervals."""

    def __init__(self, path: Path) -> None:
        self.path = path
        indexed = any(path.with_name(path.name + ext).exists() for ext in (".tbi", ".csi"))
        self._tabix = _tabix(path) if indexed else None
        self._merged: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self._tabix is None:
            with open_text(path, "BED") as lines:
                chroms, bounds = _parse(path, lines, "")
            column = np.array(chroms, dtype=object)
            for chrom in dict.fromkeys(chroms):
                self._merged[chrom] = _merge(bounds[column == chrom])
        names = self._tabix.contigs if self._tabix else list(self._merged)
        self._contigs = _Contigs(path, names, logging.INFO)

    def _intervals(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._merged and self._tabix is not None:
            _, bounds = _parse(self.path, self._tabix.fetch(name), f"{name} ")
            self._merged[name] = _merge(bounds)
        return self._merged[name]

    def read(self, chrom: str, start: int, end: int) -> np.ndarray:
        name = self._contigs.find(chrom)
        if name is None:
            return np.zeros(end - start, np.float32)
        starts, ends = self._intervals(name)
        first = np.searchsorted(ends, start, side="right")
        stop = np.searchsorted(starts, end, side="left")
        steps = np.zeros(end - start + 1, np.int32)
        np.add.at(steps, np.clip(starts[first:stop] - start, 0, end - start), 1)
        np.add.at(steps, np.clip(ends[first:stop] - start, 0, end - start), -1)
        return np.cumsum(steps[:-1], dtype=np.int32).astype(np.float32)

    def close(self) -> None:
        if self._tabix is not None:
            self._tabix.close()


class _KmerTrack:
    """Starts of a k-mer in a FASTA's sequence."""

    def __init__(self, genome: Genome, kmer: str) -> None:
        self._genome, self._codes = genome, np.frombuffer(kmer.encode("ascii"), np.uint8)

    def read(self, chrom: str, start: int, end: int) -> np.ndarray:
        name = self._genome.resolve(chrom)
        k, n = len(self._codes), end - start
        stop = min(end + k - 1, self._genome.contigs[name])
        text = self._genome.fetch(name, start, max(stop, start)).encode("ascii")
        sequence = np.zeros(n + k - 1, np.uint8)
        sequence[: len(text)] = np.frombuffer(text, np.uint8)
        hits = sequence[:n] == self._codes[0]
        for i in range(1, k):
            hits &= sequence[i : i + n] == self._codes[i]
        return hits.astype(np.float32)


#: An open track file, as :func:`open_reader` caches it per path.
_Handle: TypeAlias = _BigWigTrack | _BedTrack | Genome


def open_reader(target: LabelTarget, stack: ExitStack, cache: dict[Path, _Handle]) -> Reader:
    """Open ``target``'s file (once per file across calls sharing ``cache``); return its reader.

    Parameters
    ----------
    target : LabelTarget
        The track; its ``kind`` picks the reader.
    stack : ExitStack
        Closes the files it opens.
    cache : dict
        Files opened so far, by path; shared across one set of targets.

    Returns
    -------
    Reader
    """
    path = Path(target.file)
    if not path.is_file():
        raise InputError(
            path, "label track file not found.", record=target.identifier, fix="check the path."
        )
    handle = cache.get(path)
    if handle is None:
        kind = target.kind
        handle = (
            Genome(path)
            if kind == "fasta"
            else _BigWigTrack(path)
            if kind == "bigwig"
            else _BedTrack(path)
        )
        cache[path] = handle
        stack.callback(handle.close)
    if isinstance(handle, Genome):
        return _KmerTrack(handle, target.kmer or "").read
    return handle.read


def _clip(values: np.ndarray, target: LabelTarget) -> np.ndarray:
    """Soft clip above ``clip_soft`` (Basenji's), then hard clip to ``±clip``."""
    if target.clip_soft is not None:
        excess = np.maximum(np.nan_to_num(values - target.clip_soft), 0.0)
        values = np.where(excess > 0, target.clip_soft + np.sqrt(excess), values)
    return np.clip(values, -target.clip, target.clip)


def pool_track(x: np.ndarray, target: LabelTarget, n_bins: int) -> tuple[np.ndarray, float]:
    """Pool one window's per-base values into bins and one whole-window value, clipped.

    Parameters
    ----------
    x : numpy.ndarray
        float32 ``(n_bins * bin_size,)`` per-base values, NaN for no data (step 2 of
        the module docstring before ``sum_exp2`` and ``scale``); modified in place.
    target : LabelTarget
        Gives ``sum_stat``, ``scale``, ``clip_soft`` and ``clip``.
    n_bins : int
        Bins in the window.

    Returns
    -------
    bins : numpy.ndarray
        float64 ``(n_bins,)``.
    whole : float
        The single-bin value.
    """
    stat = target.sum_stat
    if stat == "sum_exp2":
        np.exp2(x, out=x)
    if target.scale != 1:
        x *= np.float32(target.scale)
    blocks = x.reshape(n_bins, -1)
    empty = np.isnan(blocks)
    holes = bool(empty.any())
    if holes:
        np.copyto(blocks, -np.inf if stat == "max" else 0.0, where=empty)
    counts = blocks.shape[1] - (np.count_nonzero(empty, axis=1) if holes else np.zeros(n_bins))
    with np.errstate(invalid="ignore", divide="ignore"):
        if stat == "max":
            bins = np.where(counts > 0, blocks.max(axis=1), np.nan).astype(np.float64)
            whole = float(np.nanmax(bins)) if counts.any() else np.nan
        elif stat == "mean":
            sums = blocks.sum(axis=1).astype(np.float64)
            bins = sums / counts
            whole = float(sums.sum() / counts.sum())
        else:
            bins = blocks.sum(axis=1).astype(np.float64)
            if stat == "sum_sqrt":
                bins = -1.0 + np.sqrt(1.0 + bins)
            whole = float(bins.mean())
    return _clip(bins, target), float(_clip(np.array(whole), target))
