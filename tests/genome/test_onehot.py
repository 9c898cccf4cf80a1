from __future__ import annotations

import time

import numpy as np
import pytest

from exprflow.genome.onehot import (
    ACGT,
    AGCT,
    one_hot,
    one_hot_batch,
    reverse_complement,
    reverse_complement_onehot,
)


def test_alphabets_are_explicit_constants() -> None:
    assert ACGT == "ACGT"
    assert AGCT == "AGCT"


def test_acgt_channels() -> None:
    expected = np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], np.float32
    )
    encoded = one_hot("ACGTN", ACGT)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, expected)


def test_agct_channels_swap_c_and_g() -> None:
    expected = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float32)
    np.testing.assert_array_equal(one_hot("ACGT", AGCT), expected)


def test_lower_case_n_and_other_characters() -> None:
    np.testing.assert_array_equal(one_hot("acgt", ACGT), one_hot("ACGT", ACGT))
    assert not one_hot("NnRY-.é", AGCT).any()
    assert one_hot("NnRY-.é", AGCT).shape == (7, 4)
    assert one_hot("", ACGT).shape == (0, 4)


def test_dtype_argument() -> None:
    assert one_hot("ACGT", ACGT, dtype=np.uint8).dtype == np.uint8
    assert one_hot("ACGT", ACGT, dtype=bool).sum() == 4


def test_batch_shape_and_equal_lengths() -> None:
    batch = one_hot_batch(["ACGT", "TTNA"], AGCT)
    assert batch.shape == (2, 4, 4)
    np.testing.assert_array_equal(batch[1], one_hot("TTNA", AGCT))
    assert one_hot_batch([], ACGT).shape == (0, 0, 4)
    with pytest.raises(ValueError, match=r"one length, got lengths \[3, 4\]"):
        one_hot_batch(["ACGT", "ACG"], ACGT)


def test_bad_alphabet() -> None:
    with pytest.raises(ValueError, match="permutation of 'ACGT'"):
        one_hot("ACGT", "ACGN")
    with pytest.raises(ValueError, match="permutation of 'ACGT'"):
        reverse_complement_onehot(np.zeros((2, 4)), "AACT")


def test_reverse_complement_strings() -> None:
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("acgRY") == "RYcgt"
    assert reverse_complement("") == ""


@pytest.mark.parametrize("alphabet", [ACGT, AGCT])
def test_reverse_complement_onehot_matches_sequence(alphabet: str) -> None:
    seq = "ACGGTNAC"
    x = one_hot(seq, alphabet)
    np.testing.assert_array_equal(
        reverse_complement_onehot(x, alphabet), one_hot(reverse_complement(seq), alphabet)
    )
    # for both alphabets the complement is the channel reversal
    np.testing.assert_array_equal(reverse_complement_onehot(x, alphabet), x[::-1, ::-1])


def test_reverse_complement_onehot_batched() -> None:
    batch = one_hot_batch(["ACGT", "AAAC"], AGCT)
    flipped = reverse_complement_onehot(batch, AGCT)
    np.testing.assert_array_equal(flipped[1], one_hot("GTTT", AGCT))


def test_basenji2_window_is_fast() -> None:
    seq = "".join(np.random.default_rng(0).choice(list("ACGTN"), 131_072))
    start = time.perf_counter()
    x = one_hot(seq, ACGT)
    elapsed = time.perf_counter() - start
    assert x.shape == (131_072, 4)
    assert x.sum() == sum(base != "N" for base in seq)
    assert elapsed < 0.2
