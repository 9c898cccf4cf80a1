from __future__ import annotations

import numpy as np
import pytest
import torch

from exprflow.genome.onehot import reverse_complement as rc_string
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.model import Beluga
from exprflow.models.beluga.predict import (
    encode_windows,
    forward_only,
    predict_windows,
    rc_average,
    reverse_complement,
)

CONFIG = BelugaConfig.tiny(6)


@pytest.fixture(scope="module")
def model() -> Beluga:
    torch.manual_seed(0)
    return Beluga(CONFIG)


@pytest.fixture(scope="module")
def sequences() -> list[str]:
    rng = np.random.default_rng(0)
    return ["".join(rng.choice(list("ACGTN"), 2000, p=[0.24] * 4 + [0.04])) for _ in range(64)]


def test_encode_windows_uses_agct(sequences: list[str]) -> None:
    x = encode_windows(["AGCTN" * 400], CONFIG)
    assert x.shape == (1, 4, 2000)
    assert x.dtype == np.float32
    assert x[0, :, :5].tolist() == [
        [1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 1, 0],
    ]
    assert encode_windows([], CONFIG).shape == (0, 4, 2000)
    with pytest.raises(ValueError, match=r"sequences\[1\] has 5 bases, expected seq_len=2000"):
        encode_windows(["A" * 2000, "ACGTA"], CONFIG)


def test_reverse_complement_of_onehot_is_that_of_the_string(sequences: list[str]) -> None:
    x = torch.from_numpy(encode_windows(sequences[:4], CONFIG))
    expected = encode_windows([rc_string(s) for s in sequences[:4]], CONFIG)
    assert np.array_equal(reverse_complement(x).numpy(), expected)
    assert np.array_equal(reverse_complement(x.unsqueeze(2)).squeeze(2).numpy(), expected)


def test_output_shape_and_range(model: Beluga, sequences: list[str]) -> None:
    out = predict_windows(model, encode_windows(sequences, CONFIG), batch_size=16)
    assert out.shape == (64, 6)
    assert out.dtype == np.float32
    assert np.all((out > 0) & (out < 1))


def test_rc_averaging_is_strand_invariant(model: Beluga, sequences: list[str]) -> None:
    x = encode_windows(sequences, CONFIG)
    rc = encode_windows([rc_string(s) for s in sequences], CONFIG)
    forward = predict_windows(model, x, batch_size=16)
    np.testing.assert_allclose(predict_windows(model, rc, batch_size=16), forward, atol=1e-6)
    # without the averaging the two strands disagree
    single = predict_windows(model, x, batch_size=16, func=forward_only)
    single_rc = predict_windows(model, rc, batch_size=16, func=forward_only)
    assert np.abs(single - single_rc).max() > 1e-4
    np.testing.assert_allclose((single + single_rc) / 2, forward, atol=1e-6)


def test_batch_size_invariance(model: Beluga, sequences: list[str]) -> None:
    x = encode_windows(sequences, CONFIG)
    results = [predict_windows(model, x, batch_size=b) for b in (1, 7, 64)]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], atol=1e-6, rtol=0)


def test_accepts_tensors_and_4d_input(model: Beluga, sequences: list[str]) -> None:
    x = encode_windows(sequences[:5], CONFIG)
    expected = predict_windows(model, x, batch_size=5)
    got = predict_windows(model, torch.from_numpy(x).unsqueeze(2), batch_size=2)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert predict_windows(model, x[:0], batch_size=2).shape == (0, 6)


def test_matches_a_direct_eval_pass(model: Beluga, sequences: list[str]) -> None:
    x = torch.from_numpy(encode_windows(sequences[:3], CONFIG))
    model.eval()
    with torch.no_grad():
        expected = ((model(x) + model(reverse_complement(x))) / 2).numpy()
        assert torch.allclose(rc_average(model, x), torch.from_numpy(expected), atol=1e-6)
    np.testing.assert_allclose(predict_windows(model, x, batch_size=3), expected, atol=1e-6)


def test_restores_train_mode_and_device(model: Beluga, sequences: list[str]) -> None:
    x = encode_windows(sequences[:2], CONFIG)
    model.train()
    first = predict_windows(model, x, batch_size=2, device="cpu", dtype="bf16")
    assert model.training
    assert next(model.parameters()).device.type == "cpu"
    # eval mode inside: dropout off, so repeated calls agree; bf16 is ignored on the CPU
    np.testing.assert_array_equal(predict_windows(model, x, batch_size=2, dtype="fp32"), first)
    model.eval()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be positive, got 0"),
        ({"batch_size": 2, "dtype": "fp16"}, "dtype must be None, 'fp32' or 'bf16', got 'fp16'"),
    ],
)
def test_bad_arguments(model: Beluga, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        predict_windows(model, np.zeros((1, 4, 2000), dtype=np.float32), **kwargs)


@pytest.mark.gpu
def test_bf16_on_cuda_is_close_to_fp32(model: Beluga, sequences: list[str]) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    x = encode_windows(sequences, CONFIG)
    reference = predict_windows(model, x, batch_size=16)
    on_gpu = predict_windows(model, x, batch_size=16, device="cuda", dtype="bf16")
    assert next(model.parameters()).device.type == "cpu"
    np.testing.assert_allclose(on_gpu, reference, atol=2e-2)
    fp32 = predict_windows(model, x, batch_size=16, device="cuda")
    np.testing.assert_allclose(fp32, reference, atol=1e-4)
