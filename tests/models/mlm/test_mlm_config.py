"""Tests of the haplotype MLM config: published defaults, named sizes, JSON round trip."""

from __future__ import annotations

import json

import pytest

from exprflow.errors import InputError
from exprflow.models.mlm.config import MLM_SIZES, MlmConfig, mlm_config


def test_defaults_are_published() -> None:
    config = MLM_SIZES["published"]
    assert (config.d_model, config.n_layers, config.state_size) == (256, 16, 64)
    assert (config.encoder_kernel, config.resnet_kernel, config.decoder_kernel) == (15, 7, 15)
    assert (config.n_resblocks, config.dropout, config.n_tokens) == (3, 0.0, 3)


def test_named_sizes() -> None:
    tiny = mlm_config("tiny", n_genes=24)
    assert (tiny.n_genes, tiny.d_model, tiny.n_layers, tiny.state_size) == (24, 32, 2, 16)
    assert tiny.n_resblocks == 3
    assert mlm_config("small", 5, dropout=0.1).dropout == 0.1
    with pytest.raises(ValueError, match="unknown MLM size 'huge'"):
        mlm_config("huge", 3)


def test_json_round_trip() -> None:
    config = mlm_config("small", 7)
    doc = json.loads(config.to_json())
    assert doc["model_type"] == "haplotype_mlm"
    assert doc["n_genes"] == 7
    assert MlmConfig.from_json(config.to_json()) == config
    assert MlmConfig.from_json(doc) == config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_genes", 0, "n_genes must be a positive integer, got 0"),
        ("d_model", 3.5, "d_model must be a positive integer"),
        ("n_layers", True, "n_layers must be a positive integer"),
        ("state_size", 15, "state_size must be even"),
        ("dropout", 1.0, r"dropout must be in \[0, 1\), got 1.0"),
        ("dropout", "0.1", "dropout must be a number"),
    ],
)
def test_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MlmConfig(**{field: value})  # type: ignore[arg-type]


def test_from_json_errors() -> None:
    with pytest.raises(InputError, match="model_type is 'probe'"):
        MlmConfig.from_json({"model_type": "probe"}, "x.json")
    with pytest.raises(InputError, match=r"unknown config fields \['width'\]"):
        MlmConfig.from_json({"model_type": "haplotype_mlm", "width": 3}, "x.json")
    with pytest.raises(InputError, match="bad config"):
        MlmConfig.from_json({"model_type": "haplotype_mlm", "state_size": 3}, "x.json")
