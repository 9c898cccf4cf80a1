from __future__ import annotations

from collections import Counter
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.models.basenji2.config import Basenji2Config, toy_params
from exprflow.models.basenji2.model import Basenji2, build_basenji2
from exprflow.models.basenji2.weights import load_legacy_weights, read_legacy_weights

_LEGACY_KIND = {
    "Conv1D": ("conv1d", ("kernel",)),
    "BatchNormalization": (
        "batch_normalization",
        ("gamma", "beta", "moving_mean", "moving_variance"),
    ),
    "Dense": ("dense", ("kernel", "bias")),
}


def _tiny(seed: int, **head: int) -> Basenji2:
    keras.utils.set_random_seed(seed)
    params = toy_params()
    params["model"]["head_human"].update(head)
    built = build_basenji2(Basenji2Config.from_params(params))
    rng = np.random.default_rng(seed)
    for layer in built.model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):  # non-trivial statistics
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    return built


def _write_legacy(model: keras.Model, path: Path, *, root: bool = False) -> list[str]:
    """Write ``model`` in the tf.keras HDF5 layout with Keras-2 auto names; return them."""
    counts: Counter[str] = Counter()
    names = []
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = b"2.3.0-tf"
        group = handle if root else handle.create_group("model_weights")
        for layer in model.layers:
            kind = type(layer).__name__
            base, weights = _LEGACY_KIND.get(kind, (kind.lower(), ()))
            name = base if counts[base] == 0 else f"{base}_{counts[base]}"
            counts[base] += 1
            names.append(name)
            layer_group = group.create_group(name)
            weight_names = [f"{name}/{w}:0" for w in weights]
            layer_group.attrs["weight_names"] = np.array(weight_names, dtype="S")
            for weight_name, array in zip(weight_names, layer.get_weights(), strict=True):
                layer_group.create_dataset(weight_name, data=array)
        group.attrs["layer_names"] = np.array(names, dtype="S")
    return names


@pytest.fixture(scope="module")
def source() -> Basenji2:
    return _tiny(1)


@pytest.fixture(scope="module")
def legacy(source: Basenji2, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("legacy") / "model_tiny.h5"
    _write_legacy(source.model, path)
    return path


def _seq() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.eye(4, dtype="float32")[rng.integers(0, 4, size=(3, 256))]


def test_read_legacy_weights(legacy: Path) -> None:
    layers = read_legacy_weights(legacy)
    assert len(layers) == 21  # 10 conv + 10 BN + 1 Dense in the tiny model
    assert layers[0].name == "conv1d" and layers[0].weight_names == ("conv1d/kernel:0",)
    assert layers[1].weight_names[2] == "batch_normalization/moving_mean:0"
    assert layers[-1].arrays[0].shape == (16, 5)


@pytest.mark.parametrize("root", [False, True])
def test_load_gives_identical_outputs(source: Basenji2, tmp_path: Path, root: bool) -> None:
    path = tmp_path / "model.h5"
    _write_legacy(source.model, path, root=root)
    target = _tiny(2)
    seq = _seq()
    assert not np.allclose(_run(target.model, seq), _run(source.model, seq))
    assert load_legacy_weights(target.model, path) is target.model
    np.testing.assert_array_equal(_run(target.model, seq), _run(source.model, seq))
    np.testing.assert_array_equal(_run(target.trunk, seq), _run(source.trunk, seq))


def _run(model: keras.Model, seq: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(seq, training=False))


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def test_shape_mismatch_names_file_layer_and_shapes(legacy: Path) -> None:
    target = _tiny(3, units=6)
    before = _weights(target.model)
    with pytest.raises(InputError) as info:
        load_legacy_weights(target.model, legacy)
    message = str(info.value)
    assert str(legacy) in message
    assert "weighted layer 20" in message and "'dense'" in message and "'head_human'" in message
    assert "'dense/kernel:0' has shape (16, 5)" in message and "expects (16, 6)" in message
    for old, new in zip(before, target.model.get_weights(), strict=True):  # nothing assigned
        np.testing.assert_array_equal(old, new)


def test_layer_listed_but_missing(source: Basenji2, tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    _write_legacy(source.model, path)
    with h5py.File(path, "a") as handle:
        del handle["model_weights/batch_normalization_3"]
    with pytest.raises(InputError, match="'batch_normalization_3' is listed in layer_names but"):
        load_legacy_weights(_tiny(4).model, path)


def test_layer_left_out_of_the_file(source: Basenji2, tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    names = _write_legacy(source.model, path)
    with h5py.File(path, "a") as handle:
        kept = [n for n in names if n != "dense"]
        handle["model_weights"].attrs["layer_names"] = np.array(kept, dtype="S")
    with pytest.raises(
        InputError, match=r"file has 20 weighted layers, the model 21.*'head_human'"
    ):
        load_legacy_weights(_tiny(4).model, path)


def test_extra_layer_in_the_file(legacy: Path) -> None:
    params = toy_params()
    params["model"]["trunk"] = params["model"]["trunk"][:1]
    params["model"]["head_human"]["units"] = 5
    shorter = build_basenji2(Basenji2Config.from_params(params))
    with pytest.raises(InputError, match="weighted layer 2: file layer 'conv1d_1'"):
        load_legacy_weights(shorter.model, legacy)


def test_missing_weight_dataset(source: Basenji2, tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    _write_legacy(source.model, path)
    with h5py.File(path, "a") as handle:
        del handle["model_weights/conv1d_2/conv1d_2/kernel:0"]
    with pytest.raises(InputError, match="'conv1d_2' lists weight 'conv1d_2/kernel:0'"):
        load_legacy_weights(_tiny(4).model, path)


def test_not_a_legacy_file(tmp_path: Path) -> None:
    text = tmp_path / "model.h5"
    text.write_text("not hdf5")
    with pytest.raises(InputError, match="cannot open as HDF5"):
        read_legacy_weights(text)
    with pytest.raises(InputError, match="cannot open as HDF5"):
        read_legacy_weights(tmp_path / "absent.h5")
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as handle:
        handle.create_group("model_weights")
    with pytest.raises(InputError, match="no 'layer_names' attribute"):
        read_legacy_weights(empty)
