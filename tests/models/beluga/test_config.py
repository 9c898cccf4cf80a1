from __future__ import annotations

import json

import pytest

from exprflow.errors import InputError
from exprflow.models.beluga.config import BelugaConfig


def test_defaults_are_the_published_model() -> None:
    config = BelugaConfig()
    assert config.model_type == "beluga"
    assert (config.seq_len, config.kernel_size, config.pool_size) == (2000, 8, 4)
    assert config.conv_channels == (320, 320, 480, 480, 640, 640)
    assert (config.hidden, config.n_outputs) == (2003, 2002)
    assert (config.conv_dropout, config.fc_dropout, config.alphabet) == (0.2, 0.5, "AGCT")
    # 2000 → 1993 → 1986 → pool 496 → 489 → 482 → pool 120 → 113 → 106
    assert config.conv_out_len == 106
    assert config.flat_features == 640 * 106 == 67840


def test_tiny_keeps_the_topology() -> None:
    tiny = BelugaConfig.tiny(12)
    assert tiny.conv_channels == (8, 8, 12, 12, 16, 16)
    assert (tiny.hidden, tiny.n_outputs, tiny.seq_len) == (32, 12, 2000)
    assert tiny.flat_features == 16 * 106
    assert BelugaConfig.tiny(3, seq_len=1000).conv_out_len == (((1000 - 14) // 4 - 14) // 4) - 14


def test_json_round_trip() -> None:
    for config in (BelugaConfig(), BelugaConfig.tiny(7)):
        text = config.to_json()
        assert json.loads(text)["model_type"] == "beluga"
        assert BelugaConfig.from_json(text) == config
        assert BelugaConfig.from_json(json.loads(text)) == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"conv_channels": (8, 8, 8)}, "conv_channels needs 6 entries"),
        ({"hidden": 0}, "hidden must be a positive integer, got 0"),
        ({"conv_channels": (8, 8, -1, 8, 8, 8)}, r"conv_channels\[2\] must be"),
        ({"conv_dropout": 1.0}, r"conv_dropout must be in \[0, 1\)"),
        ({"alphabet": "ACGA"}, "alphabet must order ACGT"),
        ({"alphabet": "AGTC"}, "alphabet must order ACGT"),
        ({"seq_len": 200}, "seq_len=200 is too short"),
    ],
)
def test_bad_values(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BelugaConfig(**changes)


def test_acgt_is_a_valid_mirror_alphabet() -> None:
    assert BelugaConfig(alphabet="ACGT").alphabet == "ACGT"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "config is not JSON"),
        ('{"model_type": "basenji2"}', "model_type is 'basenji2', expected 'beluga'"),
        ('{"model_type": "beluga", "depth": 3}', r"unknown config fields \['depth'\]"),
        ('{"model_type": "beluga", "hidden": -5}', "bad config .*hidden must be"),
    ],
)
def test_from_json_bad_documents(document: str, message: str) -> None:
    with pytest.raises(InputError, match=rf"model\.pt: config: {message}.*Fix: write"):
        BelugaConfig.from_json(document, source="model.pt: config")
