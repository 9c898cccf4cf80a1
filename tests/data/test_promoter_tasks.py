from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from exprflow.data.promoter_codes import encode_codes
from exprflow.data.promoter_tasks import (
    TaskData,
    TaskSpec,
    read_task,
    read_tasks,
    task_path,
    write_task,
)
from exprflow.errors import InputError


def _task(name: str = "Sharpr_MPRA", kind: str = "regression") -> TaskData:
    seqs = ["ACGTA", "GG", "TTTN", "CA"]
    codes = encode_codes(seqs, 5)
    if kind == "multiclass":
        spec = TaskSpec(name, kind, ("K562", "HepG2"), 40, n_heads=4, n_classes=5, max_length=5)
        targets = np.array([[0, 4], [1, 2], [3, 3], [0, 0]], dtype=np.int64)
    else:
        spec = TaskSpec(name, kind, ("a", "b"), 2, max_length=5)
        targets = np.array([[0.5, 1], [2, 3], [-1, 0], [4, 5]], dtype=np.float32)
    return TaskData(
        spec=spec,
        ids=np.array(["r0", "r1", "r2", "r3"]),
        codes=codes,
        lengths=np.array([len(s) for s in seqs], dtype=np.int32),
        targets=targets,
        mask=np.array([[True, True], [True, False], [True, True], [False, True]]),
        splits=np.array([[0, 1], [1, 0], [2, 2], [0, 0]], dtype=np.int8),
        group=np.array([0, 0, 1, 1], dtype=np.int64),
    )


def _assert_same(a: TaskData, b: TaskData) -> None:
    assert a.spec == b.spec
    for name in ("ids", "codes", "lengths", "targets", "mask", "splits", "group"):
        left, right = getattr(a, name), getattr(b, name)
        np.testing.assert_array_equal(left, right)
        assert left.dtype == right.dtype, name


@pytest.mark.parametrize("kind", ["regression", "multiclass"])
def test_round_trip(tmp_path: Path, kind: str) -> None:
    task = _task(kind=kind)
    path = write_task(task, tmp_path)
    assert path == tmp_path / "Sharpr_MPRA.h5"
    _assert_same(read_task(path), task)
    assert [p.name for p in tmp_path.iterdir()] == ["Sharpr_MPRA.h5"]


def test_write_casts_to_the_stored_dtypes(tmp_path: Path) -> None:
    task = _task()
    loose = replace(task, codes=task.codes.astype(np.int64), ids=list(task.ids))
    back = read_task(write_task(loose, tmp_path))
    assert back.codes.dtype == np.int8 and back.ids.dtype.kind == "U"
    _assert_same(back, task)


def test_spec_defaults_and_json() -> None:
    spec = TaskSpec("SuRE_classification", "multiclass", ["K562", "HepG2"], 40, 4, 5, 600)
    assert spec.monitor == "accuracy" and spec.outputs == ("K562", "HepG2")
    assert TaskSpec.from_json(spec.to_json()) == spec
    assert TaskSpec("x", "binary", ("a",), 1).monitor == "auroc"


def test_spec_refuses_a_wrong_head_width_or_kind() -> None:
    with pytest.raises(ValueError, match=r"n_logits 10 .*expected 40"):
        TaskSpec("SuRE_classification", "multiclass", ("K562", "HepG2"), 10, 4, 5)
    with pytest.raises(ValueError, match="kind must be one of"):
        TaskSpec("x", "ranking", ("a",), 1)


def test_indices_per_split_and_seed() -> None:
    task = _task()
    np.testing.assert_array_equal(task.indices("train"), [0, 3])
    np.testing.assert_array_equal(task.indices("val"), [1])
    np.testing.assert_array_equal(task.indices("test", 1), [2])
    np.testing.assert_array_equal(task.indices("train", 1), [1, 3])
    with pytest.raises(ValueError, match="split must be one of"):
        task.indices("holdout")
    with pytest.raises(ValueError, match=r"seed_index must lie in 0..1 .* got 2"):
        task.indices("train", 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": np.zeros((4, 3), np.float32)}, "targets"),
        ({"codes": np.zeros((4, 6), np.int8)}, "codes"),
        ({"mask": np.ones((3, 2), bool)}, "mask"),
        ({"lengths": np.array([5, 2, 4, 3], np.int32)}, "lengths"),
        ({"splits": np.full((4, 1), 3, np.int8)}, "splits"),
        ({"targets": np.full((4, 2), np.nan, np.float32)}, "targets"),
    ],
)
def test_write_refuses_a_bad_task(tmp_path: Path, change: dict, field: str) -> None:
    with pytest.raises(InputError, match=rf"Sharpr_MPRA\.h5: {field}: task Sharpr_MPRA: {field}"):
        write_task(replace(_task(), **change), tmp_path)
    assert not list(tmp_path.iterdir())


def test_write_refuses_classes_outside_the_spec(tmp_path: Path) -> None:
    task = _task(kind="multiclass")
    task.targets[0, 0] = 5
    with pytest.raises(InputError, match=r"targets .* 0\.\.4"):
        write_task(task, tmp_path)


def _rewrite(path: Path, name: str, data: np.ndarray | None) -> None:
    with h5py.File(path, "a") as handle:
        del handle[name]
        if data is not None:
            handle.create_dataset(name, data=data)


def test_read_refuses_a_file_with_a_bad_shape(tmp_path: Path) -> None:
    path = write_task(_task(), tmp_path)
    _rewrite(path, "mask", np.ones((4, 5), bool))
    with pytest.raises(InputError, match=r"Sharpr_MPRA\.h5: mask: .* shape \(4, 5\) .* \(4, 2\)"):
        read_task(path)


def test_read_refuses_a_missing_dataset_or_spec(tmp_path: Path) -> None:
    path = write_task(_task(), tmp_path)
    _rewrite(path, "group", None)
    with pytest.raises(InputError, match=r"group: lacks dataset\(s\) \['group'\]"):
        read_task(path)
    path = write_task(_task(), tmp_path)
    with h5py.File(path, "a") as handle:
        handle.attrs["spec"] = '{"name": "x"}'
    with pytest.raises(InputError, match="spec: has no valid task spec"):
        read_task(path)
    with h5py.File(path, "a") as handle:
        handle.attrs["format_version"] = 99
    with pytest.raises(InputError, match="format_version is 99"):
        read_task(path)


def test_read_refuses_a_missing_or_non_hdf5_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="task file not found"):
        read_task(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        read_task(bad)


def test_read_tasks_by_name(tmp_path: Path) -> None:
    write_task(_task(), tmp_path)
    write_task(_task("SuRE_classification", "multiclass"), tmp_path)
    tasks = read_tasks(tmp_path, ["SuRE_classification", "Sharpr_MPRA"])
    assert list(tasks) == ["SuRE_classification", "Sharpr_MPRA"]
    assert tasks["SuRE_classification"].spec.n_logits == 40
    assert task_path(tmp_path, "RNASeq") == tmp_path / "RNASeq.h5"
    with pytest.raises(
        InputError, match=r"no task 'RNASeq'; tasks present: \['Sharpr_MPRA', 'SuRE"
    ):
        read_tasks(tmp_path, ["RNASeq"])
