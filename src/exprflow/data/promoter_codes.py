"""Compact int8 codes for the promoter tasks' DNA, their one-hot form and reverse complement.

Every promoter task (:mod:`exprflow.data.promoter_tasks`) stores its sequences as an
int8 array ``(N, L)``:

====  ==============================================================
code  meaning
====  ==============================================================
0..3  ``A``, ``C``, ``G``, ``T`` (case-insensitive)
4     ``N`` and any other letter
5     padding: variable-length tasks are right-padded to ``L`` with 5
====  ==============================================================

:func:`codes_to_onehot` turns codes into float32 ``(N, L, 4)`` in ``ACGT`` order the way
kipoiseq does for the published models: ``N`` is 0.25 in every channel, padding is all
zeros. It accepts numpy arrays and torch tensors (a tensor in gives a tensor out, on the
same device), so the training loop can encode on the fly. The models permute to
``(B, 4, L)`` themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from exprflow.errors import InputError

__all__ = [
    "CODE_LETTERS",
    "N_CODE",
    "PAD_CODE",
    "codes_to_onehot",
    "decode_codes",
    "encode_codes",
    "reverse_complement_codes",
]

#: Letter of each non-padding code.
CODE_LETTERS = "ACGTN"
#: Code of ``N`` (and any other non-ACGT letter).
N_CODE = 4
#: Code of a padding position (right of a sequence shorter than the task's width).
PAD_CODE = 5

_BYTE_TO_CODE = np.full(256, N_CODE, dtype=np.int8)
for _code, _base in enumerate("ACGT"):
    _BYTE_TO_CODE[ord(_base)] = _code
    _BYTE_TO_CODE[ord(_base.lower())] = _code
#: One-hot row of each code 0..5 (ACGT identity, N = 0.25, padding = 0).
_ONEHOT_TABLE = np.concatenate(
    [np.eye(4, dtype=np.float32), np.full((1, 4), 0.25, np.float32), np.zeros((1, 4), np.float32)]
)
#: Complement of each code 0..5 (N and padding map to themselves).
_COMPLEMENT = np.array([3, 2, 1, 0, N_CODE, PAD_CODE], dtype=np.int8)


def encode_codes(
    seqs: Sequence[str],
    length: int | None = None,
    *,
    ids: Sequence[str] | None = None,
    source: str = "<sequences>",
) -> npt.NDArray[np.int8]:
    """Encode DNA strings to int8 codes, right-padded with :data:`PAD_CODE`.

    Parameters
    ----------
    seqs : sequence of str
        DNA; case-insensitive; letters other than ACGT become ``N`` (4).
    length : int, optional
        Width ``L`` of the result. Default None: the longest sequence.
    ids : sequence of str, optional
        Record ids, named in errors. Default None: the row number.
    source : str, optional
        File the sequences come from, named in errors. Default ``"<sequences>"``.

    Returns
    -------
    numpy.ndarray
        int8 ``(len(seqs), L)``.

    Raises
    ------
    InputError
        When a sequence is longer than ``length``, naming its record.
    """
    sizes = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    width = int(sizes.max(initial=0)) if length is None else int(length)
    too_long = np.flatnonzero(sizes > width)
    if len(too_long):
        row = int(too_long[0])
        raise InputError(
            source,
            f"sequence of {sizes[row]} bp is longer than the task width {width} bp.",
            record=str(ids[row]) if ids is not None else f"sequence {row}",
            fix=f"give sequences of at most {width} bp, or a larger length.",
        )
    codes = np.full((len(seqs), width), PAD_CODE, dtype=np.int8)
    for row, seq in enumerate(seqs):
        data = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
        codes[row, : len(data)] = _BYTE_TO_CODE[data]
    return codes


def _is_torch(codes: Any) -> bool:
    """True when ``codes`` is a torch tensor (without importing torch for numpy input)."""
    return type(codes).__module__.startswith("torch")


def _check_range(codes: Any) -> None:
    """Raise ValueError naming the bad value when a code lies outside 0..5."""
    if codes.numel() if _is_torch(codes) else codes.size:
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high > PAD_CODE:
            bad = low if low < 0 else high
            raise ValueError(f"codes must lie in 0..{PAD_CODE}, got {bad}")


def codes_to_onehot(codes: Any) -> Any:
    """One-hot encode codes in ``ACGT`` order: ``N`` = 0.25 everywhere, padding = zeros.

    Parameters
    ----------
    codes : numpy.ndarray or torch.Tensor
        Integer codes, any shape ``(..., L)`` with values 0..5.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        float32 ``(..., L, 4)``; a tensor (on the input's device) for a tensor input.

    Raises
    ------
    ValueError
        When a code lies outside 0..5.
    """
    _check_range(codes)
    if _is_torch(codes):
        import torch

        table = torch.from_numpy(_ONEHOT_TABLE).to(codes.device)
        return table[codes.long()]
    return _ONEHOT_TABLE[np.asarray(codes).astype(np.intp)]


def decode_codes(codes: Any) -> list[str]:
    """Turn codes back into strings: padding dropped, ``N`` (4) written as ``N``.

    Parameters
    ----------
    codes : numpy.ndarray or torch.Tensor
        Integer codes ``(N, L)``, or one sequence ``(L,)``.

    Returns
    -------
    list of str
        One string per row (a one-element list for a 1-D input).
    """
    array = np.atleast_2d(codes.cpu().numpy() if _is_torch(codes) else np.asarray(codes))
    _check_range(array)
    letters = np.frombuffer((CODE_LETTERS + "\0").encode(), dtype=np.uint8)[array.astype(np.intp)]
    return [row.tobytes().decode("ascii").replace("\0", "") for row in letters]


def reverse_complement_codes(codes: Any) -> Any:
    """Reverse-complement each row's sequence, keeping its padding at the right end.

    Parameters
    ----------
    codes : numpy.ndarray or torch.Tensor
        Integer codes ``(N, L)`` or ``(L,)``, right-padded with :data:`PAD_CODE`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same shape and type: row ``i`` is the reverse complement of its first
        ``length_i`` codes, followed by the same padding.
    """
    if _is_torch(codes):
        import torch

        return torch.from_numpy(reverse_complement_codes(codes.cpu().numpy())).to(codes.device)
    array = np.asarray(codes)
    _check_range(array)
    rows = np.atleast_2d(array)
    lengths = (rows != PAD_CODE).sum(axis=1, keepdims=True)
    source = lengths - 1 - np.arange(rows.shape[1])[None, :]
    taken = np.take_along_axis(rows, np.clip(source, 0, None), axis=1)
    out = np.where(source >= 0, _COMPLEMENT[taken.astype(np.intp)], PAD_CODE).astype(rows.dtype)
    return out.reshape(array.shape)
