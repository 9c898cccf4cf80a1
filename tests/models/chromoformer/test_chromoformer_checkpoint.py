from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from tests.models.chromoformer._reference import make_batch

from exprflow.errors import InputError
from exprflow.models.chromoformer.checkpoint import (
    infer_published_config,
    load_published_checkpoint,
)
from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import Chromoformer
from exprflow.models.chromoformer.saved import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_chromoformer,
    save_chromoformer,
)

TINY = ChromoformerConfig.tiny()


@pytest.fixture(scope="module")
def published_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(7)
    return Chromoformer(ChromoformerConfig.published()).state_dict()


def _write(path: Path, state: dict[str, torch.Tensor], **extra: object) -> Path:
    """A checkpoint in the published form: {"net": state_dict, ...}."""
    torch.save({"net": state, "epoch": 9, **extra}, path)
    return path


def test_published_checkpoint_loads_strictly(
    tmp_path: Path, published_state: dict[str, torch.Tensor]
) -> None:
    path = _write(tmp_path / "chromoformer-reproduction-E003-conf1-fold1.pt", published_state)
    model = load_published_checkpoint(path)
    assert model.config == ChromoformerConfig.published()
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, published_state[key]), key
    again = load_published_checkpoint(path, ChromoformerConfig.published())
    batch = make_batch(model.config, [2, 0])
    with torch.no_grad():
        assert torch.equal(model(batch), again(batch))


def test_regression_and_mark_count_are_inferred(tmp_path: Path) -> None:
    config = ChromoformerConfig.published(n_feats=2, task="regression")
    path = _write(tmp_path / "reg.pt", Chromoformer(config).state_dict())
    assert load_published_checkpoint(path).config == config


def _message(path: Path, state: dict[str, torch.Tensor], config=None) -> str:  # type: ignore[no-untyped-def]
    _write(path, state)
    with pytest.raises(InputError) as info:
        load_published_checkpoint(path, config)
    return str(info.value)


def test_missing_key_is_named(tmp_path: Path, published_state: dict[str, torch.Tensor]) -> None:
    state = dict(published_state)
    del state["regulation.500.transformer.layers.3.self_att.gamma_f"]
    message = _message(tmp_path / "ckpt.pt", state)
    assert str(tmp_path / "ckpt.pt") in message
    assert "1 missing keys ['regulation.500.transformer.layers.3.self_att.gamma_f']" in message
    assert "Fix: pass a published Chromoformer checkpoint" in message


def test_unexpected_key_is_named(tmp_path: Path, published_state: dict[str, torch.Tensor]) -> None:
    state = {**published_state, "embed.2000.pos_enc": torch.zeros(20, 128)}
    message = _message(tmp_path / "ckpt.pt", state)
    assert "1 unexpected keys ['embed.2000.pos_enc']" in message
    assert "Fix:" in message


def test_wrong_shape_is_named(tmp_path: Path, published_state: dict[str, torch.Tensor]) -> None:
    # a classifier checkpoint loaded as a regressor
    message = _message(
        tmp_path / "ckpt.pt", published_state, ChromoformerConfig.published(task="regression")
    )
    assert "fc_head.2.weight [2, 128] (expected [1, 128])" in message
    assert "fc_head.2.bias [2] (expected [1])" in message
    assert "ChromoformerConfig.published(n_feats, task)" in message


def test_old_key_names_get_the_renaming_fix(
    tmp_path: Path, published_state: dict[str, torch.Tensor]
) -> None:
    old = {
        re.sub(r"^embed\.(\d+)", r"embed\1", re.sub(r"^regulation\.", "reg", key)): value
        for key, value in published_state.items()
    }
    message = _message(tmp_path / "old.pt", old)
    assert "embed.2000.lin_proj.weight" in message
    assert "misc/convert_weight.py" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"model": {}}, r"holds a dict with keys \['model'\], not a dict with a 'net' entry"),
        ([1, 2], "holds list, not a dict with a 'net' entry"),
        ({"net": {"a": 1}}, "'net' is not a state dict of named tensors"),
    ],
)
def test_malformed_checkpoints(tmp_path: Path, content: object, problem: str) -> None:
    path = tmp_path / "bad.pt"
    torch.save(content, path)
    with pytest.raises(InputError, match=problem):
        load_published_checkpoint(path)


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such checkpoint file"):
        load_published_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"does not load with torch.load\(weights_only=True\)"):
        load_published_checkpoint(tmp_path / "junk.pt")


def test_head_with_three_outputs_is_refused() -> None:
    state = {
        "embed.2000.lin_proj.weight": torch.zeros(128, 7),
        "fc_head.2.weight": torch.zeros(3, 128),
    }
    with pytest.raises(InputError, match="3 outputs, expected 2"):
        infer_published_config(state, "x.pt")


def test_saved_round_trip_gives_equal_outputs(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = Chromoformer(ChromoformerConfig.tiny(n_feats=2, task="regression")).eval()
    folder = save_chromoformer(model, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert json.loads((folder / CONFIG_FILE).read_text())["model_type"] == "chromoformer"
    loaded = load_chromoformer(folder)
    assert loaded.config == model.config
    assert not loaded.training
    batch = make_batch(model.config, [3, 0, 8])
    with torch.no_grad():
        assert torch.equal(loaded(batch), model(batch))


def test_saved_folder_errors(tmp_path: Path) -> None:
    folder = save_chromoformer(Chromoformer(TINY), tmp_path / "model")
    state = torch.load(folder / WEIGHTS_FILE, weights_only=True)
    state["fc_head.0.bias"] = torch.zeros(3)
    torch.save(state, folder / WEIGHTS_FILE)
    with pytest.raises(InputError, match=r"fc_head.0.bias \[3\] \(expected \[16\]\)"):
        load_chromoformer(folder)
    (folder / CONFIG_FILE).unlink()
    with pytest.raises(InputError, match="cannot read the config"):
        load_chromoformer(folder)
