from __future__ import annotations

import keras
import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.models.basenji2.config import TINY_PARAMS, Basenji2Config, toy_params
from exprflow.models.basenji2.trunk import TrunkRunner, load_trunk, resolve_runtime


@pytest.fixture(scope="module")
def trunk() -> keras.Model:
    return load_trunk(Basenji2Config.from_params(toy_params()), None, 3, "float32")


def _onehot(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype="float32")[rng.integers(0, 4, size=(n, 256))]
    x[:, :7] = 0.0  # N bases
    return x


def test_cpu_runtime_is_float32_without_xla() -> None:
    placement = resolve_runtime("auto")
    assert (placement.device, placement.precision, placement.xla) == ("CPU", "float32", False)
    assert resolve_runtime("mixed_bfloat16", "true").precision == "mixed_bfloat16"


@pytest.mark.parametrize(("precision", "xla"), [("half", "auto"), ("float32", "maybe")])
def test_bad_runtime_settings(precision: str, xla: str) -> None:
    with pytest.raises(InputError, match="expected"):
        resolve_runtime(precision, xla)


def test_seeded_init_is_reproducible(trunk: keras.Model) -> None:
    again = load_trunk(Basenji2Config.from_params(toy_params()), None, 3, "float32")
    other = load_trunk(Basenji2Config.from_params(toy_params()), None, 4, "float32")
    same = [
        np.array_equal(a, b) for a, b in zip(trunk.get_weights(), again.get_weights(), strict=True)
    ]
    assert all(same)
    assert not all(
        np.array_equal(a, b) for a, b in zip(trunk.get_weights(), other.get_weights(), strict=True)
    )


def test_mixed_precision_trunk_leaves_the_global_policy() -> None:
    mixed = load_trunk(Basenji2Config.from_params(toy_params()), None, 0, "mixed_float16")
    assert mixed.get_layer("block0_conv").dtype_policy.compute_dtype == "float16"
    assert mixed.get_layer("block0_conv").kernel.dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"


def test_runner_matches_the_trunk(trunk: keras.Model) -> None:
    x = _onehot(3, 0)
    got = TrunkRunner(trunk, 3, reverse_complement=False, xla=False)(x)
    expected = keras.ops.convert_to_numpy(trunk(x, training=False))
    assert got.dtype == np.float16 and got.shape == (3, 28, 16)
    np.testing.assert_array_equal(got, expected.astype(np.float16))


def test_reverse_complement_average(trunk: keras.Model) -> None:
    x = _onehot(2, 1)
    got = TrunkRunner(trunk, 2, reverse_complement=True, xla=False)(x)
    forward = keras.ops.convert_to_numpy(trunk(x, training=False))
    rc = x[:, ::-1, ::-1].copy()  # reversed A,C,G,T channels are the complement
    back = keras.ops.convert_to_numpy(trunk(rc, training=False))[:, ::-1]
    np.testing.assert_allclose(got, ((forward + back) / 2).astype(np.float16), rtol=1e-3)
    # the average is strand-symmetric: the reverse complement gives the bin-reversed result
    flipped = TrunkRunner(trunk, 2, reverse_complement=True, xla=False)(rc)
    np.testing.assert_allclose(flipped[:, ::-1], got, rtol=2e-3, atol=1e-3)


def test_a_region_does_not_depend_on_its_batch(trunk: keras.Model) -> None:
    runner = TrunkRunner(trunk, 4, reverse_complement=False, xla=False)
    batch = _onehot(4, 2)
    alone = np.zeros_like(batch)
    alone[0] = batch[2]
    np.testing.assert_array_equal(runner(batch)[2], runner(alone)[0])


def test_tiny_params_file_is_the_published_layout() -> None:
    config = Basenji2Config.from_params(TINY_PARAMS)
    assert (config.seq_length, config.out_length, config.out_channels) == (131072, 896, 64)
    assert Basenji2Config().out_channels == 1536
