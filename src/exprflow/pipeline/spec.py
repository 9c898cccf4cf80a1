"""What a pipeline step is: its entry point, parameters, lineage tags and data flow."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["RUNTIMES", "Runtime", "StepSpec"]

#: The image stage a step's image is built on (``docker/Dockerfile``): ``python`` (the
#: scientific stack, no deep-learning framework), ``torch`` or ``tensorflow``.
Runtime = Literal["python", "torch", "tensorflow"]
RUNTIMES: tuple[Runtime, ...] = ("python", "torch", "tensorflow")


@dataclass(frozen=True)
class StepSpec:
    """A pipeline step.

    Attributes
    ----------
    name : str
        Entry point name; the module is ``exprflow.steps.<name>``.
    params : type
        The step's parameter dataclass: fields, types and defaults are the MLproject's.
    family, task : str
        Tags for comparing runs in the MLflow UI.
    outputs : tuple of str
        Names of the outputs the step records (``exprflow.output.<name>`` tags).
    upstream : dict
        Parameter name → ``(step, output)`` it is fed from when run by ``main``.
    from_main : tuple of str
        Parameters of ``main`` passed on to this step (same name on both sides).
    cacheable : bool
        Whether ``main`` may reuse an earlier run with the same parameters and inputs.
        False for steps that read the pipeline's own runs (``evaluate``, ``promote``):
        their result depends on more than their parameters. Default True.
    runtime : {"python", "torch", "tensorflow"}
        Image stage the step's image is built on (default ``"torch"``).
    merged_by : str
        For a step that runs as shards (``num_chunks`` / ``chunk_index``), the step that
        merges them (its Kubernetes merge Job); empty for an unsharded step.
    by_size : dict
        World size (``main``'s ``size``) → parameter overrides ``main`` passes for that
        size, e.g. a shorter training on the ``tiny`` world the tests run. Default none.
    """

    name: str
    params: type
    family: str
    task: str
    outputs: tuple[str, ...] = ()
    upstream: dict[str, tuple[str, str]] = field(default_factory=dict)
    from_main: tuple[str, ...] = ()
    cacheable: bool = True
    runtime: Runtime = "torch"
    merged_by: str = ""
    by_size: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """Python module run by the entry point."""
        return f"exprflow.steps.{self.name}"

    @property
    def image(self) -> str:
        """The step's container image: ``exprflow-<target>:latest``."""
        return f"exprflow-{self.target}:latest"

    @property
    def target(self) -> str:
        """The step's ``docker/Dockerfile`` target: its name with dashes."""
        return self.name.replace("_", "-")

    def defaults(self) -> dict[str, Any]:
        """Parameter name → default value."""
        return {f.name: f.default for f in dataclasses.fields(self.params)}
