"""One-hot encoding of DNA with explicit alphabets, and reverse complements.

Models disagree on channel order: Basenji2 reads ``A,C,G,T`` (:data:`ACGT`), Beluga
(ExPecto) reads ``A,G,C,T`` (:data:`AGCT`). Every function here takes the alphabet as a
required argument, so the order is never implicit. ``N`` and any other non-ACGT
character encode as all zeros; lower case is accepted. Arrays are laid out
``(length, 4)``, batched ``(batch, length, 4)``.

Encoding is a lookup table applied to the raw bytes of the sequence, so it runs at numpy
speed (about a millisecond per Basenji2 window).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "ACGT",
    "AGCT",
    "one_hot",
    "one_hot_batch",
    "reverse_complement",
    "reverse_complement_onehot",
]

#: Basenji2 channel order.
ACGT = "ACGT"
#: Beluga / ExPecto channel order.
AGCT = "AGCT"

_COMPLEMENT = str.maketrans("ACGTRYKMBVDHNacgtrykmbvdhn", "TGCAYRMKVBHDNtgcayrmkvbhdn")


def _check_alphabet(alphabet: str) -> None:
    """Raise ValueError unless ``alphabet`` is a permutation of ``"ACGT"``."""
    if sorted(alphabet) != sorted(ACGT):
        raise ValueError(f"alphabet must be a permutation of 'ACGT', got {alphabet!r}")


@cache
def _codes(alphabet: str) -> npt.NDArray[np.intp]:
    """Return a 256-entry table: byte → channel of ``alphabet``, 4 for anything else."""
    _check_alphabet(alphabet)
    table = np.full(256, 4, dtype=np.intp)
    for channel, base in enumerate(alphabet):
        table[ord(base)] = channel
        table[ord(base.lower())] = channel
    return table


def _encode(sequence: str, alphabet: str, dtype: npt.DTypeLike) -> np.ndarray:
    """One-hot encode ``sequence`` to ``(len(sequence), 4)``."""
    data = np.frombuffer(sequence.encode("ascii", errors="replace"), dtype=np.uint8)
    return np.eye(5, 4, dtype=dtype)[_codes(alphabet)[data]]


def one_hot(sequence: str, alphabet: str, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """One-hot encode a DNA sequence in an explicit channel order.

    Parameters
    ----------
    sequence : str
        DNA; case-insensitive. ``N`` and other characters become all-zero rows.
    alphabet : str
        Channel order, a permutation of ``"ACGT"``: :data:`ACGT` or :data:`AGCT`.
    dtype : numpy dtype, optional
        Output dtype. Default is ``np.float32``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(sequence), 4)``.
    """
    return _encode(sequence, alphabet, dtype)


def one_hot_batch(
    sequences: Sequence[str], alphabet: str, dtype: npt.DTypeLike = np.float32
) -> np.ndarray:
    """One-hot encode equal-length sequences into one array.

    Parameters
    ----------
    sequences : sequence of str
        DNA sequences, all the same length.
    alphabet : str
        Channel order, :data:`ACGT` or :data:`AGCT`.
    dtype : numpy dtype, optional
        Output dtype. Default is ``np.float32``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(sequences), length, 4)``.
    """
    lengths = {len(sequence) for sequence in sequences}
    if len(lengths) > 1:
        raise ValueError(f"sequences must share one length, got lengths {sorted(lengths)}")
    length = lengths.pop() if lengths else 0
    return _encode("".join(sequences), alphabet, dtype).reshape(len(sequences), length, 4)


def reverse_complement(sequence: str) -> str:
    """Return the reverse complement of ``sequence``, keeping case, ``N`` and IUPAC codes.

    Parameters
    ----------
    sequence : str
        DNA.

    Returns
    -------
    str
        Reverse complement, same length.
    """
    return sequence.translate(_COMPLEMENT)[::-1]


def reverse_complement_onehot(onehot: np.ndarray, alphabet: str) -> np.ndarray:
    """Reverse-complement one-hot DNA: reverse the positions, swap complementary channels.

    For both :data:`ACGT` and :data:`AGCT` the complement permutation is the channel
    reversal (``ACGT``→``TGCA``, ``AGCT``→``TCGA``), but it is derived from ``alphabet``.

    Parameters
    ----------
    onehot : numpy.ndarray
        Shape ``(..., length, 4)`` in ``alphabet`` order.
    alphabet : str
        Channel order of ``onehot``.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype, a copy.
    """
    _check_alphabet(alphabet)
    complement = [alphabet.index(reverse_complement(base)) for base in alphabet]
    return onehot[..., ::-1, :][..., complement]
