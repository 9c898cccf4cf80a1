"""Shared request checks: the errors they raise and how MLflow's scoring server answers them."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel
from mlflow.pyfunc.scoring_server import invocations

from exprflow.errors import InputError
from exprflow.serving.validation import (
    RequestError,
    check_frame,
    configured_max_rows,
    sequence_problem,
)


def test_request_error_is_an_input_error_answered_with_400() -> None:
    err = RequestError("X input", "is bad.", record="row 2 (index 'g')", fix="do better.")
    assert isinstance(err, InputError) and isinstance(err, MlflowException)
    assert str(err) == err.message == "X input: row 2 (index 'g'): is bad. Fix: do better."
    assert (err.path, err.problem, err.record, err.fix) == (
        "X input", "is bad.", "row 2 (index 'g')", "do better.",
    )  # fmt: skip
    assert err.get_http_status_code() == 400
    assert json.loads(err.serialize_as_json())["error_code"] == "INVALID_PARAMETER_VALUE"


def test_check_frame_names_what_is_wrong() -> None:
    frame = pd.DataFrame({"a": ["x", "y", "z"], "b": [1, 2, 3]})
    assert check_frame(frame, ["a"], source="S", max_rows=3) is frame
    assert check_frame(frame, ["a", "b"], source="S", max_rows=None) is frame
    with pytest.raises(RequestError, match=r"^S: is a list, expected a pandas DataFrame"):
        check_frame([1], ["a"], source="S", max_rows=3)
    with pytest.raises(RequestError, match=r"lacks column\(s\) \['c'\] \(has \['a', 'b'\]\)"):
        check_frame(frame, ["a", "c"], source="S", max_rows=3)
    with pytest.raises(
        RequestError, match=r"has 3 rows, more than the limit of 2 rows per request.*'max_rows'"
    ):
        check_frame(frame, ["a"], source="S", max_rows=2)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ACGTN", None),
        ("acgtn", None),
        (None, "sequence is NoneType None, expected a string."),
        (7, "sequence is int 7, expected a string."),
        ("ACG", "sequence has 3 bases, expected 5 (two left)."),
        ("ACGTX", "sequence has 'X' at index 4, expected only A, C, G, T, N (either case)."),
        ("acuxN", "sequence has 'u' at index 2, expected only A, C, G, T, N (either case)."),
    ],
)
def test_sequence_problem(value: object, problem: str | None) -> None:
    assert sequence_problem(value, length=5, length_note="(two left)") == problem


def test_sequence_problem_alphabet_is_explicit() -> None:
    assert sequence_problem("ACGTN", length=5, alphabet="ACGT") == (
        "sequence has 'N' at index 4, expected only A, C, G, T (either case)."
    )


def test_configured_max_rows() -> None:
    assert configured_max_rows(None, 8) == 8
    assert configured_max_rows(SimpleNamespace(model_config=None), 8) == 8
    assert configured_max_rows(SimpleNamespace(model_config={"max_rows": 3}), 8) == 3
    assert configured_max_rows(SimpleNamespace(model_config={"max_rows": None}), 8) is None
    for bad in (0, -1, True, "5", 2.5):
        with pytest.raises(InputError, match=rf"max_rows is {bad!r}, expected a positive"):
            configured_max_rows(SimpleNamespace(model_config={"max_rows": bad}), 8)


class _Echo(PythonModel):
    """Returns column ``a``; raises RequestError for ``a == 'bad'``, ValueError for 'odd'."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.Series:
        frame = check_frame(model_input, ["a"], source="Echo input", max_rows=2)
        if (frame["a"] == "bad").any():
            raise RequestError("Echo input", "a is 'bad'.", record="row 0")
        if (frame["a"] == "odd").any():
            raise ValueError("a is 'odd'")
        return frame["a"]


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> mlflow.pyfunc.PyFuncModel:
    path = tmp_path_factory.mktemp("echo") / "model"
    example = pd.DataFrame({"a": ["x"]})
    signature = infer_signature(example, example["a"])
    mlflow.pyfunc.save_model(
        path, python_model=_Echo(), signature=signature, input_example=example, pip_requirements=[]
    )
    return mlflow.pyfunc.load_model(str(path))


def _answer(model: mlflow.pyfunc.PyFuncModel, rows: list[str]) -> tuple[int, str]:
    """What the scoring server's /invocations answers: status and message (or body)."""
    body = json.dumps({"dataframe_split": {"columns": ["a"], "data": [[r] for r in rows]}})
    try:
        done = invocations(body, "application/json", model, model.metadata.get_input_schema())
    except MlflowException as err:
        return err.get_http_status_code(), err.message
    return done.status, done.response


def test_scoring_server_answers_request_errors_with_their_message(echo) -> None:
    assert _answer(echo, ["x", "y"]) == (200, '{"predictions": [{"a": "x"}, {"a": "y"}]}')
    status, message = _answer(echo, ["bad"])
    assert status == 400 and message.endswith("Error: Echo input: row 0: a is 'bad'.")
    status, message = _answer(echo, ["x", "y", "z"])
    assert status == 400 and "has 3 rows, more than the limit of 2" in message
    # Any other exception: a 400 that does not say what is wrong (why RequestError exists).
    status, message = _answer(echo, ["odd"])
    assert status == 400 and "odd" not in message and "unexpected error" in message
