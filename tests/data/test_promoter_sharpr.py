"""Tests of the Sharpr_MPRA task reader on hand-made HDF5 files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from exprflow.data.promoter_codes import codes_to_onehot, decode_codes
from exprflow.data.promoter_sharpr import SHARPR_OUTPUTS, build_sharpr_task
from exprflow.errors import InputError

SIZES = {"train": 5, "valid": 2, "test": 3}


def _tiles(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=(n, 145)).astype(np.int8)


def _write(folder: Path, *, dtype: str = "uint8", keras: bool = False) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    codes = {}
    for seed, (stem, n) in enumerate(SIZES.items()):
        codes[stem] = _tiles(n, seed)
        onehot = codes_to_onehot(codes[stem]).astype(dtype)
        if keras:
            onehot = onehot[:, None]
        output = np.arange(n * 12, dtype=np.float32).reshape(n, 12) + 100 * seed
        with h5py.File(folder / f"{stem}.hdf5", "w") as out:
            out.create_dataset("X/sequence", data=onehot)
            out.create_dataset("Y/output", data=output)
    return codes


def test_reads_the_three_files(tmp_path: Path) -> None:
    codes = _write(tmp_path)
    task = build_sharpr_task(tmp_path)
    assert task.spec.name == "Sharpr_MPRA" and task.spec.kind == "regression"
    assert task.spec.outputs == SHARPR_OUTPUTS and task.spec.n_logits == 12
    assert task.spec.max_length == 145 and task.spec.monitor == "spearman"
    assert SHARPR_OUTPUTS[:3] == ("k562_minp_rep1", "k562_minp_rep2", "k562_minp_avg")
    assert SHARPR_OUTPUTS[-1] == "hepg2_sv40p_avg"
    np.testing.assert_array_equal(
        task.codes, np.concatenate([codes["train"], codes["valid"], codes["test"]])
    )
    assert task.splits[:, 0].tolist() == [0] * 5 + [1] * 2 + [2] * 3
    assert task.ids[[0, 5, 9]].tolist() == ["train:0", "valid:0", "test:2"]
    assert task.targets.dtype == np.float32
    np.testing.assert_array_equal(task.targets[5], np.arange(12) + 100)
    assert task.mask.all() and (task.lengths == 145).all()
    np.testing.assert_array_equal(task.group, np.arange(10))
    assert task.indices("val").tolist() == [5, 6]


def test_keras_layout_float_and_n_rows(tmp_path: Path) -> None:
    codes = _write(tmp_path, dtype="float32", keras=True)
    with h5py.File(tmp_path / "train.hdf5", "a") as handle:
        sequence = handle["X/sequence"]
        sequence[0, 0, 3] = 0.25  # all channels 0.25 → N
        sequence[1, 0, 7] = 0.0  # all zeros → N
    task = build_sharpr_task(tmp_path)
    assert decode_codes(task.codes[0])[0][3] == "N"
    assert decode_codes(task.codes[1])[0][7] == "N"
    np.testing.assert_array_equal(task.codes[2:5], codes["train"][2:])


@pytest.mark.parametrize(
    ("dataset", "data", "message"),
    [
        ("X/sequence", np.zeros((5, 144, 4), np.uint8), r"X/sequence has shape \(5, 144, 4\)"),
        ("X/sequence", np.zeros((5, 145, 5), np.uint8), r"expected \(N, 145, 4\)"),
        ("Y/output", np.zeros((5, 11), np.float32), r"Y/output has shape \(5, 11\)"),
        ("Y/output", np.zeros((4, 12), np.float32), r"expected numbers of shape \(5, 12\)"),
        ("Y/output", np.full((5, 12), np.nan, np.float32), r"Y/output row 0 is not finite"),
    ],
)
def test_wrong_shapes_name_file_and_dataset(
    tmp_path: Path, dataset: str, data: np.ndarray, message: str
) -> None:
    _write(tmp_path)
    with h5py.File(tmp_path / "train.hdf5", "a") as handle:
        del handle[dataset]
        handle.create_dataset(dataset, data=data)
    with pytest.raises(InputError, match=rf"train\.hdf5: {dataset}: .*{message}"):
        build_sharpr_task(tmp_path)


def test_missing_dataset_and_file(tmp_path: Path) -> None:
    _write(tmp_path)
    with h5py.File(tmp_path / "test.hdf5", "a") as handle:
        del handle["Y"]
    with pytest.raises(InputError, match=r"test\.hdf5: Y/output: has no dataset Y/output"):
        build_sharpr_task(tmp_path)
    (tmp_path / "valid.hdf5").unlink()
    with pytest.raises(InputError, match=r"valid\.hdf5: Sharpr-MPRA file not found"):
        build_sharpr_task(tmp_path)
    (tmp_path / "train.hdf5").write_text("not hdf5")
    with pytest.raises(InputError, match=r"train\.hdf5: is not a readable HDF5 file"):
        build_sharpr_task(tmp_path)
