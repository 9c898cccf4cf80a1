"""From per-window chromatin features to per-haplotype predictions: ``reduce`` then ``heads``.

The plug-ins (the ``func=`` plug points of the scoring engine):

* :data:`Reduce`: per-window features of ``G`` rows ``(G, 200, F)``, windows in shift
  order → per-row features ``(G, D)`` (ExPecto: the spatial decay transform, ``D = 10 F``);
* :data:`Heads`: ``(G, D)`` → predictions ``(G, T)``, one column per tissue model.

Rows are reduced in chunks of at most about 64 MiB of window features, so a gene's
``(1 + 2 S) × 200 × F`` features never need to be materialised at once. Plug-ins must
treat rows independently (the chunking may change between runs). Reads and writes no
files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from exprflow.errors import ExprflowError

__all__ = ["Heads", "Reduce", "predict_rows", "tissue_names"]

#: Reduce plug-in: ``(G, 200, F)`` window features → ``(G, D)`` row features.
Reduce = Callable[[np.ndarray], np.ndarray]
#: Heads plug-in: ``(G, D)`` → ``(G, T)`` predictions.
Heads = Callable[[np.ndarray], np.ndarray]

_CHUNK_BYTES = 64 * 2**20


def _checked(name: str, value: np.ndarray, rows: int) -> np.ndarray:
    """Return ``value`` as float32 ``(rows, K)``, or raise naming the plug-in."""
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != rows:
        raise ExprflowError(
            f"{name} returned shape {array.shape} for {rows} rows; expected ({rows}, K)."
        )
    return array


def predict_rows(
    row_features: Callable[[np.ndarray], np.ndarray],
    n_rows: int,
    width: int,
    reduce: Reduce,
    heads: Heads,
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce every row's window features and run the heads.

    Parameters
    ----------
    row_features : callable
        Row numbers ``(n,)`` → window features ``(n, 200, F)``.
    n_rows : int
        Rows ``G`` (>= 1).
    width : int
        ``F``, features per window (sets the chunk size).
    reduce : Reduce
        ``(n, 200, F)`` → ``(n, D)``.
    heads : Heads
        ``(G, D)`` → ``(G, T)``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Reduced features float32 ``(G, D)`` and predictions float32 ``(G, T)``.
    """
    step = max(1, _CHUNK_BYTES // (200 * max(width, 1) * 4))
    reduced = [
        _checked("reduce", reduce(row_features(chunk)), len(chunk))
        for chunk in np.array_split(np.arange(n_rows), range(step, n_rows, step))
    ]
    features = np.concatenate(reduced)
    return features, _checked("heads", heads(features), n_rows)


def tissue_names(tissues: Sequence[str] | None, heads: Heads, count: int) -> list[str]:
    """Return the names of the ``count`` prediction columns.

    Parameters
    ----------
    tissues : sequence of str or None
        Names given by the caller; None uses ``heads.tissues`` when the plug-in has that
        attribute, else ``tissue_0 …``.
    heads : Heads
        The heads plug-in.
    count : int
        Columns it returned.

    Returns
    -------
    list of str
    """
    names = tissues if tissues is not None else getattr(heads, "tissues", None)
    if names is None:
        return [f"tissue_{i}" for i in range(count)]
    names = [str(name) for name in names]
    if len(names) != count or len(set(names)) != count:
        raise ExprflowError(
            f"{len(names)} tissue names ({len(set(names))} distinct) for {count} prediction "
            "columns; give one distinct name per column of heads' output."
        )
    return names
