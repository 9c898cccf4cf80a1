"""Saved probe folders and the probe pyfunc model: round trips, logging, serving checks."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.probes.pyfunc import ProbeModel, log_probe_model
from exprflow.models.probes.registry import HEADS
from exprflow.models.probes.saved import CONFIG_FILE, WEIGHTS_FILE, load_probe, save_probe
from exprflow.models.probes.scaled import ScaledHead
from exprflow.serving.validation import RequestError

TRACKS = ["a", "b", "c"]


def _head(name: str, seed: int = 0) -> tuple[ScaledHead, object]:
    torch.manual_seed(seed)
    spec = HEADS[name]
    config = spec.config_cls.tiny(channels=8, tracks=3)
    if hasattr(config, "bins"):
        config = type(config)(channels=8, tracks=3, bins=16, hidden=4)
    return ScaledHead(spec.build(config), torch.tensor([2.0, 0.5, 10.0])).eval(), config


@pytest.mark.parametrize("name", sorted(HEADS))
def test_save_and_load_give_the_same_outputs(name: str, tmp_path: Path) -> None:
    module, config = _head(name)
    save_probe(tmp_path / "probe", module, config, TRACKS)  # type: ignore[arg-type]
    probe = load_probe(tmp_path / "probe")
    assert (probe.head, probe.tracks, probe.config) == (name, TRACKS, config)
    assert probe.target == HEADS[name].target
    x = torch.randn(2, 8, 16)
    with torch.no_grad():
        torch.testing.assert_close(probe.module(x), module(x), rtol=0, atol=0)
    torch.testing.assert_close(probe.module.scale, torch.tensor([2.0, 0.5, 10.0]))


def test_scaled_head_multiplies_per_track() -> None:
    module, _ = _head("linear_probe")
    x = torch.randn(2, 8, 16)
    with torch.no_grad():
        raw = module.head(x)
        torch.testing.assert_close(module(x), raw * torch.tensor([2.0, 0.5, 10.0]).view(1, 3, 1))
    with pytest.raises(ValueError, match="positive"):
        ScaledHead(module.head, torch.tensor([1.0, 0.0, 1.0]))


def test_bad_folders_get_clear_errors(tmp_path: Path) -> None:
    module, config = _head("maxpool_perceptron")
    folder = save_probe(tmp_path / "p", module, config, TRACKS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 track names for a head of 3"):
        save_probe(tmp_path / "q", module, config, TRACKS[:2])  # type: ignore[arg-type]
    doc = json.loads((folder / CONFIG_FILE).read_text())
    doc["config"]["hidden"] = 5
    (folder / CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(InputError, match="does not fit the maxpool_perceptron config"):
        load_probe(folder)
    (folder / CONFIG_FILE).write_text("{")
    with pytest.raises(InputError, match="cannot read the probe description"):
        load_probe(folder)
    save_probe(folder, module, config, TRACKS)  # type: ignore[arg-type]
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(InputError, match="no such file"):
        load_probe(folder)


def test_logged_model_predicts_like_the_module(tmp_path: Path, tracking: str) -> None:
    module, config = _head("linear_probe", seed=3)
    folder = save_probe(tmp_path / "probe", module, config, TRACKS)  # type: ignore[arg-type]
    example = np.random.default_rng(0).normal(size=(2, 8, 16)).astype(np.float32)
    with mlflow.start_run():
        info = log_probe_model(folder, input_example=example, registered_model_name="probe-test")
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    out = loaded.predict(example)
    with torch.no_grad():
        np.testing.assert_array_equal(out, module(torch.from_numpy(example)).numpy())
    assert out.shape == (2, 3, 16) and out.dtype == np.float32
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 8, -1)
    assert loaded.metadata.metadata["tracks"] == TRACKS
    versions = mlflow.MlflowClient().search_model_versions("name='probe-test'")
    assert len(versions) == 1


def test_requests_are_checked(tmp_path: Path) -> None:
    module, config = _head("maxpool_perceptron")
    model = ProbeModel(max_rows=2).load(save_probe(tmp_path / "p", module, config, TRACKS))  # type: ignore[arg-type]
    assert model.predict(None, np.zeros((2, 8, 5), np.float16)).shape == (2, 3)  # any bins
    with pytest.raises(RequestError, match=r"has shape \(2, 7, 5\)"):
        model.predict(None, np.zeros((2, 7, 5)))
    with pytest.raises(RequestError, match="3 regions, more than max_rows 2"):
        model.predict(None, np.zeros((3, 8, 5)))
    with pytest.raises(RequestError, match="NaN"):
        model.predict(None, np.full((1, 8, 5), np.nan))
    with pytest.raises(RequestError, match="not a numeric array"):
        model.predict(None, [["x"]])
