"""Window de-duplication: each distinct 2000-bp sequence is run through the model once.

Most personal windows equal the reference (or another haplotype's) base for base, so a
:class:`WindowBank` gives every distinct sequence one slot, hands back slot indices per
haplotype, and runs only the pending slots through the chromatin model, in batches whose
one-hot encoding is built batch by batch. The key is the sequence itself: exact (no
digest collisions), and Python's cached string hash makes a lookup about 2 µs, where a
cryptographic digest of 2000 bytes costs 6–14 µs. A slot holds its sequence (2 kB) and,
once evaluated, its float32 features (``4 F`` bytes) until :meth:`WindowBank.clear`, so a
caller bounds memory by clearing the bank after each group of genes.

The chromatin plug-in (:data:`Chromatin`) takes one-hot windows ``(N, 4, 2000)`` float32
in ``A, G, C, T`` channel order (Beluga's; ``N`` is all zeros) and returns features
``(N, F)``. Reads and writes no files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from exprflow.errors import ExprflowError
from exprflow.genome.onehot import AGCT, one_hot_batch

__all__ = ["Chromatin", "WindowBank", "encode_windows", "run_chromatin"]

#: Chromatin plug-in: one-hot windows ``(N, 4, L)`` float32 (AGCT) → features ``(N, F)``.
Chromatin = Callable[[np.ndarray], np.ndarray]


def encode_windows(sequences: Sequence[str]) -> np.ndarray:
    """One-hot encode equal-length windows for the chromatin model.

    Parameters
    ----------
    sequences : sequence of str
        ``N`` windows of one length ``L``.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(N, 4, L)``, channels ``A, G, C, T``; ``N`` bases all zero.
    """
    # Encoding to uint8 and converting after the transpose is ~4x faster than float32.
    onehot = one_hot_batch(sequences, AGCT, dtype=np.uint8)
    return np.ascontiguousarray(onehot.transpose(0, 2, 1)).astype(np.float32)


def run_chromatin(chromatin: Chromatin, sequences: Sequence[str]) -> np.ndarray:
    """Run the chromatin plug-in on windows and check what it returns.

    Parameters
    ----------
    chromatin : Chromatin
        ``(N, 4, L)`` float32 → ``(N, F)``.
    sequences : sequence of str
        The ``N`` windows.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(N, F)``.

    Raises
    ------
    ExprflowError
        When the plug-in returns another shape.
    """
    features = np.asarray(chromatin(encode_windows(sequences)), dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != len(sequences):
        raise ExprflowError(
            f"chromatin returned shape {features.shape} for {len(sequences)} windows; "
            f"expected ({len(sequences)}, F)."
        )
    return features


class WindowBank:
    """Distinct windows, their slots and (once evaluated) their chromatin features.

    Parameters
    ----------
    window : int, optional
        Length every window must have. Default 2000.

    Attributes
    ----------
    requested : int
        Windows offered to :meth:`add` so far (duplicates included).
    evaluations : int
        Distinct windows run through the chromatin model so far.
    """

    def __init__(self, window: int = 2000) -> None:
        self.window = window
        self.requested = 0
        self.evaluations = 0
        self._slots: dict[str, int] = {}
        self._pending: list[str] = []
        self._features: np.ndarray | None = None
        self._done = 0

    def __len__(self) -> int:
        """Number of distinct windows (slots) held now."""
        return len(self._slots)

    @property
    def pending(self) -> int:
        """Slots added but not evaluated yet."""
        return len(self._pending)

    def add(self, sequences: Sequence[str]) -> np.ndarray:
        """Give each window a slot (an existing one when the sequence was seen before).

        Parameters
        ----------
        sequences : sequence of str
            Windows of :attr:`window` bases (upper case, as the genome readers give them).

        Returns
        -------
        numpy.ndarray
            int64, shape ``(len(sequences),)``: slot of each window.
        """
        index = np.empty(len(sequences), dtype=np.int64)
        for i, sequence in enumerate(sequences):
            if len(sequence) != self.window:
                raise ValueError(f"window {i} has {len(sequence)} bases, expected {self.window}")
            slot = self._slots.get(sequence)
            if slot is None:
                slot = self._slots[sequence] = len(self._slots)
                self._pending.append(sequence)
            index[i] = slot
        self.requested += len(sequences)
        return index

    def evaluate(self, chromatin: Chromatin, batch_size: int = 1024) -> int:
        """Run every pending slot through ``chromatin``, ``batch_size`` windows per call.

        Parameters
        ----------
        chromatin : Chromatin
            ``(N, 4, L)`` float32 (AGCT) → ``(N, F)``.
        batch_size : int, optional
            Windows per call. Default 1024.

        Returns
        -------
        int
            Windows evaluated by this call.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        evaluated = 0
        while self._pending:
            batch = self._pending[:batch_size]
            self._store(run_chromatin(chromatin, batch))
            del self._pending[: len(batch)]
            evaluated += len(batch)
        self.evaluations += evaluated
        return evaluated

    def features(self, slots: np.ndarray) -> np.ndarray:
        """Return the features of evaluated slots.

        Parameters
        ----------
        slots : numpy.ndarray
            int, any shape ``S``, slots returned by :meth:`add` and evaluated since.

        Returns
        -------
        numpy.ndarray
            float32, shape ``S + (F,)``.
        """
        slots = np.asarray(slots)
        if self._features is None or (slots.size and int(slots.max()) >= self._done):
            raise ValueError("some slots are not evaluated yet; call evaluate() first")
        return self._features[slots]

    def clear(self) -> None:
        """Drop every slot and feature (the counters are kept)."""
        self._slots.clear()
        self._pending.clear()
        self._features = None
        self._done = 0

    def _store(self, features: np.ndarray) -> None:
        """Append evaluated features, growing the store geometrically."""
        width = features.shape[1]
        if self._features is None:
            self._features = np.empty((max(len(features), 1024), width), dtype=np.float32)
        elif self._features.shape[1] != width:
            raise ExprflowError(
                f"chromatin returned {width} features per window, "
                f"earlier {self._features.shape[1]}."
            )
        needed = self._done + len(features)
        if needed > len(self._features):
            grown = np.empty((max(needed, 2 * len(self._features)), width), dtype=np.float32)
            grown[: self._done] = self._features[: self._done]
            self._features = grown
        self._features[self._done : needed] = features
        self._done = needed
