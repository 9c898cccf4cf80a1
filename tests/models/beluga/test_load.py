from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.convert import from_state_dict
from exprflow.models.beluga.load import (
    CHECKPOINT_FORMAT,
    from_pretrained,
    load_checkpoint,
    save_checkpoint,
)
from exprflow.models.beluga.model import STATE_DICT_KEYS, Beluga
from exprflow.models.beluga.predict import predict_windows

TINY = BelugaConfig.tiny(3)


def _light_full_state_dict() -> dict[str, torch.Tensor]:
    """Random weights of the published shapes, each a broadcast of its last axis.

    The stored storage is one row per tensor, so the file is ~0.3 MB instead of 600 MB.
    """
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in Beluga().state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    return {k: torch.randn(s[-1], generator=generator).expand(s) for k, s in shapes.items()}


@pytest.fixture
def tiny_model() -> Beluga:
    torch.manual_seed(0)
    return Beluga(TINY).eval()


@pytest.fixture
def windows() -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (5, 2000))].transpose(0, 2, 1)


def _data_params() -> dict:
    return {
        "feature_names": ["E1|DNase", "E1|H3K4me3", "E2|DNase"],
        "seq_len": 2000,
        "genome": "tiny-seed0",
        "held_out_chroms": ["chr4"],
    }


def test_released_layout_loads_strictly(tmp_path: Path) -> None:
    state = _light_full_state_dict()
    path = tmp_path / "deepsea.beluga.pth"
    torch.save(state, path)
    assert path.stat().st_size < 2_000_000
    model = from_pretrained(path)
    assert model.config == BelugaConfig()
    assert not model.training
    loaded = model.state_dict()
    assert tuple(loaded) == STATE_DICT_KEYS
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    assert sum(p.numel() for p in model.parameters()) == 149_536_251


def test_plain_state_dict_with_a_config(
    tmp_path: Path, tiny_model: Beluga, windows: np.ndarray
) -> None:
    path = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), path)
    loaded = from_pretrained(f"file://{path}", config=TINY)
    np.testing.assert_array_equal(
        predict_windows(loaded, windows, batch_size=5),
        predict_windows(tiny_model, windows, batch_size=5),
    )


def test_half_precision_weights_become_float32(tiny_model: Beluga) -> None:
    half = {k: v.half() for k, v in tiny_model.state_dict().items()}
    model = from_state_dict(half, TINY)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_tiny_weights_passed_as_full(tmp_path: Path, tiny_model: Beluga) -> None:
    path = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), path)
    with pytest.raises(
        InputError,
        match=r"tiny\.pth: model\.0\.0\.weight: shape \[8, 4, 1, 8\] does not fit the config, "
        r"which needs \[320, 4, 1, 8\].*Fix: give the released deepsea\.beluga\.pth",
    ):
        from_pretrained(path)


def test_missing_and_unexpected_keys(tmp_path: Path, tiny_model: Beluga) -> None:
    state = tiny_model.state_dict()
    state["model.1.2.weight"] = state.pop("model.1.2.1.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(
        InputError,
        match=r"renamed\.pth: is not a Beluga state dict: "
        r"missing keys \['model\.1\.2\.1\.weight'\], unexpected keys \['model\.1\.2\.weight'\]",
    ):
        from_pretrained(path, config=TINY)


def test_non_float_tensor(tiny_model: Beluga) -> None:
    state = tiny_model.state_dict()
    state["model.0.0.bias"] = state["model.0.0.bias"].long()
    with pytest.raises(InputError, match=r"sd\.pth: model\.0\.0\.bias: is not a float tensor"):
        from_state_dict(state, TINY, "sd.pth")


