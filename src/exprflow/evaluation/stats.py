"""Statistics shared by the evaluations: correlations with p-values, Benjamini–Hochberg.

:func:`correlation` returns Spearman, Pearson and Pearson's two-sided p-value over the
jointly finite entries of two vectors, NaN when undefined (fewer than
:data:`MIN_VALUES` pairs, or a constant side). :func:`benjamini_hochberg` adjusts
p-values for the false discovery rate, leaving undefined (NaN) tests out of the family.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["MIN_VALUES", "UNDEFINED", "Correlation", "benjamini_hochberg", "correlation"]

#: Fewest values a correlation is computed on.
MIN_VALUES = 3


class Correlation(NamedTuple):
    """Spearman and Pearson correlation with Pearson's two-sided p-value (NaN: undefined)."""

    spearman: float
    pearson: float
    p_value: float


UNDEFINED = Correlation(float("nan"), float("nan"), float("nan"))


def correlation(predicted: np.ndarray, observed: np.ndarray) -> Correlation:
    """Correlate two vectors over their jointly finite entries.

    Parameters
    ----------
    predicted, observed : numpy.ndarray
        Shape (n,).

    Returns
    -------
    Correlation
        NaN everywhere for fewer than :data:`MIN_VALUES` pairs or a constant side.
    """
    x, y = np.asarray(predicted, np.float64), np.asarray(observed, np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < MIN_VALUES or np.ptp(x) == 0 or np.ptp(y) == 0:
        return UNDEFINED
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y).statistic
    return Correlation(float(spearman), float(pearson.statistic), float(pearson.pvalue))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) over the finite p-values.

    Parameters
    ----------
    p_values : numpy.ndarray
        Shape (n,), values in [0, 1]; NaN entries (undefined tests) are left out of the
        family and stay NaN.

    Returns
    -------
    numpy.ndarray
        float64, shape (n,): ``min_{j ≥ i} p_(j) · m / j``, capped at 1, in input order.
    """
    p = np.asarray(p_values, np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got min {p.min()}, max {p.max()}")
    q = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size:
        order = np.argsort(p[finite], kind="stable")
        scaled = p[finite][order] * finite.size / np.arange(1, finite.size + 1)
        monotone = np.minimum.accumulate(scaled[::-1])[::-1]
        q[finite[order]] = np.minimum(monotone, 1.0)
    return q
