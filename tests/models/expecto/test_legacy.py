from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.models.expecto.legacy import read_dump, read_legacy_model


def legacy_bytes(
    weights: list[float],
    bias: float,
    *,
    base_score: float = 2.0,
    magic: bytes = b"binf",
    objective: str = "reg:linear",
    booster: str = "gblinear",
    n_group: int = 1,
    count: int | None = None,
    extra: int = 0,
) -> bytes:
    """An xgboost 0.7 binary gblinear model, written field by field."""
    n = len(weights)

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    learner = struct.pack("<fIiii", base_score, n, 0, extra, 0) + bytes(4 * 29)
    gblinear = struct.pack("<Ii", n, n_group) + bytes(4 * 32)
    values = struct.pack(f"<{n + 1}f", *weights, bias)
    total = n + 1 if count is None else count
    return (
        magic
        + learner
        + string(objective)
        + string(booster)
        + gblinear
        + struct.pack("<Q", total)
        + values
    )


def test_real_model_equals_its_dump(lcl: Path) -> None:
    model = read_legacy_model(lcl)
    assert model.base_score == 2.0
    assert model.num_feature == 20030
    assert model.objective == "reg:linear"
    assert model.weights.dtype == np.float32
    assert np.all(model.weights[::2003] == 0)  # the legacy zero column of each block
    dump = read_dump(lcl.with_suffix(".dump"))
    assert dump.weights.shape == (20030,)
    # The dump prints each float32 with 6 significant digits (C++ ostream default):
    # formatting the binary values the same way reproduces the dump text exactly.
    lines = lcl.with_suffix(".dump").read_text().split()
    assert lines[:2] == ["booster[0]:", "bias:"] and lines[3] == "weight:"
    assert f"{model.bias:g}" == lines[2]
    assert [f"{float(w):g}" for w in model.weights] == lines[4:]
    # and, as float32, the printed values equal the binary values rounded to 6 digits
    rounded = np.array([float(f"{float(w):.6g}") for w in model.weights], dtype=np.float32)
    np.testing.assert_array_equal(dump.weights.astype(np.float32), rounded)
    assert np.float32(dump.bias) == np.float32(float(f"{model.bias:.6g}"))
    np.testing.assert_allclose(model.weights, dump.weights, rtol=5e-6, atol=1e-12)


def test_synthetic_model_exact(tmp_path: Path) -> None:
    path = tmp_path / "m.save"
    path.write_bytes(legacy_bytes([0.5, -0.25, 3.0], 0.125, base_score=1.5))
    model = read_legacy_model(path)
    np.testing.assert_array_equal(model.weights, [0.5, -0.25, 3.0])
    assert model.bias == 0.125 and model.base_score == 1.5 and model.path == path


def test_trailing_attributes_allowed_only_when_flagged(tmp_path: Path) -> None:
    path = tmp_path / "m.save"
    path.write_bytes(legacy_bytes([1.0], 0.0, extra=1) + b"\x00" * 8)
    assert read_legacy_model(path).num_feature == 1
    path.write_bytes(legacy_bytes([1.0], 0.0) + b"\x00" * 8)
    with pytest.raises(InputError, match="8 unexpected trailing bytes"):
        read_legacy_model(path)


@pytest.mark.parametrize("cut", [2, 100, 150, 175, 300, 1000, 80441])
def test_truncated_real_model(lcl: Path, tmp_path: Path, cut: int) -> None:
    path = tmp_path / "cut.save"
    path.write_bytes(lcl.read_bytes()[:cut])
    with pytest.raises(InputError, match=r"cut\.save.*truncated: .* at byte offset \d+.*Fix: copy"):
        read_legacy_model(path)


def test_corrupted_magic(lcl: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.save"
    path.write_bytes(b"bonf" + lcl.read_bytes()[4:])
    with pytest.raises(InputError, match=r"bad\.save.*bad magic b'bonf' at byte offset 0"):
        read_legacy_model(path)
    path.write_bytes(b"bs64" + bytes(200))
    with pytest.raises(InputError, match="base64"):
        read_legacy_model(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"booster": "gbtree"}, "not a gblinear model: booster 'gbtree' at byte offset 158"),
        ({"objective": "binary:logistic"}, "objective 'binary:logistic'"),
        ({"count": 7}, "count mismatch: weight count 7 at byte offset 310, expected"),
        ({"n_group": 2}, "num_output_group=2"),
    ],
)
def test_bad_fields(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    path = tmp_path / "m.save"
    path.write_bytes(legacy_bytes([1.0, 2.0], 0.0, **kwargs))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        read_legacy_model(path)


def test_non_finite_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "m.save"
    path.write_bytes(legacy_bytes([1.0, float("nan")], 0.0))
    with pytest.raises(InputError, match="non-finite weight at index 1"):
        read_legacy_model(path)
    with pytest.raises(InputError, match="cannot read the model"):
        read_legacy_model(tmp_path / "absent.save")


def test_read_dump_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.dump"
    path.write_text("bias:\n0.5\nweight:\n1\n2e-3\n\n")
    dump = read_dump(path)
    np.testing.assert_array_equal(dump.weights, [1.0, 0.002])
    assert dump.bias == 0.5
    path.write_text("booster[0]:\nweight:\n1\n")
    with pytest.raises(InputError, match=r"line 2: expected 'bias:'"):
        read_dump(path)
    path.write_text("bias:\n0.5\nweight:\n1\nx\n")
    with pytest.raises(InputError, match=r"line 5: not a number: 'x'"):
        read_dump(path)
    path.write_text("bias:\n0.5\n1\n")
    with pytest.raises(InputError, match="expected 'weight:'"):
        read_dump(path)
