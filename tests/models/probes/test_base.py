from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.probes.base import check_embeddings, read_state_dict
from exprflow.models.probes.conv_perceptron import ConvPerceptronConfig
from exprflow.models.probes.linear_probe import LinearProbeConfig
from exprflow.models.probes.maxpool_perceptron import MaxPoolPerceptronConfig
from exprflow.models.probes.transformer_head import TransformerHeadConfig

CONFIGS = [LinearProbeConfig, ConvPerceptronConfig, MaxPoolPerceptronConfig, TransformerHeadConfig]


def test_published_configs_are_the_cs282a_sizes() -> None:
    assert LinearProbeConfig.published() == LinearProbeConfig(channels=1536, tracks=18)
    assert ConvPerceptronConfig.published() == ConvPerceptronConfig(1536, 18, bins=896, hidden=500)
    assert MaxPoolPerceptronConfig.published() == MaxPoolPerceptronConfig(1536, 18, hidden=500)
    assert TransformerHeadConfig.published() == TransformerHeadConfig(
        1536, 18, heads=6, expansion=2, dropout=0.2
    )


def test_tiny_configs_fit_the_tiny_trunk() -> None:
    assert LinearProbeConfig.tiny(tracks=5) == LinearProbeConfig(channels=64, tracks=5)
    assert ConvPerceptronConfig.tiny(tracks=5) == ConvPerceptronConfig(64, 5, 896, 16)
    assert MaxPoolPerceptronConfig.tiny(tracks=5) == MaxPoolPerceptronConfig(64, 5, 16)
    tiny = TransformerHeadConfig.tiny(tracks=5)
    assert (tiny.channels, tiny.heads, tiny.channels % tiny.heads) == (64, 4, 0)


@pytest.mark.parametrize("cls", CONFIGS)
def test_json_round_trip(cls: type) -> None:
    config = cls.tiny(channels=32, tracks=3)
    doc = config.to_dict()
    assert doc["model_type"] == cls.model_type
    assert cls.from_json(config.to_json()) == config
    assert cls.from_json(doc) == config


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"model_type": "transformer"}', "expected 'linear_probe'"),
        ('{"model_type": "linear_probe", "depth": 3}', "unknown config fields ['depth']"),
        ('{"model_type": "linear_probe", "tracks": 0}', "tracks must be a positive integer"),
    ],
)
def test_from_json_errors_name_the_source(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=r"head\.json") as info:
        LinearProbeConfig.from_json(text, source="head.json")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"channels": 0}, "channels must be a positive integer, got 0"),
        ({"tracks": True}, "tracks must be a positive integer, got True"),
        ({"hidden": 2.5}, "hidden must be a positive integer, got 2.5"),
    ],
)
def test_bad_sizes_are_refused(kwargs: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        MaxPoolPerceptronConfig(**kwargs)


@pytest.mark.parametrize("dropout", [1.0, -0.1, "0.2"])
def test_bad_dropout_is_refused(dropout: object) -> None:
    with pytest.raises(ValueError, match="dropout must be in"):
        TransformerHeadConfig(dropout=dropout)  # type: ignore[arg-type]


def test_heads_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="heads=5 must divide channels=64"):
        TransformerHeadConfig.tiny(heads=5)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((2, 64), torch.float32), ((2, 896, 64), torch.float32), ((2, 64, 896), torch.int64)],
)
def test_check_embeddings_names_actual_and_expected(shape: tuple, dtype: torch.dtype) -> None:
    x = torch.zeros(shape, dtype=dtype)
    with pytest.raises(ValueError, match=r"float \(batch, 64, bins\)") as info:
        check_embeddings(x, 64)
    assert str(tuple(shape)) in str(info.value)


def test_check_embeddings_bins() -> None:
    check_embeddings(torch.zeros(1, 8, 896), 8, 896)
    with pytest.raises(ValueError, match=r"\(batch, 8, 896\).*\(1, 8, 895\)"):
        check_embeddings(torch.zeros(1, 8, 895), 8, 896)


def test_read_state_dict_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.pt: no such file\. Fix: give it"):
        read_state_dict(tmp_path / "nope.pt", fix="give it")


def test_read_state_dict_not_torch(tmp_path: Path) -> None:
    path = tmp_path / "text.pt"
    path.write_text("not a torch file\n")
    with pytest.raises(InputError, match=r"text.pt: does not load as a plain state dict"):
        read_state_dict(path, fix="x")


def test_read_state_dict_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module: needs weights_only=False
    with pytest.raises(InputError, match="weights_only=True"):
        read_state_dict(path, fix="x")


@pytest.mark.parametrize("payload", [torch.zeros(3), {"a": 1}, {1: torch.zeros(1)}])
def test_read_state_dict_not_named_tensors(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(InputError, match="not a state dict of named tensors"):
        read_state_dict(path, fix="x")
