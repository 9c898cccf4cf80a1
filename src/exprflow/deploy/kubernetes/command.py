"""A step's container command from its parameter dataclass: defaults, checked overrides.

The command is ``python -m exprflow.steps.<step> --<param>=<value> …`` with every
parameter of the step's dataclass (:class:`~exprflow.pipeline.spec.StepSpec.params`), in
field order: the defaults, replaced by the user's ``--set name=value`` overrides after
checking that the step has the parameter and that the value has its type. ``--name=value``
(one token) keeps empty and negative values intact without a shell (a Kubernetes command
is an argument vector).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from exprflow.errors import InputError
from exprflow.pipeline.registry import STEPS
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import field_types

__all__ = ["parse_sets", "resolve_params", "step_command", "step_spec"]


def step_spec(name: str) -> StepSpec:
    """Return the spec of step ``name`` from :data:`~exprflow.pipeline.registry.STEPS`.

    Parameters
    ----------
    name : str
        Entry point name, e.g. ``"expecto_personalized"``.

    Raises
    ------
    InputError
        No step of that name; the message lists the steps.
    """
    for spec in STEPS:
        if spec.name == name:
            return spec
    raise InputError(
        "argument --step",
        f"no step {name!r}; expected one of {', '.join(s.name for s in STEPS)}.",
    )


def parse_sets(items: Sequence[str], option: str = "--set") -> dict[str, str]:
    """Parse ``name=value`` items (``value`` may be empty or hold ``=``) into a dict.

    Parameters
    ----------
    items : sequence of str
        The ``--set`` arguments, in order (a later one wins).
    option : str, default "--set"
        The option's name, for error messages.

    Raises
    ------
    InputError
        An item without ``=`` or with an empty name.
    """
    parsed = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(
                f"argument {option}",
                f"{item!r} is not name=value.",
                fix=f"write {option} genes_per_batch=8 (one parameter per {option}).",
            )
        parsed[name.strip()] = value
    return parsed


def _typed(spec: StepSpec, name: str, text: str, kind: type, option: str) -> object:
    """Convert an override to the parameter's type."""
    if kind is str:
        return text
    try:
        return kind(text)
    except ValueError:
        raise InputError(
            f"argument {option}",
            f"{spec.name} parameter {name}={text!r} is not {kind.__name__!r}.",
            fix=f"give {name} a {kind.__name__} value.",
        ) from None


def resolve_params(
    spec: StepSpec,
    overrides: Mapping[str, str],
    *,
    fixed: Mapping[str, object] | None = None,
    option: str = "--set",
) -> dict[str, object]:
    """Return every parameter of ``spec``: defaults, then overrides, then ``fixed`` values.

    Parameters
    ----------
    spec : StepSpec
        The step.
    overrides : mapping of str to str
        User values by parameter name, converted to each parameter's type.
    fixed : mapping, optional
        Values the deployment sets itself (``num_chunks``, ``chunk_index``); an override
        of one of them is refused.
    option : str, default "--set"
        The option the overrides came from, for error messages.

    Returns
    -------
    dict
        Parameter name → value, in the dataclass's field order.

    Raises
    ------
    InputError
        An unknown parameter (the message lists the step's), a value of the wrong type,
        or an override of a fixed parameter.
    """
    fixed = dict(fixed or {})
    types = field_types(spec.params)
    for name in overrides:
        if name not in types:
            raise InputError(
                f"argument {option}",
                f"step {spec.name} has no parameter {name!r}; its parameters: {', '.join(types)}.",
            )
        if name in fixed:
            raise InputError(
                f"argument {option}",
                f"{spec.name} parameter {name} is set by the deployment ({fixed[name]!r}).",
                fix="leave it out (--num-chunks sets num_chunks; each shard's index is the "
                "Job's completion index).",
            )
    params: dict[str, object] = spec.defaults()
    for name, text in overrides.items():
        params[name] = _typed(spec, name, text, types[name], option)
    params.update(fixed)
    return params


def step_command(spec: StepSpec, params: Mapping[str, object]) -> list[str]:
    """Return ``python -m <module> --<param>=<value> …`` for every parameter of ``spec``.

    Parameters
    ----------
    spec : StepSpec
        The step.
    params : mapping
        A value for each of the step's parameters (:func:`resolve_params`).

    Raises
    ------
    InputError
        ``params`` misses a parameter of the step or has one it does not take.
    """
    names = [f.name for f in dataclasses.fields(spec.params)]
    if set(params) != set(names):
        raise InputError(
            f"parameters of {spec.name}",
            f"got {sorted(params)}; expected exactly {sorted(names)}.",
        )
    return ["python", "-m", spec.module, *(f"--{name}={params[name]}" for name in names)]
