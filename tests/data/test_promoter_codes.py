from __future__ import annotations

import numpy as np
import pytest
import torch

from exprflow.data.promoter_codes import (
    N_CODE,
    PAD_CODE,
    codes_to_onehot,
    decode_codes,
    encode_codes,
    reverse_complement_codes,
)
from exprflow.errors import InputError


def test_encode_maps_letters_and_pads_right() -> None:
    codes = encode_codes(["ACGTN", "acgtx", "GA"])
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(
        codes, [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [2, 0, PAD_CODE, PAD_CODE, PAD_CODE]]
    )


def test_encode_to_a_given_width() -> None:
    np.testing.assert_array_equal(encode_codes(["T"], 3), [[3, PAD_CODE, PAD_CODE]])
    assert encode_codes([], 4).shape == (0, 4)


def test_encode_refuses_a_sequence_longer_than_the_width() -> None:
    with pytest.raises(InputError, match=r"in\.fa: b: sequence of 4 bp is longer than .* 3 bp"):
        encode_codes(["ACG", "ACGT"], 3, ids=["a", "b"], source="in.fa")
    with pytest.raises(InputError, match="sequence 0"):
        encode_codes(["ACGT"], 2)


def test_onehot_acgt_n_quarter_padding_zero() -> None:
    onehot = codes_to_onehot(np.array([[0, 1, 2, 3, N_CODE, PAD_CODE]], dtype=np.int8))
    assert onehot.dtype == np.float32 and onehot.shape == (1, 6, 4)
    expected = np.vstack([np.eye(4), np.full((1, 4), 0.25), np.zeros((1, 4))])
    np.testing.assert_array_equal(onehot[0], expected)


def test_onehot_of_a_tensor_is_a_tensor_with_the_same_values() -> None:
    codes = encode_codes(["ACGTN", "TTA"])
    onehot = codes_to_onehot(torch.from_numpy(codes))
    assert isinstance(onehot, torch.Tensor) and onehot.dtype == torch.float32
    np.testing.assert_array_equal(onehot.numpy(), codes_to_onehot(codes))


@pytest.mark.parametrize("bad", [6, -1])
def test_onehot_refuses_codes_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match=f"0..5, got {bad}"):
        codes_to_onehot(np.array([[0, bad]], dtype=np.int8))


def test_decode_drops_padding_and_writes_n() -> None:
    assert decode_codes(encode_codes(["ACGTN", "gx"])) == ["ACGTN", "GN"]
    assert decode_codes(np.array([3, 3, PAD_CODE], dtype=np.int8)) == ["TT"]
    assert decode_codes(torch.tensor([[1, 2]], dtype=torch.int8)) == ["CG"]


def test_reverse_complement_keeps_padding_at_the_right() -> None:
    codes = encode_codes(["AACGN", "GATTACA", ""], 7)
    flipped = reverse_complement_codes(codes)
    assert decode_codes(flipped) == ["NCGTT", "TGTAATC", ""]
    np.testing.assert_array_equal(flipped[0, 5:], [PAD_CODE, PAD_CODE])
    assert flipped.dtype == np.int8


def test_reverse_complement_is_an_involution_on_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), size=n)) for n in rng.integers(0, 30, 20)]
    codes = encode_codes(seqs, 30)
    np.testing.assert_array_equal(reverse_complement_codes(reverse_complement_codes(codes)), codes)
    tensor = reverse_complement_codes(torch.from_numpy(codes))
    assert isinstance(tensor, torch.Tensor)
    np.testing.assert_array_equal(tensor.numpy(), reverse_complement_codes(codes))
    np.testing.assert_array_equal(
        reverse_complement_codes(codes[3]), reverse_complement_codes(codes)[3]
    )
