"""A DNA motif as a position probability matrix (rows A, C, G, T summing to 1).

:class:`PWM` is what :mod:`exprflow.genome.meme` reads and writes, what
:func:`exprflow.genome.jaspar.jaspar_pwms` returns and what motif scanners and the motif
insertion analysis take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ALPHABET", "PWM", "row_problem"]

#: Letters of the columns of every matrix.
ALPHABET = "ACGT"
_ROW_TOLERANCE = 0.01


@dataclass(frozen=True, eq=False)
class PWM:
    """A DNA motif as a position probability matrix.

    Attributes
    ----------
    name : str
        Motif id (the first word after ``MOTIF``), e.g. ``"MA0139.2"``.
    alt_name : str
        Alternative name (the second word), e.g. ``"CTCF"``; ``""`` when absent.
    probs : numpy.ndarray
        Probabilities, shape ``(length, 4)``, columns A, C, G, T, each row summing to 1.
    nsites : int
        Number of sites the matrix was built from. Default 20 (MEME's default).
    evalue : float
        E-value of the motif. Default 0.

    Raises
    ------
    ValueError
        When ``probs`` is not ``(length ≥ 1, 4)``, has a negative or non-finite entry or a
        row not summing to 1 ± 0.01.
    """

    name: str
    alt_name: str
    probs: np.ndarray
    nsites: int = 20
    evalue: float = 0.0

    def __post_init__(self) -> None:
        """Check the matrix (see the class's Raises)."""
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != 4 or probs.shape[0] < 1:
            raise ValueError(f"PWM {self.name}: probs must be (length, 4), got {probs.shape}.")
        problem = row_problem(probs)
        if problem:
            raise ValueError(f"PWM {self.name}: {problem}")
        object.__setattr__(self, "probs", probs / probs.sum(axis=1, keepdims=True))

    @property
    def length(self) -> int:
        """Motif width in bases."""
        return int(self.probs.shape[0])

    @property
    def label(self) -> str:
        """``"<name> <alt_name>"`` (just the name when there is no alternative name)."""
        return f"{self.name} {self.alt_name}" if self.alt_name else self.name

    @property
    def consensus(self) -> str:
        """Most probable base at each position."""
        return "".join(ALPHABET[i] for i in self.probs.argmax(axis=1))

    def reverse_complement(self) -> PWM:
        """The motif of the other strand (rows reversed, A↔T and C↔G swapped)."""
        return PWM(
            self.name, self.alt_name, self.probs[::-1, ::-1].copy(), self.nsites, self.evalue
        )


def row_problem(probs: np.ndarray) -> str:
    """Why the rows of ``probs`` are not probabilities.

    Parameters
    ----------
    probs : numpy.ndarray
        Matrix, shape ``(rows, 4)``.

    Returns
    -------
    str
        The first problem (a non-finite or negative entry, a row not summing to 1 ± 0.01),
        ``""`` when every row is a probability distribution.
    """
    if not np.isfinite(probs).all():
        return "a probability is not a finite number."
    if (probs < 0).any():
        row = int(np.nonzero((probs < 0).any(axis=1))[0][0])
        return f"row {row + 1} has a negative probability."
    sums = probs.sum(axis=1)
    bad = np.nonzero(np.abs(sums - 1.0) > _ROW_TOLERANCE)[0]
    if bad.size:
        return f"row {bad[0] + 1} sums to {sums[bad[0]]:.4g}, expected 1 ± {_ROW_TOLERANCE}."
    return ""
