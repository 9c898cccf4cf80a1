from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from exprflow.errors import InputError
from exprflow.models.expecto.features import from_legacy_layout
from exprflow.models.expecto.legacy import read_legacy_model
from exprflow.models.expecto.tissue import (
    LinearTissueModel,
    load_json,
    load_tissue_models,
    read_model_list,
    save_json,
    train_tissue_model,
)


def test_real_model_predicts_in_both_layouts(lcl: Path) -> None:
    (model,) = load_tissue_models(lcl)
    raw = read_legacy_model(lcl)
    assert model.feature_layout == "legacy" and model.n_features == 20030
    assert model.tissue == "Cells_EBV-transformed_lymphocytes" and model.source == str(lcl)
    x = np.random.default_rng(0).random((3, 20030))
    x[:, ::2003] = 0
    want = 2.0 + raw.bias + x @ raw.weights.astype(np.float64)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-12)
    np.testing.assert_allclose(model.predict(from_legacy_layout(x)), want, rtol=1e-12)
    assert model.predict(np.zeros(20030)) == pytest.approx(2.0 + raw.bias, abs=0)


def test_wrong_feature_count_names_model_and_counts(lcl: Path) -> None:
    (model,) = load_tissue_models(lcl)
    with pytest.raises(
        InputError, match=rf"{re.escape(lcl.name)}.*123 columns.*takes 20030.*or 20020.*Fix"
    ):
        model.predict(np.zeros((2, 123)))


def test_model_validation() -> None:
    with pytest.raises(ValueError, match="finite 1-D"):
        LinearTissueModel(np.array([np.nan]), 0.0, 2.0)
    with pytest.raises(ValueError, match="feature_layout must be one of"):
        LinearTissueModel(np.ones(3), 0.0, 2.0, "other")  # type: ignore[arg-type]


def test_real_model_list_is_parsed_without_loading(real_dir: Path, lcl: Path) -> None:
    path = real_dir / "expecto" / "modellist"
    entries = read_model_list(path)
    assert len(entries) == 218
    assert entries[0].tissue == "Adipose Subcutaneous"
    assert entries[0].path == path.parent / "models" / (
        "allhistones2000.1.fixed.all.pseudocount0.0001.lambda100.round100.basescore2."
        "Adipose_Subcutaneous.save"
    )
    assert entries[-1].tissue == "Vein Endothelial Cell"
    assert sum(e.path.name == lcl.name for e in entries) == 1
    with pytest.raises(
        InputError,
        match=r"modellist: tissue 'Adipose Subcutaneous': model file .*Subcutaneous\.save does not",
    ):
        load_tissue_models(path)


def test_model_list_in_tmp_folder(lcl: Path, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "lcl.save").symlink_to(lcl)
    listing = tmp_path / "modellist"
    listing.write_text(f"ModelName\tTissue\n./models/lcl.save\tLCL\n{lcl}\tLCL again\n")
    models = load_tissue_models(listing)
    assert [m.tissue for m in models] == ["LCL", "LCL again"]
    np.testing.assert_array_equal(models[0].weights, models[1].weights)
    # the folder stands for its model list
    assert [m.tissue for m in load_tissue_models(tmp_path)] == ["LCL", "LCL again"]
    with pytest.raises(InputError, match=r"models: is a folder without a 'modellist' file"):
        load_tissue_models(tmp_path / "models")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Model\tTissue\nx.save\tA\n", r"line 1: header is \('Model', 'Tissue'\)"),
        ("ModelName\tTissue\nx.save\n", r"line 2: expected 2 tab-separated"),
        ("ModelName\tTissue\na.save\tA\nb.save\tA\n", r"tissue names listed twice: \['A'\]"),
    ],
)
def test_bad_model_lists(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "modellist"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_model_list(path)


def test_json_round_trip(tmp_path: Path) -> None:
    model = LinearTissueModel(
        np.array([0.1, -2.5e-7, 3.0]), 0.3, 2.0, name="m", tissue="Liver", training={"l2": 100}
    )
    path = save_json(model, tmp_path / "m.json")
    back = load_json(path)
    np.testing.assert_array_equal(back.weights, model.weights)
    assert (back.bias, back.base_score, back.tissue, back.feature_layout) == (
        0.3,
        2.0,
        "Liver",
        "exprflow",
    )
    assert back.training == {"l2": 100} and back.source == str(path)
    (listed,) = load_tissue_models(path)
    assert listed.tissue == "Liver"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="cannot read JSON"):
        load_json(path)
    path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="format is 'other'"):
        load_json(path)
    path.write_text(json.dumps({"format": "exprflow.expecto.linear_tissue_model", "bias": 0}))
    with pytest.raises(InputError, match="bad or missing field: 'weights'"):
        load_json(path)


def _synthetic(seed: int = 0, n: int = 600, p: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    w = rng.normal(size=p) * (rng.random(p) < 0.3)
    return x, 2.0 + x @ w + 0.5 * rng.normal(size=n)


def test_training_matches_booster_and_recovers_signal() -> None:
    x, y = _synthetic()
    model = train_tissue_model(x[:400], y[:400], tissue="toy")
    params = model.training["xgboost_params"]
    assert params["updater"] == "shotgun" and params["nthread"] == 1
    assert params["lambda"] == pytest.approx(100 / 400)  # 0.7 units → xgboost ≥ 0.71 units
    assert model.base_score == 2.0 and model.tissue == "toy" and model.n_features == 40
    booster = xgb.train(params, xgb.DMatrix(x[:400], label=y[:400]), num_boost_round=100)
    np.testing.assert_allclose(
        model.predict(x[:400]), booster.predict(xgb.DMatrix(x[:400])), atol=1e-5
    )
    assert np.corrcoef(model.predict(x[400:]), y[400:])[0, 1] > 0.8
    again = train_tissue_model(x[:400], y[:400], tissue="toy")
    np.testing.assert_array_equal(again.weights, model.weights)


def test_training_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"got \(3, 2\) and \(4,\)"):
        train_tissue_model(np.zeros((3, 2)), np.zeros(4))
