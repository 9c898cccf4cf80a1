"""Readers of ExPecto's released tissue models, without xgboost.

Formats
-------
``*.save`` — xgboost 0.7 binary, little-endian (xgboost ≥ 3.1 can no longer load it):

=========  =====================================================================
bytes      content
=========  =====================================================================
4          magic ``binf``
136        learner parameters: float32 ``base_score``, uint32 ``num_feature``,
           int32 ``num_class``, int32 ``contain_extra_attrs``, int32
           ``contain_eval_metrics``, 29 reserved int32
8 + n      objective name: uint64 length then ASCII (``reg:linear``)
8 + n      booster name: uint64 length then ASCII (``gblinear``)
136        gblinear parameters: uint32 ``num_feature``, int32 ``num_output_group``,
           32 reserved int32
8 + 4·k    uint64 ``k = (num_feature + 1)·num_output_group`` then k float32: the
           weights, feature-major, with the bias(es) **last**
=========  =====================================================================

``*.dump`` — the same model as text (``Booster.dump_model``): an optional ``booster[0]:``
line, ``bias:``, the bias, ``weight:``, then one weight per line, printed with 6
significant digits.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from exprflow.errors import InputError

__all__ = ["LEGACY_OBJECTIVES", "LegacyLinearModel", "LinearDump", "read_dump", "read_legacy_model"]

LEGACY_OBJECTIVES: Final = ("reg:linear", "reg:squarederror")
_MAGIC: Final = b"binf"
_PARAM_BYTES: Final = 136
_MAX_NAME: Final = 256
_REFETCH: Final = "copy the .save file again from the ExPecto release (resources/models)."
log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LegacyLinearModel:
    """A gblinear model read from an xgboost 0.7 ``.save`` file.

    Attributes
    ----------
    weights : numpy.ndarray
        float32, shape (num_feature,).
    bias : float
        The float32 bias (stored last in the file).
    base_score : float
        The learner's global offset (2.0 for ExPecto).
    objective : str
        Objective name, e.g. ``"reg:linear"``.
    path : Path
        The file read.
    """

    weights: NDArray[np.float32]
    bias: float
    base_score: float
    objective: str
    path: Path

    @property
    def num_feature(self) -> int:
        """Number of input features."""
        return int(self.weights.shape[0])


class LinearDump(NamedTuple):
    """Bias and weights of a gblinear text dump (values as printed, parsed to float64)."""

    weights: NDArray[np.float64]
    bias: float


class _Cursor:
    """Sequential reader over the file's bytes; every shortfall is a clear InputError."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.offset = path, data, 0

    def take(self, n: int, field: str) -> bytes:
        left = len(self.data) - self.offset
        if n > left:
            raise InputError(
                self.path,
                f"truncated: {field} needs {n} bytes at byte offset {self.offset}, "
                f"only {left} left (file is {len(self.data)} bytes).",
                record=field,
                fix=_REFETCH,
            )
        chunk = self.data[self.offset : self.offset + n]
        self.offset += n
        return chunk

    def uint64(self, field: str) -> int:
        return int(struct.unpack("<Q", self.take(8, field))[0])

    def string(self, field: str) -> str:
        at = self.offset
        length = self.uint64(f"{field} length")
        if length > _MAX_NAME:
            raise InputError(
                self.path,
                f"{field} length {length} at byte offset {at} is implausible (≤ {_MAX_NAME}).",
                record=field,
                fix="this is not an xgboost 0.7 binary model; " + _REFETCH,
            )
        raw = self.take(length, field)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as err:
            raise InputError(
                self.path, f"{field} at byte offset {at + 8} is not ASCII.", record=field
            ) from err


def _check_magic(path: Path, cursor: _Cursor) -> None:
    magic = cursor.take(4, "magic")
    if magic == _MAGIC:
        return
    hint = {
        b"bs64": "base64-encoded models are not supported; decode it to binary first.",
        b'{"le': "this is an xgboost JSON model; load it with xgboost.Booster.",
    }.get(magic, "give an xgboost 0.7 binary model (ExPecto's *.save files).")
    raise InputError(path, f"bad magic {magic!r} at byte offset 0, expected {_MAGIC!r}.", fix=hint)


def _learner_params(path: Path, cursor: _Cursor) -> tuple[float, int, int]:
    block = cursor.take(_PARAM_BYTES, "learner parameter block")
    base_score, num_feature, num_class, extra_attrs, eval_metrics = struct.unpack_from(
        "<fIiii", block
    )
    if num_class != 0:
        raise InputError(
            path,
            f"num_class = {num_class} at byte offset 12; ExPecto models are single-output.",
            record="learner parameters",
            fix="give a single-output gblinear regression model.",
        )
    return float(base_score), int(num_feature), int(extra_attrs or eval_metrics)


