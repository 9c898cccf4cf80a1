from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.load import save_checkpoint
from exprflow.models.beluga.model import Beluga
from exprflow.models.beluga.predict import predict_windows
from exprflow.models.expecto.features import spatial_features, to_legacy_layout
from exprflow.models.expecto.plugins import (
    BelugaChromatin,
    SpatialReduce,
    TissueHeads,
    expecto_plugins,
    to_exprflow_layout,
)
from exprflow.models.expecto.tissue import LinearTissueModel, load_tissue_models, save_json

F = 3  # chromatin outputs of the tiny Beluga
D = 10 * F


def _tissue(seed: int, width: int = D, tissue: str | None = None) -> LinearTissueModel:
    rng = np.random.default_rng(seed)
    return LinearTissueModel(
        rng.normal(size=width), float(rng.normal()), 2.0, tissue=tissue or f"T{seed}"
    )


@pytest.fixture(scope="module")
def beluga() -> Beluga:
    torch.manual_seed(0)
    return Beluga(BelugaConfig.tiny(F)).eval()


@pytest.fixture
def checkpoint(beluga: Beluga, tmp_path: Path) -> Path:
    data = {"feature_names": ["a", "b", "c"], "seq_len": 2000, "genome": "g", "held_out_chroms": []}
    return save_checkpoint(tmp_path / "beluga.pt", beluga, beluga.config, {}, data)


def _windows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, 2000))].transpose(0, 2, 1).copy()


def test_shapes_and_dtypes(beluga: Beluga) -> None:
    chromatin = BelugaChromatin(beluga, batch_size=7, device="cpu")
    per_window = chromatin(_windows(10))
    assert per_window.shape == (10, F) and per_window.dtype == np.float32
    reduced = SpatialReduce()(np.ones((2, 200, F), dtype=np.float32))
    assert reduced.shape == (2, D) and reduced.dtype == np.float32
    heads = TissueHeads([_tissue(1), _tissue(2)])
    assert heads.tissues == ["T1", "T2"] and heads.n_features == D
    predictions = heads(reduced)
    assert predictions.shape == (2, 2) and predictions.dtype == np.float32


def test_chain_equals_direct_computation(beluga: Beluga) -> None:
    models = [_tissue(1), _tissue(2), _tissue(3)]
    windows = _windows(400)  # two genes × 200 windows
    chromatin = BelugaChromatin(beluga, batch_size=64, device="cpu")
    chained = TissueHeads(models)(SpatialReduce()(chromatin(windows).reshape(2, 200, F)))
    raw = predict_windows(beluga, windows, batch_size=400).reshape(2, 200, F)
    direct = np.stack([model.predict(spatial_features(raw)) for model in models], axis=1)
    np.testing.assert_allclose(chained, direct, rtol=1e-5, atol=1e-5)
    # forward + reverse-complement average: the reverse complement predicts the same
    np.testing.assert_allclose(chromatin(windows[:5, ::-1, ::-1].copy()), raw[0, :5], atol=1e-6)


def test_legacy_models_are_converted_exactly() -> None:
    model = _tissue(4)
    legacy_weights = to_legacy_layout(model.weights, F)
    legacy_weights[:: F + 1] = 7.0  # weights of the always-zero columns never matter
    legacy = LinearTissueModel(legacy_weights, model.bias, 2.0, "legacy", tissue="L")
    assert to_exprflow_layout(legacy).n_features == D
    np.testing.assert_array_equal(to_exprflow_layout(legacy).weights, model.weights)
    assert to_exprflow_layout(model) is model
    features = np.random.default_rng(0).normal(size=(5, D))
    heads = TissueHeads([legacy, model])
    np.testing.assert_allclose(heads(features)[:, 0], legacy.predict(features), rtol=1e-6)
    np.testing.assert_allclose(heads(features)[:, 0], heads(features)[:, 1], rtol=1e-6)


def test_released_lcl_model(lcl: Path) -> None:
    model = load_tissue_models(lcl)[0]
    heads = TissueHeads([model])
    assert heads.n_features == 20_020
    features = np.random.default_rng(0).random((3, 20_020))
    np.testing.assert_allclose(heads(features)[:, 0], model.predict(features), rtol=1e-6)


def test_expecto_plugins_from_files(beluga: Beluga, checkpoint: Path, tmp_path: Path) -> None:
    models = [_tissue(1), _tissue(2)]
    for model in models:
        save_json(model, tmp_path / f"{model.tissue}.json")
    (tmp_path / "modellist").write_text("ModelName\tTissue\nT1.json\tliver\nT2.json\tlung\n")
    chromatin, reduce, heads = expecto_plugins(checkpoint, tmp_path / "modellist", device="cpu")
    assert heads.tissues == ["liver", "lung"]
    assert chromatin.feature_names == ["a", "b", "c"]
    windows = _windows(200)
    expected = TissueHeads(models)(SpatialReduce()(BelugaChromatin(beluga)(windows)[None]))
    np.testing.assert_array_equal(heads(reduce(chromatin(windows)[None])), expected)
    assert expecto_plugins(checkpoint, models).heads.tissues == ["T1", "T2"]


def test_feature_count_mismatch_names_both_numbers(checkpoint: Path, tmp_path: Path) -> None:
    path = save_json(_tissue(1, width=10 * (F + 1)), tmp_path / "wide.json")
    with pytest.raises(InputError, match=r"wide.json: T1: the tissue models take 40 features") as e:
        expecto_plugins(checkpoint, path)
    assert "beluga.pt has 3 outputs" in str(e.value) and "10 × 3 = 30" in str(e.value)


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([_tissue(1), _tissue(2, width=20)], "model T2: takes 20 features but model T1 takes 30"),
        ([_tissue(1), _tissue(2, tissue="T1")], r"tissue names \['T1'\] are empty or repeated"),
        ([LinearTissueModel(np.zeros(15), 0.0, 2.0, "legacy", tissue="L")], "has 15 weights"),
    ],
)
def test_bad_tissue_models(models: list[LinearTissueModel], message: str) -> None:
    with pytest.raises(InputError, match=message):
        TissueHeads(models)


def test_bad_calls(beluga: Beluga) -> None:
    with pytest.raises(ValueError, match="at least one tissue model"):
        TissueHeads([])
    with pytest.raises(ValueError, match=r"features must have shape \(G, 30\), got \(2, 31\)"):
        TissueHeads([_tissue(1)])(np.zeros((2, 31)))
    with pytest.raises(ValueError, match=r"onehot must have shape \(N, 4, L\)"):
        BelugaChromatin(beluga)(np.zeros((2, 2000, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BelugaChromatin(beluga, batch_size=0)
