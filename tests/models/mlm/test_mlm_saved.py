"""Tests of the saved haplotype MLM folder: exact round trip and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.mlm.config import mlm_config
from exprflow.models.mlm.model import HaplotypeMLM, build_mlm
from exprflow.models.mlm.saved import CONFIG_FILE, WEIGHTS_FILE, load_mlm, save_mlm


def _saved(folder: Path) -> HaplotypeMLM:
    torch.manual_seed(0)
    config = mlm_config("tiny", 4)
    model = build_mlm(config)
    x = torch.rand(3, 3, 40)
    model(x, torch.tensor([0, 1, 2]))  # train-mode pass: BatchNorm running stats move
    save_mlm(folder, model, config, {"genes": ["g1", "g2", "g3", "g4"], "seq_len": 40})
    return model.eval()


def test_round_trip_is_exact(tmp_path: Path) -> None:
    model = _saved(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    loaded, config, extra = load_mlm(tmp_path / "m")
    assert config == model.config
    assert extra == {"genes": ["g1", "g2", "g3", "g4"], "seq_len": 40}
    assert not loaded.training
    want, got = model.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    x, gene = torch.rand(2, 3, 25), torch.tensor([3, 1])
    with torch.no_grad():
        assert torch.equal(model(x, gene).embeddings, loaded(x, gene).embeddings)
    doc = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    assert doc["config"]["model_type"] == "haplotype_mlm"


def test_save_refuses_bad_arguments(tmp_path: Path) -> None:
    model = build_mlm(mlm_config("tiny", 2))
    with pytest.raises(ValueError, match="extra must be JSON-able"):
        save_mlm(tmp_path, model, model.config, {"bad": object()})
    with pytest.raises(ValueError, match="the model was built from"):
        save_mlm(tmp_path, model, mlm_config("tiny", 3))
    assert not list(tmp_path.iterdir())


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"{CONFIG_FILE}: cannot read the model description"):
        load_mlm(tmp_path)
    _saved(tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(InputError, match=f"{WEIGHTS_FILE}: no such file. Fix: write the folder"):
        load_mlm(tmp_path)


def test_corrupt_weights(tmp_path: Path) -> None:
    _saved(tmp_path)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="does not load as a plain state dict"):
        load_mlm(tmp_path)
    torch.save([torch.zeros(2)], tmp_path / WEIGHTS_FILE)
    with pytest.raises(InputError, match="holds a list, not a state dict"):
        load_mlm(tmp_path)


def _edit_weights(folder: Path, edit: str) -> None:
    state = torch.load(folder / WEIGHTS_FILE, weights_only=True)
    if edit == "missing":
        del state["backbone.1.layer.kernel.log_dt"]
    elif edit == "shape":
        state["decoder.weight"] = torch.zeros(3, 32, 5)
    else:
        state["extra.weight"] = torch.zeros(1)
    torch.save(state, folder / WEIGHTS_FILE)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("missing", r"weights.pt: backbone.1.layer.kernel.log_dt: missing key\. Fix:"),
        ("shape", r"decoder.weight: has shape \[3, 32, 5\], expected \[3, 32, 15\]"),
        ("unexpected", r"unexpected keys \['extra.weight'\]"),
    ],
)
def test_bad_keys(tmp_path: Path, edit: str, message: str) -> None:
    _saved(tmp_path)
    _edit_weights(tmp_path, edit)
    with pytest.raises(InputError, match=message):
        load_mlm(tmp_path)


def test_weights_of_another_config(tmp_path: Path) -> None:
    _saved(tmp_path)
    path = tmp_path / CONFIG_FILE
    doc = json.loads(path.read_text())
    doc["config"]["n_genes"] = 5
    path.write_text(json.dumps(doc))
    with pytest.raises(
        InputError, match=r"gene_embedding.weight: has shape \[4, 32\], expected \[5, 32\]"
    ):
        load_mlm(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "cannot read the model description"),
        ('{"extra": {}}', "cannot read the model description .KeyError"),
        ('{"config": {"model_type": "probe"}}', "model_type is 'probe'"),
        ('{"config": {"model_type": "haplotype_mlm", "d_model": -1}}', "bad config"),
        ('{"config": {"model_type": "haplotype_mlm"}, "extra": [1]}', "extra is a list"),
    ],
)
def test_bad_description(tmp_path: Path, text: str, message: str) -> None:
    _saved(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(InputError, match=message):
        load_mlm(tmp_path)
