from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from exprflow.errors import InputError
from exprflow.promotion.policy import (
    DEFAULT_POLICY,
    Checks,
    MinTestSize,
    ModelPolicy,
    load_policy,
    project_root,
    resolve_policy_path,
)

SHIPPED = Path(__file__).resolve().parents[2] / "registry" / "policy.yaml"

GOOD = """
defaults:
  checks: {signature: true, input_example: true}
models:
  toy:
    metric: test_spearman
    direction: max
    min_improvement: 0.05
    checks:
      min_test_size: {key: n_test, min: 10}
  loss:
    metric: test_mse
    direction: min
    checks: {input_example: false}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_the_shipped_policy_is_valid() -> None:
    policy = load_policy(SHIPPED)
    assert policy.digest == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    assert policy.models["expecto"] == ModelPolicy(
        name="expecto",
        metric="test_spearman",
        direction="max",
        min_improvement=0.01,
        checks=Checks(signature=True, input_example=True, min_test_size=MinTestSize("n_test", 20)),
    )


def test_defaults_are_merged_under_each_model(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, GOOD))
    assert list(policy.models) == ["toy", "loss"]
    assert policy.models["toy"].checks == Checks(True, True, MinTestSize("n_test", 10))
    loss = policy.models["loss"]
    assert (loss.direction, loss.min_improvement) == ("min", 0.0)
    assert loss.checks == Checks(signature=True, input_example=False, min_test_size=None)


def test_the_default_path_resolves_from_anywhere(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_policy_path() == project_root() / DEFAULT_POLICY == SHIPPED
    # A policy of the same relative name in the working folder wins.
    (tmp_path / "registry").mkdir()
    local = _write(tmp_path / "registry", GOOD)
    assert resolve_policy_path(DEFAULT_POLICY) == local
    assert resolve_policy_path(str(SHIPPED)) == SHIPPED
    with pytest.raises(InputError, match=r"nope\.yaml: no policy file there \(looked at /"):
        resolve_policy_path("nope.yaml")
    with pytest.raises(InputError, match="no policy file there"):
        resolve_policy_path(tmp_path / "absent.yaml")


_BAD = [
    ("models: [", "is not valid YAML"),
    ("- toy", r"the file is \['toy'\], expected a mapping"),
    ("model: {}", "the file has unknown key.s. model. Fix: use only defaults, models"),
    ("models: {}", "key 'models': names no model"),
    ("models:\n  toy: 3", "model 'toy' is 3, expected a mapping"),
    ("models:\n  toy: {direction: max}", "model 'toy', key 'metric': metric is None"),
    ("models:\n  toy: {metric: a b, direction: max}", "model 'toy', key 'metric': metric is 'a b'"),
    (
        "models:\n  toy: {metric: m, direction: up}",
        "model 'toy', key 'direction': direction is 'up', expected 'max' or 'min'",
    ),
    ("models:\n  toy: {metric: m}", "model 'toy', key 'direction': direction is None"),
    (
        "models:\n  toy: {metric: m, direction: max, min_improvement: -0.1}",
        "model 'toy', key 'min_improvement': min_improvement is -0.1, expected a finite",
    ),
    (
        "models:\n  toy: {metric: m, direction: max, min_improvement: .nan}",
        "model 'toy', key 'min_improvement': min_improvement is nan",
    ),
    (
        "models:\n  toy: {metric: m, direction: max, min_improvement: true}",
        "key 'min_improvement': min_improvement is True",
    ),
    (
        "models:\n  toy: {metrc: m, direction: max}",
        "model 'toy' has unknown key.s. metrc. Fix: use only checks, direction",
    ),
    (
        "models:\n  toy: {metric: m, direction: max, checks: {signatur: true}}",
        "model 'toy', key 'checks' has unknown key.s. signatur",
    ),
    (
        "models:\n  toy: {metric: m, direction: max, checks: {signature: maybe}}",
        "model 'toy', key 'checks.signature': signature is 'maybe', expected true or false",
    ),
    (
        "models:\n  toy: {metric: m, direction: max, checks: {min_test_size: 20}}",
        "model 'toy', key 'checks.min_test_size' is 20, expected a mapping",
    ),
    (
        "models:\n  toy: {metric: m, direction: max, checks: {min_test_size: {key: n, min: 0}}}",
        "model 'toy', key 'checks.min_test_size': min is 0, expected an integer >= 1",
    ),
    (
        "models:\n  toy: {metric: m, direction: max, checks: {min_test_size: {min: 5}}}",
        "model 'toy', key 'checks.min_test_size': key is None",
    ),
    (
        "models:\n  toy: {metric: m, direction: max}\n  toy: {metric: n, direction: min}",
        "is not valid YAML: .*duplicate key 'toy'",
    ),
    ("defaults: {colour: red}\nmodels:\n  toy: {metric: m, direction: max}", "key 'defaults'"),
    ("models:\n  'a b': {metric: m, direction: max}", "model name 'a b' is not a plain name"),
]


@pytest.mark.parametrize(("text", "message"), _BAD)
def test_bad_policies_name_the_file_the_model_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert " Fix: " in str(caught.value)


def test_an_unreadable_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        load_policy(tmp_path)