def test_unreadable_files(tmp_path: Path, tiny_model: Beluga) -> None:
    text = tmp_path / "weights.pth"
    text.write_text("not a torch file")
    with pytest.raises(InputError, match=r"weights\.pth: cannot be read with torch\.load"):
        from_pretrained(text)
    model_list = tmp_path / "modellist"  # a tab-separated text file given by mistake
    model_list.write_text("ModelName\tTissue\nE116.json\tE116\n")
    with pytest.raises(InputError, match=r"modellist: cannot be read with torch\.load"):
        from_pretrained(model_list)
    pickled = tmp_path / "module.pth"
    torch.save(tiny_model, pickled)  # a whole pickled module: refused by weights_only
    with pytest.raises(InputError, match=r"module\.pth: cannot be read.*pickled modules"):
        from_pretrained(pickled)
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(InputError, match=r"tensor\.pth: holds a Tensor, not a state dict"):
        from_pretrained(tensor)
    with pytest.raises(InputError, match=r"absent\.pth: does not exist"):
        from_pretrained(tmp_path / "absent.pth")


def test_checkpoint_round_trip(tmp_path: Path, tiny_model: Beluga, windows: np.ndarray) -> None:
    path = tmp_path / "ckpt" / "beluga.pt"
    train_params = {"epochs": 3, "lr": 1e-3, "seed": 0, "held_out": ("chr4",)}
    save_checkpoint(path, tiny_model, TINY, train_params, _data_params())
    assert sorted(p.name for p in path.parent.iterdir()) == ["beluga.pt"]  # no temporary left
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT
    assert raw["model_type"] == "beluga"
    assert BelugaConfig.from_json(raw["config"]) == TINY
    checkpoint = load_checkpoint(path)
    assert checkpoint.config == TINY
    assert checkpoint.train_params == {**train_params, "held_out": ["chr4"]}
    assert checkpoint.data_params == _data_params()
    np.testing.assert_array_equal(
        predict_windows(checkpoint.model, windows, batch_size=5),
        predict_windows(tiny_model, windows, batch_size=5),
    )
    assert from_pretrained(path).config == TINY
    assert load_checkpoint(path, config=TINY).config == TINY
    with pytest.raises(InputError, match=r"beluga\.pt: stores config .* not the given"):
        load_checkpoint(path, config=BelugaConfig.tiny(4))


def test_save_checkpoint_bad_arguments(tmp_path: Path, tiny_model: Beluga) -> None:
    path = tmp_path / "bad.pt"
    with pytest.raises(ValueError, match=r"differs from model\.config"):
        save_checkpoint(path, tiny_model, BelugaConfig.tiny(4), {}, _data_params())
    with pytest.raises(ValueError, match=r"data_params lacks \['genome'\]"):
        params = {k: v for k, v in _data_params().items() if k != "genome"}
        save_checkpoint(path, tiny_model, TINY, {}, params)
    with pytest.raises(ValueError, match="has 2 feature_names and seq_len 2000; the config"):
        params = {**_data_params(), "feature_names": ["a", "b"]}
        save_checkpoint(path, tiny_model, TINY, {}, params)
    with pytest.raises(ValueError, match="train_params must be a JSON-able dict"):
        save_checkpoint(path, tiny_model, TINY, {"device": torch.device("cpu")}, _data_params())
    assert not path.exists()


def test_bad_checkpoints(tmp_path: Path, tiny_model: Beluga) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, tiny_model, TINY, {}, _data_params())
    document = torch.load(path, weights_only=True)
    cases = [
        ({**document, "model_type": "basenji2"}, r"is not a Beluga checkpoint: missing \[\], "),
        ({k: v for k, v in document.items() if k != "config"}, r"missing \['config'\]"),
        ({**document, "config": '{"model_type": "beluga", "hidden": 0}'}, "config: bad config"),
        ({**document, "data_params": {"seq_len": 2000}}, r"data_params: data_params lacks"),
    ]
    for bad, message in cases:
        torch.save(bad, path)
        with pytest.raises(InputError, match=rf"ckpt\.pt: .*{message}"):
            load_checkpoint(path)
