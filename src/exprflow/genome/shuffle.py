"""Dinucleotide-preserving shuffles (Altschul–Erickson, as ``fasta_shuffle_letters -kmer 2``).

A sequence is a walk through the multigraph whose vertices are letters and whose edges
are its dinucleotides (one edge ``a → b`` per adjacent pair). Every other Eulerian walk
from the same first letter uses the same edges, so it has exactly the same dinucleotide
counts, the same letter counts and the same first and last letter. The shuffle draws one
such walk at random (Kandel et al. 1996, the method of uShuffle and MEME's
``fasta_shuffle_letters``):

1. for every letter but the last one, a *last exit* edge is drawn so that the last exits
   form a spanning arborescence into the last letter (Wilson's loop-erased random walk,
   which draws each arborescence with probability proportional to the product of its
   edge multiplicities, i.e. uniformly over edge instances);
2. the other exits of every letter are put in a random order, the last exit after them;
3. the walk starts at the first letter and always takes the next unused exit.

Letters are symbols: ``N`` (or any other character, or code) is a letter like the rest,
so ``N`` runs keep their dinucleotides (``NN``, ``AN``, ``NA`` …) and stay where those
allow. Case matters (``a`` and ``A`` are different letters); genome fetches are
upper-case. Sequences of length ≤ 2 come back unchanged (they have a single walk).

:func:`dinucleotide_shuffle` works on strings, :func:`dinucleotide_shuffle_codes` on a
1-D integer array (e.g. the int8 codes of :mod:`exprflow.data.promoter_codes`) and
:func:`dinucleotide_shuffle_batch` on the rows of an ``(N, L)`` code array, each row
shuffled over its first ``lengths[i]`` codes (the right padding stays in place).
"""

from __future__ import annotations

import numpy as np

__all__ = ["dinucleotide_shuffle", "dinucleotide_shuffle_batch", "dinucleotide_shuffle_codes"]


def dinucleotide_shuffle(seq: str, rng: np.random.Generator) -> str:
    """Return a random sequence with exactly the dinucleotide counts of ``seq``.

    Parameters
    ----------
    seq : str
        ASCII sequence (any letters; ``N`` is shuffled like the others).
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same shuffle.

    Returns
    -------
    str
        Same length, same first and last letter, same count of every dinucleotide.

    Raises
    ------
    ValueError
        When ``seq`` has non-ASCII characters.
    """
    if not seq.isascii():
        raise ValueError(f"dinucleotide_shuffle needs an ASCII sequence, got {seq[:20]!r}…")
    codes = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    return dinucleotide_shuffle_codes(codes, rng).tobytes().decode("ascii")


def dinucleotide_shuffle_codes(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a dinucleotide-preserving shuffle of a 1-D integer code array.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(L,)`` integer codes (any values; each distinct value is a letter).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(L,)`` array of the same dtype: same first and last code, same count of every
        adjacent pair.

    Raises
    ------
    ValueError
        When ``codes`` is not one-dimensional.
    """
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError(f"dinucleotide_shuffle_codes needs a 1-D array, got shape {codes.shape}")
    if codes.size <= 2:
        return codes.copy()
    letters, seq = np.unique(codes, return_inverse=True)
    exits = _exits(seq)
    last = int(seq[-1])
    tree = _last_exits(exits, last, rng)
    order = _ordered_exits(exits, tree, rng)
    walk = _walk(order, int(seq[0]), seq.size)
    return letters[walk].astype(codes.dtype, copy=False)


def dinucleotide_shuffle_batch(
    codes: np.ndarray, lengths: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Shuffle every row of an ``(N, L)`` code array over its first ``lengths[i]`` codes.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N, L)`` integer codes, right-padded.
    lengths : numpy.ndarray
        ``(N,)`` sequence lengths (≤ L); codes past them (padding) are copied unchanged.
    rng : numpy.random.Generator
        Source of randomness, used row by row in order.

    Returns
    -------
    numpy.ndarray
        ``(N, L)`` array of the same dtype.

    Raises
    ------
    ValueError
        When the shapes disagree or a length is outside ``[0, L]``.
    """
    codes = np.asarray(codes)
    lengths = np.asarray(lengths)
    if codes.ndim != 2 or lengths.shape != (codes.shape[0],):
        raise ValueError(
            f"need codes (N, L) and lengths (N,), got {codes.shape} and {lengths.shape}"
        )
    if lengths.size and (lengths.min() < 0 or lengths.max() > codes.shape[1]):
        raise ValueError(f"lengths must lie in [0, {codes.shape[1]}]")
    out = codes.copy()
    for row, length in enumerate(lengths.tolist()):
        out[row, :length] = dinucleotide_shuffle_codes(codes[row, :length], rng)
    return out


def _exits(seq: np.ndarray) -> list[list[int]]:
    """Outgoing edges of every letter ``0..k-1``: the letters that follow it, in order."""
    n_letters = int(seq.max()) + 1
    src, dst = seq[:-1], seq[1:]
    order = np.argsort(src, kind="stable")
    counts = np.bincount(src, minlength=n_letters)
    return [part.tolist() for part in np.split(dst[order], np.cumsum(counts)[:-1])]


def _last_exits(exits: list[list[int]], last: int, rng: np.random.Generator) -> dict[int, int]:
    """Index of the last exit of every letter but ``last``: a random arborescence into it.

    Wilson's algorithm: from each letter outside the tree, walk along random exits until
    the tree is hit, remembering the latest exit taken from every letter (which erases
    loops), then add the loop-erased path to the tree.
    """
    in_tree = {last}
    chosen: dict[int, int] = {}
    for start, out in enumerate(exits):
        if not out or start in in_tree:
            continue
        here = start
        while here not in in_tree:
            chosen[here] = int(rng.integers(len(exits[here])))
            here = exits[here][chosen[here]]
        here = start
        while here not in in_tree:
            in_tree.add(here)
            here = exits[here][chosen[here]]
    return chosen


def _ordered_exits(
    exits: list[list[int]], last_exit: dict[int, int], rng: np.random.Generator
) -> list[list[int]]:
    """Every letter's exits in random order, its chosen last exit (if any) at the end."""
    ordered: list[list[int]] = []
    for letter, out in enumerate(exits):
        keep = last_exit.get(letter)
        rest = [target for index, target in enumerate(out) if index != keep]
        shuffled = [rest[i] for i in rng.permutation(len(rest))]
        ordered.append(shuffled if keep is None else [*shuffled, out[keep]])
    return ordered


def _walk(ordered: list[list[int]], first: int, length: int) -> np.ndarray:
    """Follow the ordered exits from ``first``, taking each exit once."""
    used = [0] * len(ordered)
    walk = np.empty(length, dtype=np.int64)
    here = first
    walk[0] = here
    for position in range(1, length):
        step = ordered[here][used[here]]
        used[here] += 1
        here = step
        walk[position] = here
    return walk
