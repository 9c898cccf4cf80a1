"""The promotion policy: which metric decides, in which direction, by how much, after which checks.

Reads ``registry/policy.yaml`` (YAML, a mapping; see ``registry/README.md``)::

    defaults:                  # optional, merged under every model (checks key by key)
      checks: {signature: true, input_example: true}
    models:
      expecto:                 # registered model name, without an environment prefix
        metric: test_spearman  # the version's metric (run metric or version tag)
        direction: max         # max: higher is better; min: lower is better
        min_improvement: 0.01  # absolute, in the metric's units; default 0
        checks:
          signature: true      # the model has an input and an output signature
          input_example: true  # its stored serving example passes validate_serving_input
          min_test_size: {key: n_test, min: 20}   # metric or tag ``key`` >= min

Unknown keys, duplicate keys, wrong types and out-of-range values are refused with an
:class:`~exprflow.errors.InputError` naming the file, the model and the key. The policy's
SHA-256 digest (of the file's bytes) is kept so that every decision can name the exact
policy it was made under.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from exprflow.errors import InputError

__all__ = [
    "DEFAULT_POLICY",
    "DIRECTIONS",
    "Checks",
    "MinTestSize",
    "ModelPolicy",
    "Policy",
    "load_policy",
    "project_root",
    "resolve_policy_path",
]

#: The policy file, relative to the project root (or the working folder).
DEFAULT_POLICY: Final = "registry/policy.yaml"
#: ``max``: a higher value is better; ``min``: a lower value is better.
DIRECTIONS: Final = ("max", "min")
_TOP_KEYS: Final = frozenset({"defaults", "models"})
_MODEL_KEYS: Final = frozenset({"metric", "direction", "min_improvement", "checks"})
_CHECK_KEYS: Final = frozenset({"signature", "input_example", "min_test_size"})
_SIZE_KEYS: Final = frozenset({"key", "min"})
#: Model and metric names: what MLflow accepts in a metric name (``<model>.candidate``).
_NAME: Final = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class MinTestSize:
    """The ``min_test_size`` check: the version's metric or tag ``key`` must be ≥ ``minimum``.

    Attributes
    ----------
    key : str
        Metric or version tag holding the test-set size, e.g. ``"n_test"``.
    minimum : int
        Smallest accepted size (≥ 1).
    """

    key: str
    minimum: int


@dataclass(frozen=True)
class Checks:
    """The checks a candidate version must pass before it can become champion.

    Attributes
    ----------
    signature : bool, default False
        The version's model has an input and an output signature.
    input_example : bool, default False
        Its stored serving input example passes ``mlflow.models.validate_serving_input``.
    min_test_size : MinTestSize or None, default None
        A minimum test-set size; None: not checked.
    """

    signature: bool = False
    input_example: bool = False
    min_test_size: MinTestSize | None = None


@dataclass(frozen=True)
class ModelPolicy:
    """How one registered model is promoted.

    Attributes
    ----------
    name : str
        Registered model name without an environment prefix (``expecto``).
    metric : str
        The deciding metric (a run metric of the version's run, or a version tag).
    direction : str
        ``"max"`` (higher is better) or ``"min"`` (lower is better).
    min_improvement : float
        Smallest improvement over the champion, absolute, in the metric's units (≥ 0).
    checks : Checks
        Checks the candidate must pass.
    """

    name: str
    metric: str
    direction: str
    min_improvement: float
    checks: Checks


@dataclass(frozen=True)
class Policy:
    """A loaded policy file.

    Attributes
    ----------
    path : pathlib.Path
        The file it was read from.
    digest : str
        Hex SHA-256 of the file's bytes.
    models : Mapping[str, ModelPolicy]
        Model name → its policy, in file order.
    """

    path: Path
    digest: str
    models: Mapping[str, ModelPolicy]


def project_root() -> Path:
    """The folder holding ``src/exprflow`` (the project root of an editable install)."""
    return Path(__file__).resolve().parents[3]


def resolve_policy_path(policy: str | os.PathLike[str] = DEFAULT_POLICY) -> Path:
    """Find the policy file: absolute, else under the working folder, else the project root.

    Parameters
    ----------
    policy : str or PathLike, default ``"registry/policy.yaml"``
        The policy file as given.

    Returns
    -------
    pathlib.Path
        An existing file.

    Raises
    ------
    InputError
        If no such file exists where it was looked for.
    """
    given = Path(policy).expanduser()
    places = [given] if given.is_absolute() else [Path.cwd() / given, project_root() / given]
    for place in places:
        if place.is_file():
            return place
    raise InputError(
        str(policy),
        f"no policy file there (looked at {', '.join(str(p) for p in places)}).",
        fix=f"pass -P policy=<path to a policy YAML>, e.g. the project's {DEFAULT_POLICY}.",
    )


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file.

    Parameters
    ----------
    path : str or PathLike
        The policy YAML.

    Returns
    -------
    Policy
        Every model's policy, the file's path and digest.

    Raises
    ------
    InputError
        If the file cannot be read or parsed, or a value is missing, unknown or invalid;
        the message names the file, the model and the key.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            path, f"cannot be read ({exc}).", fix="give a readable policy file."
        ) from exc
    try:
        document = yaml.load(raw, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise InputError(path, f"is not valid YAML: {exc}", fix="fix the YAML syntax.") from None
    top = _mapping(path, document, "the file", fix="write a mapping with a 'models' key.")
    _known_keys(path, top, _TOP_KEYS, "the file")
    defaults = _mapping(path, top.get("defaults"), "key 'defaults'", fix="make it a mapping.")
    _known_keys(path, defaults, _MODEL_KEYS, "key 'defaults'")
    models = _mapping(path, top.get("models"), "key 'models'", fix=_MODELS_FIX)
    if not models:
        raise InputError(path, "names no model.", record="key 'models'", fix=_MODELS_FIX)
    parsed = {str(name): _model(path, str(name), entry, defaults) for name, entry in models.items()}
    return Policy(path=path, digest=hashlib.sha256(raw).hexdigest(), models=parsed)


_MODELS_FIX = "list each registered model under 'models', e.g. 'expecto: {metric: ..., ...}'."


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising on a duplicate key."""
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return dict(super().construct_mapping(node, deep=deep))


def _record(model: str, key: str) -> str:
    return f"model {model!r}, key {key!r}"


def _mapping(path: Path, value: object, where: str, *, fix: str) -> dict[str, Any]:
    """``value`` as a mapping (None: empty), refusing anything else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(path, f"{where} is {value!r}, expected a mapping.", fix=fix)
    return value


def _known_keys(path: Path, mapping: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in mapping if k not in known)
    if unknown:
        raise InputError(
            path,
            f"{where} has unknown key(s) {', '.join(unknown)}.",
            fix=f"use only {', '.join(sorted(known))}.",
        )


def _model(path: Path, name: str, entry: object, defaults: Mapping[str, Any]) -> ModelPolicy:
    """One model's policy: its entry merged over the defaults (checks key by key)."""
    if not _NAME.match(name):
        raise InputError(
            path,
            f"model name {name!r} is not a plain name.",
            record=f"model {name!r}",
            fix="use letters, digits, '_', '-' and '.' only.",
        )
    where = f"model {name!r}"
    own = _mapping(path, entry, where, fix="give the model a mapping with metric and direction.")
    _known_keys(path, own, _MODEL_KEYS, where)
    checks = {
        **_mapping(path, defaults.get("checks"), "key 'defaults.checks'", fix="a mapping."),
        **_mapping(path, own.get("checks"), f"{where}, key 'checks'", fix="a mapping."),
    }
    merged = {**defaults, **own}
    return ModelPolicy(
        name=name,
        metric=_metric(path, name, merged.get("metric")),
        direction=_direction(path, name, merged.get("direction")),
        min_improvement=_min_improvement(path, name, merged.get("min_improvement", 0.0)),
        checks=_checks(path, name, checks),
    )


def _metric(path: Path, model: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InputError(
            path,
            f"metric is {value!r}, expected a metric name.",
            record=_record(model, "metric"),
            fix="name the deciding metric, e.g. 'metric: test_spearman'.",
        )
    return value


def _direction(path: Path, model: str, value: object) -> str:
    if value not in DIRECTIONS:
        raise InputError(
            path,
            f"direction is {value!r}, expected 'max' or 'min'.",
            record=_record(model, "direction"),
            fix="'max' when a higher value is better, 'min' when lower is better.",
        )
    return str(value)


def _min_improvement(path: Path, model: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value >= 0)
    ):
        raise InputError(
            path,
            f"min_improvement is {value!r}, expected a finite number >= 0.",
            record=_record(model, "min_improvement"),
            fix="give the smallest improvement, in the metric's units, e.g. 0.01.",
        )
    return float(value)


def _checks(path: Path, model: str, checks: Mapping[str, Any]) -> Checks:
    _known_keys(path, checks, _CHECK_KEYS, f"model {model!r}, key 'checks'")
    flags = {}
    for key in ("signature", "input_example"):
        value = checks.get(key, False)
        if not isinstance(value, bool):
            raise InputError(
                path,
                f"{key} is {value!r}, expected true or false.",
                record=_record(model, f"checks.{key}"),
                fix=f"write '{key}: true' or 'false'.",
            )
        flags[key] = value
    size = checks.get("min_test_size")
    return Checks(
        signature=flags["signature"],
        input_example=flags["input_example"],
        min_test_size=None if size is None else _test_size(path, model, size),
    )


def _test_size(path: Path, model: str, value: object) -> MinTestSize:
    record = _record(model, "checks.min_test_size")
    fix = "write e.g. 'min_test_size: {key: n_test, min: 20}'."
    where = f"model {model!r}, key 'checks.min_test_size'"
    size = _mapping(path, value, where, fix=fix)
    _known_keys(path, size, _SIZE_KEYS, where)
    key, minimum = size.get("key"), size.get("min")
    if not isinstance(key, str) or not _NAME.match(key):
        raise InputError(
            path, f"key is {key!r}, expected a metric or tag name.", record=record, fix=fix
        )
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
        raise InputError(
            path, f"min is {minimum!r}, expected an integer >= 1.", record=record, fix=fix
        )
    return MinTestSize(key=key, minimum=minimum)
