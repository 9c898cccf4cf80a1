from __future__ import annotations

import keras
import numpy as np
import pytest

from exprflow.models.basenji2.config import Basenji2Config, toy_params
from exprflow.models.basenji2.model import Basenji2, SigmoidGELU, build_basenji2

FULL_PARAMETERS = 30_123_584
FULL_NON_TRAINABLE = 35_356


@pytest.fixture(scope="module")
def full() -> Basenji2:
    return build_basenji2()


@pytest.fixture(scope="module")
def tiny() -> Basenji2:
    keras.utils.set_random_seed(0)
    return build_basenji2(Basenji2Config.from_params(toy_params()))


def _shape(model: keras.Model, name: str) -> tuple[int | None, ...]:
    return tuple(model.get_layer(name).output.shape)


def test_published_parameter_count(full: Basenji2) -> None:
    assert full.model.count_params() == FULL_PARAMETERS
    non_trainable = sum(int(np.prod(w.shape)) for w in full.model.non_trainable_weights)
    assert non_trainable == FULL_NON_TRAINABLE


def test_published_stage_shapes(full: Basenji2) -> None:
    model = full.model
    assert tuple(model.input.shape) == (None, 131072, 4)
    assert _shape(model, "block0_pool") == (None, 65536, 288)
    tower = [_shape(model, f"block1_{r}_pool") for r in range(6)]
    assert tower == [
        (None, 32768, 339),
        (None, 16384, 399),
        (None, 8192, 470),
        (None, 4096, 554),
        (None, 2048, 652),
        (None, 1024, 768),
    ]
    for r in range(11):
        assert _shape(model, f"block2_{r}a_bn") == (None, 1024, 384)
        assert _shape(model, f"block2_{r}_add") == (None, 1024, 768)
    assert _shape(model, "block3_crop") == (None, 896, 768)
    assert _shape(model, "block4_dropout") == (None, 896, 1536)
    assert tuple(full.trunk.output.shape) == (None, 896, 1536)
    assert full.trunk.layers[-1].name == "trunk_gelu"
    assert tuple(model.output.shape) == (None, 896, 5313)


def test_published_weighted_layer_order(full: Basenji2) -> None:
    weighted = [layer for layer in full.model.layers if layer.weights]
    assert len(weighted) == 61
    kinds = [type(layer).__name__ for layer in weighted]
    assert kinds == ["Conv1D", "BatchNormalization"] * 30 + ["Dense"]
    convs = weighted[:-1:2]
    assert [c.kernel_size[0] for c in convs[:7]] == [15, 5, 5, 5, 5, 5, 5]
    dilations = [c.dilation_rate[0] for c in convs[7:29:2]]
    assert dilations == [1, 2, 3, 4, 6, 9, 14, 21, 32, 48, 72]
    assert all(not c.use_bias and c.padding == "same" for c in convs)
    dense = weighted[-1]
    assert dense.use_bias and dense.activation is keras.activations.softplus


def test_batch_norm_everywhere_momentum_09(full: Basenji2, tiny: Basenji2) -> None:
    for built in (full, tiny):
        norms = [
            layer
            for layer in built.model.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        assert norms
        assert {(n.momentum, n.epsilon) for n in norms} == {(0.9, 1e-3)}


def test_every_conv_follows_a_sigmoid_gelu(full: Basenji2) -> None:
    model = full.model
    assert isinstance(model.layers[1], SigmoidGELU)
    assert model.layers[1].input is model.input
    for before, layer in zip(model.layers, model.layers[1:], strict=False):
        if isinstance(layer, keras.layers.Conv1D):
            assert isinstance(before, SigmoidGELU)
    gelus = [layer for layer in model.layers if type(layer).__name__ == "GELU"]
    assert not gelus


def test_gelu_is_the_sigmoid_form() -> None:
    x = np.linspace(-6, 6, 2001).astype("float32")
    got = keras.ops.convert_to_numpy(SigmoidGELU()(x))
    expected = x / (1 + np.exp(-1.702 * x))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    exact = keras.ops.convert_to_numpy(keras.activations.gelu(x, approximate=False))
    tanh = keras.ops.convert_to_numpy(keras.activations.gelu(x, approximate=True))
    assert 0.015 < np.abs(got - exact).max() < 0.025
    assert 0.015 < np.abs(got - tanh).max() < 0.025


def test_tiny_forward(tiny: Basenji2) -> None:
    rng = np.random.default_rng(0)
    seq = np.eye(4, dtype="float32")[rng.integers(0, 4, size=(2, 256))]
    seq[0, :10] = 0.0  # N bases
    out = keras.ops.convert_to_numpy(tiny.model(seq, training=False))
    emb = keras.ops.convert_to_numpy(tiny.trunk(seq, training=False))
    assert out.shape == (2, 28, 5)
    assert emb.shape == (2, 28, 16)
    assert (out > 0).all()
    head = tiny.model.get_layer("head_human")
    kernel, bias = head.get_weights()
    np.testing.assert_allclose(out, np.logaddexp(0, emb @ kernel + bias), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out, keras.ops.convert_to_numpy(tiny.model(seq, training=False)))


def test_trunk_shares_the_model_layers(tiny: Basenji2) -> None:
    assert {id(w) for w in tiny.trunk.weights} <= {id(w) for w in tiny.model.weights}
    assert len(tiny.model.weights) - len(tiny.trunk.weights) == 2


def test_tiny_residual_gamma_starts_at_zero(tiny: Basenji2) -> None:
    gamma = tiny.model.get_layer("block2_0b_bn").get_weights()[0]
    assert gamma.shape == (12,) and not gamma.any()
