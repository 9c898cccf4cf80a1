"""ExPecto's window geometry, spatial decay transform and the two feature layouts.

ExPecto summarises 40 kb of chromatin around a TSS: Beluga is run on 200 windows of
2,000 bp whose centres sit at TSS + shift·strand for ``shift`` in −20000 … +19800 (step
200), and the 200 × F per-window outputs are collapsed with 10 exponential-decay basis
functions (5 upstream, 5 downstream) into 10·F features, ordered basis-major
(index ``b·F + f``). The released tissue models take the *legacy* layout, which puts one
zero column before each F-block (index ``b·(F+1) + 1 + f``; 20,030 columns for F = 2002).

Distances are strand-oriented (window centre − TSS, multiplied by the strand sign), so
negative means upstream of the gene. Coordinates are 0-based.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CENTRE_INDEX",
    "DECAY_CONSTANTS",
    "N_BASES",
    "N_CHROMATIN_FEATURES",
    "SHIFTS",
    "SHIFT_STEP",
    "WINDOW",
    "from_legacy_layout",
    "spatial_basis",
    "spatial_features",
    "strand_sign",
    "to_legacy_layout",
    "window_starts",
]

SHIFT_STEP: Final = 200
SHIFTS: Final[NDArray[np.int64]] = np.arange(-20000, 20000, SHIFT_STEP, dtype=np.int64)
WINDOW: Final = 2000
CENTRE_INDEX: Final = 999
DECAY_CONSTANTS: Final = (0.01, 0.02, 0.05, 0.1, 0.2)
N_BASES: Final = 2 * len(DECAY_CONSTANTS)
N_CHROMATIN_FEATURES: Final = 2002


def strand_sign(strand: ArrayLike) -> NDArray[np.int64]:
    """Map strands to +1 / −1.

    Parameters
    ----------
    strand : str, int or array-like of them
        ``"+"``/``"-"`` or ``1``/``-1`` (any shape).

    Returns
    -------
    numpy.ndarray
        int64, the shape of ``strand``.

    Raises
    ------
    ValueError
        On any other value.
    """
    values = np.asarray(strand)
    if values.dtype.kind in "iuf":
        ok = np.isin(values, (1, -1))
        sign = values.astype(np.int64)
    else:
        text = values.astype(str)
        ok = np.isin(text, ("+", "-"))
        sign = np.where(text == "+", 1, -1).astype(np.int64)
    if not ok.all():
        bad = values[~ok].ravel()[0] if values.ndim else values
        raise ValueError(f"strand must be '+', '-', 1 or -1, got {bad!r}")
    return sign


def window_starts(tss: ArrayLike, strand: ArrayLike) -> NDArray[np.int64]:
    """Return the 0-based start of each of the 200 Beluga windows around each TSS.

    The window for shift ``s`` is centred at ``tss + s·strand`` and spans
    ``[centre − 999, centre + 1001)`` (the centre is its 0-based index 999). For − strand
    genes the windows are mirrored; the sequence is not reverse-complemented.

    Parameters
    ----------
    tss : int or array-like of int, shape (...)
        0-based TSS positions.
    strand : str, int or array-like, broadcastable to ``tss``
        Gene strands (``"+"``/``"-"`` or ±1).

    Returns
    -------
    numpy.ndarray
        int64, shape (..., 200), in :data:`SHIFTS` order.
    """
    centre = np.asarray(tss, dtype=np.int64)[..., None] + SHIFTS * strand_sign(strand)[..., None]
    return centre - CENTRE_INDEX


def spatial_basis(distances: ArrayLike) -> NDArray[np.float64]:
    """Evaluate ExPecto's 10 spatial decay functions at strand-oriented distances.

    Basis ``k < 5`` is ``exp(−c_k·floor(|d|/200))`` for ``d ≤ 0`` (upstream), else 0;
    basis ``5 + k`` is the same for ``d ≥ 0`` (downstream). ``d = 0`` counts in both.

    Parameters
    ----------
    distances : array-like of int, shape (...)
        Window centre − TSS in bp, multiplied by the gene's strand sign.

    Returns
    -------
    numpy.ndarray
        float64, shape (..., 10).
    """
    d = np.asarray(distances, dtype=np.float64)[..., None]
    decay = np.exp(-np.asarray(DECAY_CONSTANTS) * np.floor(np.abs(d) / SHIFT_STEP))
    return np.concatenate([decay * (d <= 0), decay * (d >= 0)], axis=-1)


def spatial_features(chromatin: ArrayLike) -> NDArray[np.float64]:
    """Collapse per-window chromatin outputs into ExPecto's 10·F spatial features.

    Parameters
    ----------
    chromatin : array-like, shape (..., 200, F)
        Beluga outputs (forward/RC averaged) for the 200 windows, in :data:`SHIFTS` order.

    Returns
    -------
    numpy.ndarray
        float64, shape (..., 10·F), basis-major: column ``b·F + f`` is
        ``Σ_s basis_b(shift_s) · chromatin[..., s, f]``.
    """
    values = np.asarray(chromatin, dtype=np.float64)
    if values.ndim < 2 or values.shape[-2] != len(SHIFTS):
        raise ValueError(f"chromatin must have shape (..., {len(SHIFTS)}, F), got {values.shape}")
    out = np.einsum("...sf,sb->...bf", values, spatial_basis(SHIFTS))
    return out.reshape(*out.shape[:-2], -1)


def _blocks(features: ArrayLike, width: int, name: str) -> NDArray[np.float64]:
    values = np.asarray(features, dtype=np.float64)
    if values.ndim < 1 or values.shape[-1] != N_BASES * width:
        got = values.shape[-1] if values.ndim else "a scalar"
        raise ValueError(
            f"{name} must have {N_BASES} × {width} = {N_BASES * width} columns, got {got}"
        )
    return values.reshape(*values.shape[:-1], N_BASES, width)


def to_legacy_layout(
    features: ArrayLike, n_features: int = N_CHROMATIN_FEATURES
) -> NDArray[np.float64]:
    """Insert the zero column before each block (the released models' 20,030 inputs).

    Parameters
    ----------
    features : array-like, shape (..., 10·n_features)
        Basis-major spatial features.
    n_features : int, default 2002
        Chromatin features per basis block.

    Returns
    -------
    numpy.ndarray
        float64, shape (..., 10·(n_features + 1)); column ``b·(n+1)`` is 0 and
        column ``b·(n+1) + 1 + f`` is input column ``b·n + f``.
    """
    blocks = _blocks(features, n_features, "features")
    padded = np.concatenate([np.zeros_like(blocks[..., :1]), blocks], axis=-1)
    return padded.reshape(*padded.shape[:-2], -1)


def from_legacy_layout(
    features: ArrayLike, n_features: int = N_CHROMATIN_FEATURES
) -> NDArray[np.float64]:
    """Drop the leading column of each block: the inverse of :func:`to_legacy_layout`.

    Parameters
    ----------
    features : array-like, shape (..., 10·(n_features + 1))
        Legacy-layout features.
    n_features : int, default 2002
        Chromatin features per basis block.

    Returns
    -------
    numpy.ndarray
        float64, shape (..., 10·n_features), basis-major.
    """
    blocks = _blocks(features, n_features + 1, "legacy features")[..., 1:]
    return blocks.reshape(*blocks.shape[:-2], -1)
