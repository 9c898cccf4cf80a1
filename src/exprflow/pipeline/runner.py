"""Run the steps of the pipeline as nested MLflow runs, reusing what is unchanged.

For each step in order: apply the parent's parameters the step declares it takes
(``StepSpec.from_main``) and its overrides for the world size (``StepSpec.by_size``),
feed its upstream parameters from earlier steps' outputs; compute the cache key
(:mod:`exprflow.pipeline.cache`); reuse a finished run with that key (unless the step is
not ``cacheable``), else run the entry point through ``mlflow.projects.run`` under the
parent run: in the local environment, or in the step's own image
(:mod:`exprflow.pipeline.containers`). A failed step stops the pipeline with its error;
the next run of ``main`` reuses the steps that finished and resumes from the failed one.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import ExecutionException
from mlflow.tracking import MlflowClient

from exprflow.errors import ExprflowError
from exprflow.pipeline.cache import (
    CACHE_TAG,
    cache_key,
    find_cached_run,
    input_fingerprint,
    normalise,
    output_fingerprints,
    outputs,
)
from exprflow.pipeline.containers import Containers
from exprflow.pipeline.spec import StepSpec
from exprflow.tracking.fingerprint import code_version
from exprflow.tracking.step import STEP_RUN_TAG

__all__ = ["PipelineError", "StepResult", "run_steps"]

_log = logging.getLogger(__name__)


class PipelineError(ExprflowError):
    """A step of the pipeline failed; names the step, its run and its error."""


@dataclass(frozen=True)
class StepResult:
    """How one step went: its run, whether it was reused, its outputs."""

    step: str
    run_id: str
    reused: bool
    outputs: dict[str, str]
    seconds: float


def run_steps(
    steps: Sequence[StepSpec],
    shared: Mapping[str, Any],
    project_uri: str | Path,
    experiment_id: str,
    containers: Containers | None = None,
) -> list[StepResult]:
    """Run ``steps`` in order under the active MLflow run.

    Parameters
    ----------
    steps : sequence of StepSpec
        Steps in dependency order.
    shared : Mapping
        Parameters of ``main``; a step takes those it lists in ``StepSpec.from_main``.
    project_uri : str or Path
        The MLflow project holding the entry points.
    experiment_id : str
        Experiment in which step runs are created and looked up.
    containers : Containers, optional
        Run each step in its own image with these settings; default: the local environment.
    """
    _ensure_python_on_path()
    client = MlflowClient()
    if containers is not None:
        containers = containers.with_artifacts(client.get_experiment(experiment_id))
    done: dict[str, dict[str, str]] = {}
    results = []
    for index, spec in enumerate(steps, start=1):
        params = _step_params(spec, shared, done)
        inputs = {name: input_fingerprint(params[name]) for name in spec.upstream}
        key = cache_key(spec.name, params, inputs, code_version())
        label = f"[{index}/{len(steps)}] {spec.name}"
        started = time.monotonic()
        cached = find_cached_run(client, experiment_id, key) if spec.cacheable else None
        if cached is not None:
            _log.info("%s: reusing finished run %s", label, cached.info.run_id)
            run = cached
        else:
            _log.info("%s: running with %s", label, params)
            run = _execute(client, spec, params, project_uri, experiment_id, containers)
            for tag, value in {CACHE_TAG: key, **output_fingerprints(run)}.items():
                client.set_tag(run.info.run_id, tag, value)
        result = StepResult(
            spec.name, run.info.run_id, cached is not None, outputs(run), time.monotonic() - started
        )
        _log.info("%s: %s in %.1f s", label, "reused" if result.reused else "done", result.seconds)
        mlflow.set_tag(STEP_RUN_TAG + spec.name, run.info.run_id)
        done[spec.name] = result.outputs
        results.append(result)
    return results


def _step_params(
    spec: StepSpec, shared: Mapping[str, Any], done: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    params = spec.defaults()
    params.update({name: shared[name] for name in spec.from_main if name in shared})
    params.update(spec.by_size.get(str(shared.get("size", "")), {}))
    for name, (step, output) in spec.upstream.items():
        try:
            params[name] = done[step][output]
        except KeyError:
            raise PipelineError(
                f"step {spec.name!r} needs output {output!r} of step {step!r}, which did not "
                f"record it; outputs seen: {dict(done)}"
            ) from None
    return normalise(params)


def _execute(
    client: MlflowClient,
    spec: StepSpec,
    params: Mapping[str, str],
    project_uri: str | Path,
    experiment_id: str,
    containers: Containers | None,
) -> Any:
    where: dict[str, Any] = {"uri": str(project_uri), "env_manager": "local"}
    if containers is not None:
        where = {"uri": containers.project(project_uri, spec), "docker_args": containers.run_args()}
    try:
        submitted = mlflow.projects.run(
            entry_point=spec.name,
            parameters=dict(params),
            experiment_id=experiment_id,
            run_name=spec.name,
            synchronous=True,
            **where,
        )
    except ExecutionException as exc:
        failed = _latest_child(client, experiment_id, spec.name)
        error = failed.data.tags.get("exprflow.error", str(exc)) if failed else str(exc)
        run_id = failed.info.run_id if failed else "?"
        raise PipelineError(f"step {spec.name!r} failed (run {run_id}): {error}") from exc
    run = client.get_run(submitted.run_id)
    if error := run.data.tags.get("exprflow.error"):  # failed, though its process exited 0
        raise PipelineError(f"step {spec.name!r} failed (run {run.info.run_id}): {error}")
    return run


def _latest_child(client: MlflowClient, experiment_id: str, entry_point: str) -> Any:
    parent = mlflow.active_run()
    query = f"tags.`mlflow.project.entryPoint` = '{entry_point}'"
    if parent is not None:
        query += f" and tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    runs = client.search_runs(
        [experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0] if runs else None


def _ensure_python_on_path() -> None:
    """Make ``python`` in entry-point commands the interpreter running the pipeline."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, path])
