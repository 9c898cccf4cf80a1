from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from exprflow.errors import InputError
from exprflow.models.basenji2.config import (
    Basenji2Config,
    ConvBlock,
    ConvTower,
    Cropping,
    DilatedResidual,
    FinalHead,
    toy_params,
)


def _published_doc() -> dict[str, Any]:
    return {"model": Basenji2Config().to_params()}


def test_published_params_are_the_defaults(real_dir: Path) -> None:
    config = Basenji2Config.from_params(real_dir / "basenji2" / "params_human.json")
    assert config == Basenji2Config()
    assert config.seq_length == 131072
    assert config.bn_momentum == 0.9
    assert config.head == FinalHead(units=5313, activation="softplus")
    assert config.head_name == "human"
    assert config.out_length == 896


def test_published_tower_filters_and_dilations() -> None:
    config = Basenji2Config()
    tower, residual = config.trunk[1], config.trunk[2]
    assert isinstance(tower, ConvTower) and isinstance(residual, DilatedResidual)
    assert tower.filters == (339, 399, 470, 554, 652, 768)
    assert residual.dilations == (1, 2, 3, 4, 6, 9, 14, 21, 32, 48, 72)
    assert DilatedResidual(filters=4, rate_mult=1.5, repeat=4).dilations == (1, 2, 2, 3)


def test_block_defaults_follow_basenji(real_dir: Path) -> None:
    config = Basenji2Config.from_params(real_dir / "basenji2" / "params_human.json")
    last = config.trunk[4]
    assert last == ConvBlock(filters=1536, kernel_size=1, pool_size=1, dropout=0.05)
    assert config.trunk[3] == Cropping(cropping=64)


def test_toy_params() -> None:
    config = Basenji2Config.from_params(toy_params())
    assert config.seq_length == 256
    assert config.out_length == 28
    assert config.head.units == 5


@pytest.mark.parametrize("params", [toy_params(), _published_doc()])
def test_round_trips(params: dict[str, Any]) -> None:
    config = Basenji2Config.from_params(params)
    assert Basenji2Config.from_params({"model": config.to_params()}) == config
    assert Basenji2Config.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["model_type"] == "basenji2"


def test_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(toy_params()))
    assert Basenji2Config.from_params(path) == Basenji2Config.from_params(toy_params())


def test_augmentation_keys_are_ignored() -> None:
    params = toy_params()
    params["model"]["augment_rc"] = True
    params["model"]["augment_shift"] = 3
    assert Basenji2Config.from_params(params) == Basenji2Config.from_params(toy_params())


def test_head_choice() -> None:
    params = toy_params()
    params["model"]["head_mouse"] = {"name": "final", "units": 3, "activation": "softplus"}
    with pytest.raises(InputError, match=r"head None not found.*\['human', 'mouse'\]"):
        Basenji2Config.from_params(params)
    mouse = Basenji2Config.from_params(params, head="mouse")
    assert mouse.head.units == 3 and mouse.head_name == "mouse"
    assert "head_mouse" in mouse.to_params()


def _edit(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    params = copy.deepcopy(toy_params())
    node: Any = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return params


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"train": {}}, "no 'model' section"),
        (_edit(("model", "l3_scale"), 1), r"unknown model keys \['l3_scale'\]"),
        (_edit(("model", "trunk", 0, "name"), "transformer"), "trunk block 0 is 'transformer'"),
        (_edit(("model", "trunk", 1, "strides"), 2), r"trunk\[1\] \(conv_tower\).*\['strides'\]"),
        (_edit(("model", "trunk", 0, "filters"), 0), r"bad filters=0"),
        (_edit(("model", "trunk", 2, "dropout"), 1.0), r"bad dropout=1.0"),
        (_edit(("model", "trunk", 2), "conv"), "trunk block 2 is None"),
        (_edit(("model", "trunk"), []), "no trunk blocks"),
        (_edit(("model", "trunk", 0), {"name": "conv_block"}), "missing 1 required"),
        (_edit(("model", "activation"), "relu"), "activation must be one of"),
        (_edit(("model", "norm_type"), "layer"), "norm_type must be one of"),
        (_edit(("model", "bn_momentum"), 1.5), "bn_momentum must be in"),
        (_edit(("model", "seq_length"), 16), "leaves -2 bins"),
        (_edit(("model", "head_human", "name"), "dense"), "must be a 'final' block"),
        (_edit(("model", "head_human", "units"), -1), "bad units=-1"),
    ],
)
def test_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Basenji2Config.from_params(params)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read params JSON"):
        Basenji2Config.from_params(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json: cannot read params JSON"):
        Basenji2Config.from_params(bad)


def test_bad_json_config() -> None:
    with pytest.raises(InputError, match="not JSON"):
        Basenji2Config.from_json("{")
    with pytest.raises(InputError, match="model_type is 'beluga'"):
        Basenji2Config.from_json(json.dumps({"model_type": "beluga"}))
    with pytest.raises(InputError, match="no 'model' section"):
        Basenji2Config.from_json(json.dumps({"model_type": "basenji2"}))
