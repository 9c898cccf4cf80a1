"""Fill a step's empty input parameters from a synthetic world's manifest."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, replace
from typing import Any, TypeVar

from exprflow.errors import InputError
from exprflow.simulate.world import load_manifest
from exprflow.tracking.uris import local_path

__all__ = ["fill_from_world"]

P = TypeVar("P")


def fill_from_world(
    params: P, from_world: Mapping[str, str], step: str, optional: Collection[str] = ()
) -> P:
    """Return ``params`` with each empty input taken from ``params.world``'s manifest.

    Parameters
    ----------
    params : dataclass instance
        Step parameters with a ``world`` field and the fields named in ``from_world``.
    from_world : Mapping
        Parameter name → manifest key (e.g. ``{"fasta": "fasta", "genes": "gtf"}``).
    step : str
        Step name, for the error message.
    optional : Collection of str
        Inputs taken from the world when there is one, but not required. Default none.

    Raises
    ------
    InputError
        When an input is empty and there is no world to take it from.
    """
    values: dict[str, Any] = asdict(params)  # type: ignore[call-overload]
    if values["world"]:
        manifest = load_manifest(local_path(values["world"]))
        for name, key in from_world.items():
            values[name] = values[name] or str(manifest.path(key))
    absent = [name for name in from_world if not values[name] and name not in optional]
    if absent:
        raise InputError(
            f"{step} parameters",
            f"no {', '.join(absent)} given and no world to take them from.",
            fix="pass -P world=<folder> or each input explicitly.",
        )
    return replace(params, **values)  # type: ignore[type-var]
