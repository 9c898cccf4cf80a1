from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from exprflow.errors import InputError
from exprflow.steps._cli import field_types, parse_flag, parse_params


@dataclass(frozen=True)
class _Params:
    size: str = field(default="demo", metadata={"help": "world size"})
    seed: int = 0
    rate: float = 0.5


def test_defaults_and_types_come_from_the_dataclass() -> None:
    assert parse_params(_Params, []) == _Params()
    parsed = parse_params(_Params, ["--seed", "7", "--rate", "0.25", "--size", "tiny"])
    assert parsed == _Params(size="tiny", seed=7, rate=0.25)
    assert field_types(_Params) == {"size": str, "seed": int, "rate": float}


def test_bad_values_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_params(_Params, ["--seed", "seven"])
    assert "invalid int value: 'seven'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("YES", True), ("1", True), ("false", False), ("", False)]
)
def test_flags_read_true_and_false_words(text: str, value: bool) -> None:
    assert parse_flag("images", text) is value


def test_a_flag_that_is_neither_names_the_parameter() -> None:
    with pytest.raises(InputError, match="images='maybe'; expected 'true' or 'false'"):
        parse_flag("images", "maybe")


def test_check_choices_names_the_unknown_values_and_the_allowed_ones() -> None:
    from exprflow.errors import InputError
    from exprflow.steps._cli import check_choices

    check_choices("models", ["a", "c"], ("a", "b", "c"))
    with pytest.raises(InputError, match=r"argument models: 'a,z' names .*\['z'\].*subset of a, b"):
        check_choices("models", ["a", "z"], ("a", "b"))
    with pytest.raises(InputError, match="names none"):
        check_choices("models", [], ("a",))