def _names(path: Path, cursor: _Cursor) -> str:
    at = cursor.offset
    objective = cursor.string("objective")
    if objective not in LEGACY_OBJECTIVES:
        raise InputError(
            path,
            f"objective {objective!r} (byte offset {at}) is not an identity-link regression; "
            f"expected one of {LEGACY_OBJECTIVES}.",
            record="objective",
            fix="give an ExPecto tissue model (objective reg:linear).",
        )
    at = cursor.offset
    booster = cursor.string("booster")
    if booster != "gblinear":
        raise InputError(
            path,
            f"not a gblinear model: booster {booster!r} at byte offset {at}.",
            record="booster",
            fix="give an ExPecto linear tissue model (booster gblinear).",
        )
    return objective


def _gblinear_weights(path: Path, cursor: _Cursor, num_feature: int) -> NDArray[np.float32]:
    at = cursor.offset
    block = cursor.take(_PARAM_BYTES, "gblinear parameter block")
    n_feat, n_group = struct.unpack_from("<Ii", block)
    if n_feat != num_feature or n_group != 1:
        raise InputError(
            path,
            f"gblinear parameters at byte offset {at} give num_feature={n_feat}, "
            f"num_output_group={n_group}; expected num_feature={num_feature} (learner) "
            "and 1 output group.",
            record="gblinear parameters",
            fix=_REFETCH,
        )
    at = cursor.offset
    count = cursor.uint64("weight count")
    if count != num_feature + 1:
        raise InputError(
            path,
            f"count mismatch: weight count {count} at byte offset {at}, expected "
            f"num_feature + 1 = {num_feature + 1}.",
            record="weight count",
            fix=_REFETCH,
        )
    raw = cursor.take(4 * count, "weights")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def read_legacy_model(path: str | Path) -> LegacyLinearModel:
    """Read an xgboost 0.7 binary gblinear model (ExPecto's ``*.save``).

    Parameters
    ----------
    path : str or Path
        The ``.save`` file.

    Returns
    -------
    LegacyLinearModel
        Weights (float32, shape (num_feature,)), bias, base_score and objective.

    Raises
    ------
    InputError
        Bad magic, truncation, a non-gblinear booster, count mismatches, trailing bytes
        or non-finite weights; the message names the byte offset and field.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot read the model: {err}.", fix=_REFETCH) from err
    cursor = _Cursor(path, data)
    _check_magic(path, cursor)
    base_score, num_feature, has_extras = _learner_params(path, cursor)
    objective = _names(path, cursor)
    values = _gblinear_weights(path, cursor, num_feature)
    left = len(data) - cursor.offset
    if left and not has_extras:
        raise InputError(
            path,
            f"{left} unexpected trailing bytes after the weights (byte offset {cursor.offset}).",
            fix=_REFETCH,
        )
    if left:
        log.debug("%s: ignoring %d bytes of attributes/metrics after the weights", path, left)
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(path, f"non-finite weight at index {bad}.", fix=_REFETCH)
    return LegacyLinearModel(
        weights=values[:-1].copy(),
        bias=float(values[-1]),
        base_score=base_score,
        objective=objective,
        path=path,
    )


def _dump_error(path: Path, line: int, problem: str) -> InputError:
    return InputError(
        path,
        problem,
        record=f"line {line}",
        fix="give the text dump of one gblinear model (bias:, value, weight:, values).",
    )


def read_dump(path: str | Path) -> LinearDump:
    """Read the text dump of a gblinear model (``booster[0]:``, ``bias:``, ``weight:``).

    Parameters
    ----------
    path : str or Path
        The ``.dump`` file.

    Returns
    -------
    LinearDump
        ``weights`` (float64, shape (num_feature,)) and ``bias``, exactly as printed.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read the dump as text: {err}.") from err
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    start = 1 if lines and lines[0].startswith("booster[") else 0
    if lines[start : start + 1] != ["bias:"]:
        raise _dump_error(path, start + 1, "expected 'bias:'.")
    if lines[start + 2 : start + 3] != ["weight:"]:
        raise _dump_error(path, start + 3, "expected 'weight:' (one bias, one output group).")
    body = lines[start + 3 :]
    for number, text in enumerate([lines[start + 1], *body]):
        try:
            float(text)
        except ValueError as err:
            line = start + 2 if number == 0 else start + 3 + number
            raise _dump_error(path, line, f"not a number: {text!r}.") from err
    if not body:
        raise _dump_error(path, start + 4, "no weights after 'weight:'.")
    return LinearDump(np.array(body, dtype=np.float64), float(lines[start + 1]))
