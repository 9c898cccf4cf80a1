"""Signal tracks in bigWig format: binned reads and an atomic writer.

Reads and writes bigWig through ``pyBigWig``. :meth:`BigWig.binned` sums the per-base
signal of each bin, bases without coverage (NaN) counting as 0; ``"mean"`` divides that
sum by the bin size, so it is coverage-weighted, not a mean of interval values. Bins
reaching past a contig end (or below 0) are zero there. Windows up to
``VALUES_MAX_SPAN`` bases read per-base values (fast, C); longer spans integrate the
stored intervals, so whole-contig requests stay within memory.

Contig names are matched through aliases (``chr1``↔``1``, ``chrM``↔``MT``).
Coordinates are 0-based half-open, as in the bigWig format itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyBigWig

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome._closing import Closing
from exprflow.genome.contigs import resolve_contig

__all__ = ["VALUES_MAX_SPAN", "BigWig", "write_bigwig"]

#: Longest span (bases) read as per-base values; longer spans integrate intervals.
VALUES_MAX_SPAN = 1 << 22


class BigWig(Closing):
    """A bigWig signal track opened for binned reads.

    Parameters
    ----------
    path : str or PathLike
        bigWig file.

    Raises
    ------
    InputError
        When the file is missing or is not a bigWig.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "bigWig file not found.", fix="check the path.")
        try:
            self._bw = pyBigWig.open(str(self.path))
        except RuntimeError as exc:
            raise InputError(
                self.path, "cannot be opened as bigWig.", fix="convert it with bedGraphToBigWig."
            ) from exc
        if not self._bw.isBigWig():
            self._bw.close()
            raise InputError(self.path, "is a bigBed, not a bigWig.", fix="give a bigWig track.")

    @property
    def contigs(self) -> dict[str, int]:
        """Contig lengths, ``{name: length}``."""
        return dict(self._bw.chroms())

    def resolve(self, chrom: str) -> str:
        """Return the file's spelling of ``chrom``, or raise listing the contigs it has.

        Parameters
        ----------
        chrom : str
            Requested contig.

        Returns
        -------
        str
            The contig name used in the file.
        """
        return resolve_contig(chrom, self.contigs, self.path)

    def binned(
        self,
        chrom: str,
        start: int,
        end: int,
        bin_size: int,
        stat: Literal["mean", "sum"] = "mean",
    ) -> np.ndarray:
        """Return the signal of ``chrom:[start, end)`` in bins of ``bin_size`` bases.

        Parameters
        ----------
        chrom : str
            Contig (aliases accepted).
        start, end : int
            0-based half-open window; ``end - start`` must be a multiple of ``bin_size``.
        bin_size : int
            Bases per bin, > 0.
        stat : {"mean", "sum"}, optional
            ``"sum"``: sum of per-base values; ``"mean"``: that sum / ``bin_size``.
            Default "mean".

        Returns
        -------
        numpy.ndarray
            float32, shape ``((end - start) // bin_size,)``; no coverage counts as 0.
        """
        if bin_size <= 0 or end < start or (end - start) % bin_size:
            raise ValueError(
                f"need end - start ({end} - {start}) to be a non-negative multiple of "
                f"bin_size ({bin_size})"
            )
        if stat not in ("mean", "sum"):
            raise ValueError(f"stat must be 'mean' or 'sum', got {stat!r}")
        name = self.resolve(chrom)
        lo, hi = max(start, 0), min(end, self.contigs[name])
        nbins = (end - start) // bin_size
        if lo >= hi:
            sums = np.zeros(nbins)
        elif end - start <= VALUES_MAX_SPAN:
            per_base = np.zeros(end - start)
            per_base[lo - start : hi - start] = self._bw.values(name, lo, hi, numpy=True)
            sums = np.nan_to_num(per_base).reshape(nbins, bin_size).sum(axis=1)
        else:
            intervals = np.array(self._bw.intervals(name, lo, hi) or [], dtype=np.float64)
            sums = _interval_sums(intervals.reshape(-1, 3), start, bin_size, nbins)
        return (sums / bin_size if stat == "mean" else sums).astype(np.float32)

    def close(self) -> None:
        """Close the file."""
        self._bw.close()


def _interval_sums(intervals: np.ndarray, start: int, bin_size: int, nbins: int) -> np.ndarray:
    """Sum sorted, disjoint ``(start, end, value)`` intervals into bins, exactly.

    Uses the cumulative signal ``F(x) = sum_i v_i * clip(x - s_i, 0, e_i - s_i)`` at the
    bin edges, so memory is O(intervals + bins) whatever the span.
    """
    if not len(intervals):
        return np.zeros(nbins)
    edges = start + bin_size * np.arange(nbins + 1, dtype=np.float64)
    begin = np.clip(intervals[:, 0], edges[0], edges[-1])
    stop = np.clip(intervals[:, 1], edges[0], edges[-1])
    value = np.nan_to_num(intervals[:, 2])
    total = np.concatenate([[0.0], np.cumsum(value * (stop - begin))])
    done = np.searchsorted(stop, edges, side="right")
    current = np.minimum(done, len(value) - 1)
    partial = np.where(
        done < len(value), value[current] * np.clip(edges - begin[current], 0, None), 0.0
    )
    return np.diff(total[done] + partial)


def write_bigwig(
    path: str | os.PathLike[str],
    contigs: Mapping[str, int],
    intervals: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]],
) -> None:
    """Write a bigWig from per-contig intervals, atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination ``.bw``; written under a temporary name, renamed when complete.
    contigs : mapping of str to int
        Contig lengths, in the order the header lists them.
    intervals : mapping of str to (starts, ends, values)
        Per contig: 0-based half-open starts and ends (sorted, non-overlapping, within
        the contig) and float values; NaN values are left out (no coverage). Contigs
        may be missing (no signal).

    Raises
    ------
    InputError
        On an unknown contig or unsorted, overlapping or out-of-range intervals.
    """
    checked = {
        chrom: _checked(path, chrom, contigs, *arrays) for chrom, arrays in intervals.items()
    }
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader(list(contigs.items()))
            for chrom in contigs:
                starts, ends, values = checked.get(chrom, (np.array([]),) * 3)
                if len(starts):
                    bw.addEntries([chrom] * len(starts), starts, ends=ends, values=values)
        finally:
            bw.close()


def _checked(
    path: str | os.PathLike[str],
    chrom: str,
    contigs: Mapping[str, int],
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    values: npt.ArrayLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one contig's intervals for :func:`write_bigwig`; drop NaN values."""
    if chrom not in contigs:
        raise InputError(
            path,
            f"intervals given for contig {chrom!r}, which is not in the header contigs.",
            record=chrom,
            fix="add the contig and its length to `contigs`.",
        )
    begin = np.asarray(starts, dtype=np.int64)
    stop = np.asarray(ends, dtype=np.int64)
    value = np.asarray(values, dtype=np.float64)
    if not begin.shape == stop.shape == value.shape or begin.ndim != 1:
        raise InputError(path, "starts, ends and values differ in shape.", record=chrom)
    bad = (begin < 0) | (stop <= begin) | (stop > contigs[chrom])
    bad[1:] |= begin[1:] < stop[:-1]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            path,
            f"interval {i} is empty, off the contig (length {contigs[chrom]}), or overlaps "
            "or precedes the one before it.",
            record=f"{chrom}:{begin[i]}-{stop[i]}",
            fix="give sorted, non-overlapping intervals inside the contig.",
        )
    keep = ~np.isnan(value)
    return begin[keep], stop[keep], value[keep]
