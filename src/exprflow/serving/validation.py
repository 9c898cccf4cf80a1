"""Request checks shared by exprflow's pyfunc models, answered by the scoring server as 400s.

``mlflow models serve`` answers an :class:`~mlflow.exceptions.MlflowException` raised by a
model's ``predict`` with the exception's message and the HTTP status of its error code;
any other exception becomes a 400 that says only "Encountered an unexpected error while
evaluating the model". So a pyfunc model reports bad input with :class:`RequestError`: an
:class:`~exprflow.errors.InputError` (what in-process callers catch) that is also an
``MlflowException`` with error code ``INVALID_PARAMETER_VALUE`` (HTTP 400), whose message
names the input, the row and the fix.

Every model caps the rows of one request (``max_rows``): the body of a request is read
whole and parsed before the model sees it, so the cap bounds a request's memory and time.
The cap is logged as the model configuration key :data:`MAX_ROWS_KEY` and can be changed
when loading (``mlflow.pyfunc.load_model(uri, model_config={"max_rows": n})``) or serving
(``MLFLOW_PYFUNC_INFERENCE_CONFIG='{"max_rows": n}'``).

Reads and writes no files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModelContext

from exprflow.errors import InputError

__all__ = [
    "MAX_ROWS_KEY",
    "RequestError",
    "check_frame",
    "configured_max_rows",
    "sequence_problem",
]

#: Model configuration key of the row cap (an int >= 1, or None for no cap).
MAX_ROWS_KEY: Final = "max_rows"


class RequestError(InputError, MlflowException):
    """Bad input to a model: an :class:`InputError` the scoring server answers with HTTP 400.

    Parameters
    ----------
    path : str or PathLike
        What holds the bad input (e.g. ``"ExPecto model input"``).
    problem : str
        What is wrong, with the actual and the expected value.
    record : str, optional
        The row or field at fault (e.g. ``"row 3 (index 'G7')"``).
    fix : str, optional
        What the caller should do about it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        problem: str,
        *,
        record: str | None = None,
        fix: str | None = None,
    ) -> None:
        InputError.__init__(self, path, problem, record=record, fix=fix)
        MlflowException.__init__(self, self.args[0], error_code=INVALID_PARAMETER_VALUE)


def check_frame(
    model_input: object,
    columns: Sequence[str],
    *,
    source: str,
    max_rows: int | None,
) -> pd.DataFrame:
    """Check that a model input is a DataFrame with ``columns`` and at most ``max_rows`` rows.

    Parameters
    ----------
    model_input : object
        What ``predict`` received.
    columns : sequence of str
        Columns the model needs (others are allowed and ignored).
    source : str
        Names the input in errors (e.g. ``"ExPecto model input"``).
    max_rows : int or None
        Most rows accepted; None: no cap.

    Returns
    -------
    pandas.DataFrame
        ``model_input``, unchanged.

    Raises
    ------
    RequestError
        When ``model_input`` is not a DataFrame, lacks a column or has too many rows.
    """
    fix = f"pass a DataFrame with columns {list(columns)}."
    if not isinstance(model_input, pd.DataFrame):
        raise RequestError(
            source, f"is a {type(model_input).__name__}, expected a pandas DataFrame.", fix=fix
        )
    missing = [c for c in columns if c not in model_input.columns]
    if missing:
        found = list(map(str, model_input.columns))
        raise RequestError(source, f"lacks column(s) {missing} (has {found}).", fix=fix)
    if max_rows is not None and len(model_input) > max_rows:
        raise RequestError(
            source,
            f"has {len(model_input)} rows, more than the limit of {max_rows} rows per request.",
            fix=f"send at most {max_rows} rows per request, or raise the model configuration's "
            f"{MAX_ROWS_KEY!r} (MLFLOW_PYFUNC_INFERENCE_CONFIG when serving).",
        )
    return model_input


def sequence_problem(
    value: object, *, length: int, alphabet: str = "ACGTN", length_note: str = ""
) -> str | None:
    """What is wrong with one DNA sequence (type, length, letters in either case), or None.

    Parameters
    ----------
    value : object
        The sequence as received.
    length : int
        Required number of bases.
    alphabet : str, default "ACGTN"
        Allowed upper-case letters; lower case is accepted too.
    length_note : str, default ""
        Appended to a wrong-length message, e.g. how the bases are laid out.

    Returns
    -------
    str or None
        A sentence naming the actual and the expected value, or None when ``value`` is fine.
    """
    if not isinstance(value, str):
        return f"sequence is {type(value).__name__} {value!r:.80}, expected a string."
    if len(value) != length:
        note = f" {length_note}" if length_note else ""
        return f"sequence has {len(value)} bases, expected {length}{note}."
    upper = value.upper()
    odd = set(upper) - set(alphabet)
    if odd:
        first = min(upper.index(c) for c in odd)
        return (
            f"sequence has {value[first]!r} at index {first}, "
            f"expected only {', '.join(alphabet)} (either case)."
        )
    return None


def configured_max_rows(context: PythonModelContext | None, default: int | None) -> int | None:
    """The row cap from the model configuration's :data:`MAX_ROWS_KEY`, else ``default``.

    Parameters
    ----------
    context : mlflow.pyfunc.PythonModelContext or None
        What ``load_context`` received; its ``model_config`` may hold the key.
    default : int or None
        Cap used when the configuration does not set one; None: no cap.

    Returns
    -------
    int or None
        The cap (>= 1), or None for no cap.

    Raises
    ------
    InputError
        When the configured value is not a positive integer or null.
    """
    config = (context.model_config if context is not None else None) or {}
    value = config.get(MAX_ROWS_KEY, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise InputError(
        "model configuration",
        f"{MAX_ROWS_KEY} is {value!r}, expected a positive integer or null (no limit).",
        fix=f'set e.g. {{"{MAX_ROWS_KEY}": 256}}.',
    )
