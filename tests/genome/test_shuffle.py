"""Tests of the dinucleotide shuffle: counts kept exactly, random, seeded, N as a letter."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from exprflow.genome.shuffle import (
    dinucleotide_shuffle,
    dinucleotide_shuffle_batch,
    dinucleotide_shuffle_codes,
)


def _pairs(seq: str) -> Counter[str]:
    return Counter(seq[i : i + 2] for i in range(len(seq) - 1))


def _code_pairs(codes: np.ndarray) -> Counter[tuple[int, int]]:
    return Counter(pairwise(codes.tolist()))


def test_counts_first_and_last_letter_kept_on_many_random_sequences() -> None:
    draw = np.random.default_rng(1)
    rng = np.random.default_rng(2)
    for _ in range(300):
        length = int(draw.integers(3, 200))
        alphabet = "ACGTN"[: int(draw.integers(1, 6))]
        seq = "".join(draw.choice(list(alphabet), size=length))
        out = dinucleotide_shuffle(seq, rng)
        assert len(out) == len(seq)
        assert _pairs(out) == _pairs(seq)
        assert Counter(out) == Counter(seq)
        assert (out[0], out[-1]) == (seq[0], seq[-1])


def test_output_differs_for_a_non_trivial_sequence() -> None:
    seq = "".join(np.random.default_rng(3).choice(list("ACGT"), size=600))
    rng = np.random.default_rng(0)
    shuffles = {dinucleotide_shuffle(seq, rng) for _ in range(20)}
    assert seq not in shuffles
    assert len(shuffles) == 20


def test_every_walk_is_reachable() -> None:
    # Pairs AC, CA, AG, GA from A back to A: only ACAGA and AGACA walk them all.
    rng = np.random.default_rng(0)
    seen = {dinucleotide_shuffle("ACAGA", rng) for _ in range(200)}
    assert seen == {"ACAGA", "AGACA"}


def test_walks_are_drawn_evenly() -> None:
    rng = np.random.default_rng(5)
    counts = Counter(dinucleotide_shuffle("ACAGATA", rng) for _ in range(1200))
    # A is the last letter, so its three exits C, G, T may come in any of 3! orders.
    assert len(counts) == 6
    assert min(counts.values()) > 140


def test_deterministic_under_a_seed() -> None:
    seq = "ACGTTGCAAGGCTTACGATCGATCGGGTACCA" * 5
    first = dinucleotide_shuffle(seq, np.random.default_rng(42))
    again = dinucleotide_shuffle(seq, np.random.default_rng(42))
    other = dinucleotide_shuffle(seq, np.random.default_rng(43))
    assert first == again
    assert first != other


def test_short_and_single_letter_sequences_are_unchanged() -> None:
    rng = np.random.default_rng(0)
    for seq in ("", "A", "AC", "AAAAAA"):
        assert dinucleotide_shuffle(seq, rng) == seq


def test_n_is_a_letter_whose_pairs_are_kept() -> None:
    seq = "ACGTNNNNACGTTGCANNACGT"
    out = dinucleotide_shuffle(seq, np.random.default_rng(7))
    assert _pairs(out) == _pairs(seq)
    assert out.count("NNN") >= 1  # the NNNN run's three NN pairs need a run of ≥ 3


def test_codes_keep_dtype_and_pairs() -> None:
    codes = np.random.default_rng(4).integers(0, 5, size=300).astype(np.int8)
    out = dinucleotide_shuffle_codes(codes, np.random.default_rng(0))
    assert out.dtype == np.int8
    assert _code_pairs(out) == _code_pairs(codes)
    assert not np.array_equal(out, codes)


def test_string_and_codes_agree() -> None:
    seq = "GATTACAGATTACACCGGTTAA"
    codes = np.frombuffer(seq.encode(), dtype=np.uint8)
    text = dinucleotide_shuffle(seq, np.random.default_rng(9))
    coded = dinucleotide_shuffle_codes(codes, np.random.default_rng(9))
    assert coded.tobytes().decode() == text


def test_batch_keeps_the_padding() -> None:
    rng = np.random.default_rng(0)
    codes = np.full((3, 40), 5, dtype=np.int8)
    lengths = np.array([40, 25, 0])
    codes[0] = rng.integers(0, 4, 40)
    codes[1, :25] = rng.integers(0, 5, 25)
    out = dinucleotide_shuffle_batch(codes, lengths, np.random.default_rng(1))
    assert (out[1, 25:] == 5).all() and (out[2] == 5).all()
    for row, length in enumerate(lengths):
        assert _code_pairs(out[row, :length]) == _code_pairs(codes[row, :length])


def test_bad_inputs_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="ASCII"):
        dinucleotide_shuffle("ACGTé", rng)
    with pytest.raises(ValueError, match="1-D"):
        dinucleotide_shuffle_codes(np.zeros((2, 3), dtype=np.int8), rng)
    with pytest.raises(ValueError, match=r"\(N, L\)"):
        dinucleotide_shuffle_batch(np.zeros(4, dtype=np.int8), np.array([4]), rng)
    with pytest.raises(ValueError, match="lengths"):
        dinucleotide_shuffle_batch(np.zeros((1, 4), dtype=np.int8), np.array([5]), rng)


def test_speed_of_600bp_windows() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(200, 600)).astype(np.int8)
    out = dinucleotide_shuffle_batch(codes, np.full(200, 600), rng)
    assert out.shape == codes.shape
