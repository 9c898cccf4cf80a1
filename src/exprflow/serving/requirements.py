"""Pinned pip requirements of a logged pyfunc model, read from the installed packages."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable

__all__ = ["pinned_requirements"]


def pinned_requirements(packages: Iterable[str]) -> list[str]:
    """``name==version`` of each installed package (local ``+…`` suffixes dropped).

    Parameters
    ----------
    packages : iterable of str
        Distribution names the model imports besides the installed exprflow.

    Returns
    -------
    list of str
    """
    return [f"{name}=={importlib.metadata.version(name).split('+')[0]}" for name in packages]
