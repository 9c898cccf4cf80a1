"""Bin per-base depth into Chromoformer features: promoter windows and padded pCREs.

All three resolutions come from one per-base read: a span of a contig is read once per
mark, turned into its cumulative sum (:func:`cumulative`), and every bin of every region
inside it is a difference of two entries. Values are ln(mean per-base depth + 1), as in
the published ``_bin_and_pad`` (natural log).

Promoter (:func:`promoter_bins`)
    ``window // r`` bins of ``r`` bp from the window start; bases past a contig end count
    as 0 (the bin mean still divides by ``r``).
pCRE (:func:`pcre_bins`)
    ``n = ceil(length / r)`` bins, the last one the mean over its actual bases, then
    centred in ``n_max`` bins with ``ceil((n_max - n) / 2)`` zeros on the left and
    ``floor(...)`` on the right.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cumulative", "pcre_bins", "promoter_bins"]


def cumulative(values: np.ndarray) -> np.ndarray:
    """Return ``[0, v0, v0 + v1, …]`` in float64: the bin sums' lookup table.

    Parameters
    ----------
    values : numpy.ndarray
        Per-base depth of a span, shape (L,), any float dtype.

    Returns
    -------
    numpy.ndarray
        float64, shape (L + 1,).
    """
    cum = np.empty(len(values) + 1)
    cum[0] = 0.0
    cum[1:] = values  # converting first, then summing in place, is ~3x faster than mixed dtypes
    np.cumsum(cum[1:], out=cum[1:])
    return cum


def _sums(cum: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sum of the span's bases in ``[begin, end)`` (offsets into the span, clipped to it)."""
    last = len(cum) - 1
    return cum[np.clip(end, 0, last)] - cum[np.clip(begin, 0, last)]


def promoter_bins(cum: np.ndarray, starts: np.ndarray, bin_size: int, window: int) -> np.ndarray:
    """ln(mean + 1) of ``window // bin_size`` bins from each start.

    Parameters
    ----------
    cum : numpy.ndarray
        :func:`cumulative` of the span, shape (L + 1,).
    starts : numpy.ndarray
        Window starts as offsets into the span, shape (k,); parts of a window outside the
        span must lie off the contig (they count as 0).
    bin_size : int
        Bin size (bp), dividing ``window``.
    window : int
        Window length (bp).

    Returns
    -------
    numpy.ndarray
        float32, shape (k, window // bin_size); bin i covers ``[start + i r, start + (i+1) r)``.
    """
    edges = np.asarray(starts, dtype=np.int64)[:, None] + bin_size * np.arange(
        window // bin_size + 1
    )
    sums = _sums(cum, edges[:, :-1], edges[:, 1:])
    return np.log1p(sums / bin_size).astype(np.float32)


def pcre_bins(
    cum: np.ndarray, starts: np.ndarray, lengths: np.ndarray, bin_size: int, n_max: int
) -> np.ndarray:
    """Bin each pCRE (partial last bin) and centre it in ``n_max`` bins, published style.

    Parameters
    ----------
    cum : numpy.ndarray
        :func:`cumulative` of the span, shape (L + 1,).
    starts : numpy.ndarray
        pCRE starts as offsets into the span, shape (k,).
    lengths : numpy.ndarray
        pCRE lengths (bp), shape (k,), each in ``1 .. n_max * bin_size``.
    bin_size : int
        Bin size (bp).
    n_max : int
        Bins of the frame.

    Returns
    -------
    numpy.ndarray
        float32, shape (k, n_max): zeros, then the ``ceil(length / bin_size)`` bins,
        then zeros; left pad ``ceil((n_max - n) / 2)``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n_bins = -(-lengths // bin_size)
    left = -(-(n_max - n_bins) // 2)
    index = np.arange(n_max)
    begin = starts[:, None] + bin_size * index
    end = np.minimum(begin + bin_size, (starts + lengths)[:, None])
    rows, cols = np.nonzero(index < n_bins[:, None])
    out = np.zeros((len(starts), n_max), dtype=np.float32)
    means = _sums(cum, begin[rows, cols], end[rows, cols]) / (end[rows, cols] - begin[rows, cols])
    out[rows, cols + left[rows]] = np.log1p(means)
    return out
