"""Project exception types whose messages name the file, the record and the fix."""

from __future__ import annotations

from os import PathLike

__all__ = ["ExprflowError", "InputError"]


class ExprflowError(Exception):
    """Base class of every error exprflow raises on purpose."""


class InputError(ExprflowError, ValueError):
    """Bad input: names the file, the offending record and how to fix it.

    Parameters
    ----------
    path : str or PathLike
        The file (or URI) that holds the bad input.
    problem : str
        What is wrong, with the actual and the expected value.
    record : str, optional
        The record, line or key at fault (e.g. ``"chr1:1234 rs42"``).
    fix : str, optional
        What the user should do about it.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        problem: str,
        *,
        record: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.record = record
        self.fix = fix
        where = f"{self.path}: {record}" if record else self.path
        message = f"{where}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)
