"""ChromExpress: Keras 'same' padding, floor pooling and flatten order, published shapes and
parameter count, heads, config checks and the saved folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.chromexpress import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ChromExpress,
    ChromExpressConfig,
    _ConvBlock,
    keras_flatten,
    load_chromexpress,
    same_padding,
    save_chromexpress,
)


def _batch(n: int, bins: int = 60, marks: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "promoter_cnn": torch.rand(n, bins, marks, generator=generator),
        "pcre_length": torch.zeros(n, 8, dtype=torch.int64),  # ignored by the CNN
    }


def _first_conv(model: ChromExpress) -> torch.Tensor:
    block = model.blocks[0]
    assert isinstance(block, _ConvBlock)
    return block.conv.weight


def _published_parameters(marks: int, outputs: int) -> int:
    """Parameter count from the published layer sizes, by hand (weights + biases)."""
    conv1 = 8 * marks * 175 + 175
    conv2 = 4 * 175 * 350 + 350
    conv3 = 4 * 350 * 700 + 700
    dense1 = (3 * 700) * 625 + 625
    dense2 = 625 * 125 + 125
    out = 125 * outputs + outputs
    return conv1 + conv2 + conv3 + dense1 + dense2 + out


def test_same_padding_pads_more_on_the_right_for_even_kernels() -> None:
    assert same_padding(8) == (3, 4)
    assert same_padding(4) == (1, 2)
    assert same_padding(3) == (1, 1)
    assert same_padding(1) == (0, 0)


@pytest.mark.parametrize(("tap", "shift"), [(0, -3), (7, 4)])
def test_conv_block_shifts_like_keras_same(tap: int, shift: int) -> None:
    # A delta kernel at tap j reads x[t + j - 3]: Keras pads 3 zeros left, 4 right.
    block = _ConvBlock(1, 1, 8, pool=1, dropout=0.0)
    with torch.no_grad():
        block.conv.weight.zero_()
        block.conv.weight[0, 0, tap] = 1.0
        block.conv.bias = torch.nn.Parameter(torch.zeros(1))
    x = torch.arange(1.0, 11.0).view(1, 1, 10)
    expected = torch.zeros(10)
    for t in range(10):
        if 0 <= t + shift < 10:
            expected[t] = x[0, 0, t + shift]
    assert torch.equal(block(x)[0, 0], expected)


def test_max_pool_drops_the_incomplete_window() -> None:
    block = _ConvBlock(1, 1, 1, pool=2, dropout=0.0)
    with torch.no_grad():
        block.conv.weight.fill_(1.0)
        block.conv.bias = torch.nn.Parameter(torch.zeros(1))
    x = torch.tensor([[[1.0, 5.0, 2.0, 3.0, 9.0]]])
    assert block(x).tolist() == [[[5.0, 3.0]]]


def test_keras_flatten_is_step_major() -> None:
    x = torch.tensor([[[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]])  # (B=1, C=2, L=3)
    assert keras_flatten(x).tolist() == [[0.0, 10.0, 1.0, 11.0, 2.0, 12.0]]


def test_published_shapes_and_parameter_count() -> None:
    config = ChromExpressConfig.published()
    assert config.bins_after_pools == (15, 7, 3)
    assert config.flat_features == 3 * 700
    model = ChromExpress(config).eval()
    sizes = []
    for block in model.blocks:
        block.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape)))
    assert model(_batch(4)).shape == (4, 1)
    assert sizes == [(4, 175, 15), (4, 350, 7), (4, 700, 3)]
    n_parameters = sum(p.numel() for p in model.parameters())
    assert n_parameters == _published_parameters(marks=1, outputs=1) == 2_619_126


def test_marks_are_input_channels_and_classification_has_two_logits() -> None:
    config = ChromExpressConfig.published(n_marks=3, task="classification")
    assert (config.n_marks, config.n_outputs, config.task) == (3, 2, "classification")
    model = ChromExpress(config).eval()
    assert _first_conv(model).shape == (175, 3, 8)
    assert model(_batch(2, marks=3)).shape == (2, 2)
    assert sum(p.numel() for p in model.parameters()) == _published_parameters(3, 2)


def test_tiny_config_and_keras_initialisation() -> None:
    torch.manual_seed(0)
    model = ChromExpress(ChromExpressConfig.tiny(n_marks=2)).eval()
    assert model(_batch(5, marks=2)).shape == (5, 1)
    for name, value in model.named_parameters():
        if name.endswith("bias"):
            assert not value.any(), name
    limit = (6 / (2 * 8 + 8 * 8)) ** 0.5  # Glorot: sqrt(6 / (fan_in + fan_out))
    assert _first_conv(model).abs().max() <= limit


def test_forward_rejects_a_window_of_the_wrong_shape() -> None:
    model = ChromExpress(ChromExpressConfig.tiny(n_marks=2))
    with pytest.raises(ValueError, match=r"promoter_cnn must be \(B, 60, 2\), got \(3, 60, 1\)"):
        model(_batch(3, marks=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernels": (8, 4)}, "one entry per block"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"dense_dropout": -0.1}, r"dense_dropout must be in \[0, 1\)"),
        ({"filters": (8, 0, 4)}, "filters must hold positive integers"),
        ({"n_marks": 0}, "n_marks must hold positive integers"),
        ({"dense": ()}, "dense must be a non-empty tuple"),
        ({"pools": (4, 4, 4)}, "shrink 60 bins to none"),
    ],
)
def test_config_rejects_bad_sizes(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChromExpressConfig(**kwargs)


def test_unknown_task_is_named() -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        ChromExpressConfig.tiny(task="ranking")


def test_config_json_round_trip_restores_tuples() -> None:
    config = ChromExpressConfig.tiny(n_marks=2, task="classification")
    doc = json.loads(config.to_json())
    assert doc["model_type"] == "chromexpress" and doc["filters"] == [8, 16, 32]
    assert ChromExpressConfig.from_json(config.to_json()) == config


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = ChromExpress(ChromExpressConfig.tiny(n_marks=2)).eval()
    save_chromexpress(model, tmp_path / "cnn")
    assert sorted(p.name for p in (tmp_path / "cnn").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    loaded = load_chromexpress(tmp_path / "cnn")
    assert loaded.config == model.config and not loaded.training
    batch = _batch(3, marks=2)
    assert torch.equal(loaded(batch), model(batch))


def test_load_names_missing_files_and_mismatched_weights(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the config"):
        load_chromexpress(tmp_path)
    save_chromexpress(ChromExpress(ChromExpressConfig.tiny(n_marks=1)), tmp_path)
    two_marks = ChromExpressConfig.tiny(n_marks=2).to_json()
    (tmp_path / CONFIG_FILE).write_text(two_marks)
    with pytest.raises(InputError, match=r"blocks\.0\.conv\.weight.*expected \[8, 2, 8\]"):
        load_chromexpress(tmp_path)
    state = ChromExpress(ChromExpressConfig.tiny(n_marks=2)).state_dict()
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / WEIGHTS_FILE)
    with pytest.raises(InputError, match=r"unexpected keys \['extra.weight'\]"):
        load_chromexpress(tmp_path)
    (tmp_path / CONFIG_FILE).write_text('{"model_type": "chromoformer"}')
    with pytest.raises(InputError, match="model_type is 'chromoformer'"):
        load_chromexpress(tmp_path)
