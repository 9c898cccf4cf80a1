"""Parse a step's command line into its parameter dataclass (the one source of truth).

Each field's type and default define the command-line option and the MLproject
parameter; ``field(metadata={"help": ...})`` documents it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, TypeVar, get_type_hints

from exprflow.errors import InputError

__all__ = [
    "check_choices",
    "field_types",
    "parse_flag",
    "parse_params",
    "setup_logging",
    "split_list",
]

T = TypeVar("T")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def field_types(cls: type) -> dict[str, type]:
    """Map each field of the dataclass ``cls`` to its (resolved) Python type."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def parse_params(cls: type[T], argv: Sequence[str] | None = None, prog: str | None = None) -> T:
    """Build an argparse parser from the dataclass ``cls`` and parse ``argv`` into it."""
    parser = argparse.ArgumentParser(prog=prog, description=(cls.__doc__ or "").split("\n")[0])
    types = field_types(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        default: Any = f.default
        parser.add_argument(
            f"--{f.name}",
            type=types[f.name],
            default=default,
            help=f"{f.metadata.get('help', '')} (default: {default!r})",
        )
    return cls(**vars(parser.parse_args(argv)))


def setup_logging() -> None:
    """Log INFO lines with timestamps to stderr (what ``mlflow run`` shows)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def split_list(text: str) -> list[str]:
    """Split a comma-separated parameter into its non-empty, stripped items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def check_choices(name: str, values: Sequence[str], allowed: Sequence[str]) -> None:
    """Raise InputError unless ``values`` is a non-empty subset of ``allowed``.

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    values : sequence of str
        The values given (e.g. :func:`split_list` of the parameter).
    allowed : sequence of str
        The known values, listed in the fix.
    """
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise InputError(
            f"argument {name}",
            f"{','.join(values)!r} names none or unknown value(s) {unknown}.",
            fix=f"use a comma-separated subset of {', '.join(allowed)}.",
        )


def parse_flag(name: str, text: str) -> bool:
    """Read a true/false string parameter (MLproject parameters have no boolean type).

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    text : str
        ``true``/``1``/``yes`` or ``false``/``0``/``no``/empty (any case).

    Returns
    -------
    bool
    """
    value = str(text).strip().lower()
    if value not in _TRUE + _FALSE:
        raise InputError(f"argument {name}", f"{name}={text!r}; expected 'true' or 'false'.")
    return value in _TRUE
