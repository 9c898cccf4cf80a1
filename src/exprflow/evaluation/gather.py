"""Gather a pipeline's step runs and their registered model versions from MLflow.

Reads runs and registered model versions from the tracking store (MLflow search); writes
nothing. :mod:`exprflow.evaluation.compare` compares what is gathered here.

Which runs (:func:`resolve_scope`, :func:`gather_runs`):

- **parent** scope: the direct children of a parent run (tag ``mlflow.parentRunId``) and the
  step runs the parent names in its ``exprflow.step_run.<step>`` tags (``main`` records
  there the unchanged runs it reused from an earlier ``main``, which are not its children);
- **experiment** scope: every active run of an experiment.

Runs of family ``pipeline`` (``main``, ``evaluate``, ``promote``) and runs without an
``exprflow.step`` tag are left out; of several runs of one family × task × step, the
latest started is kept.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from exprflow.errors import InputError
from exprflow.evaluation.metric_names import TASK_METRICS, task_metrics
from exprflow.tracking.step import STEP_RUN_TAG

__all__ = [
    "ERROR_TAG",
    "FAMILY_TAG",
    "PARENT_TAG",
    "PIPELINE_FAMILY",
    "STEP_TAG",
    "TASK_TAG",
    "ModelRecord",
    "RunRecord",
    "Scope",
    "gather_runs",
    "model_versions",
    "resolve_scope",
    "run_order",
]

log = logging.getLogger(__name__)

FAMILY_TAG = "exprflow.family"
TASK_TAG = "exprflow.task"
STEP_TAG = "exprflow.step"
ERROR_TAG = "exprflow.error"
#: MLflow's tag naming the parent of a nested run.
PARENT_TAG = "mlflow.parentRunId"
#: Tag prefix ``main`` sets on itself for each step's run (reused ones included).
#: Family of the pipeline's own runs (``main``, ``evaluate``, ``promote``): never compared.
PIPELINE_FAMILY = "pipeline"
_PAGE = 1000


@dataclass(frozen=True)
class RunRecord:
    """What the comparison needs of one step run.

    Attributes
    ----------
    run_id, experiment_id : str
        MLflow ids.
    family, task, step : str
        The run's ``exprflow.family`` / ``exprflow.task`` / ``exprflow.step`` tags.
    status : str
        ``FINISHED``, ``FAILED``, ``RUNNING``, ``KILLED`` or ``SCHEDULED``.
    start_time : int
        Start, ms since the epoch.
    metrics : dict of str to float
        Latest value of each metric.
    error : str, default ""
        The ``exprflow.error`` tag of a failed run.
    """

    run_id: str
    experiment_id: str
    family: str
    task: str
    step: str
    status: str
    start_time: int
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @classmethod
    def from_run(cls, run: Run) -> RunRecord:
        """The record of an MLflow run."""
        tags = run.data.tags
        return cls(
            run.info.run_id,
            run.info.experiment_id,
            tags.get(FAMILY_TAG, ""),
            tags.get(TASK_TAG, ""),
            tags.get(STEP_TAG, ""),
            run.info.status,
            int(run.info.start_time or 0),
            dict(run.data.metrics),
            tags.get(ERROR_TAG, ""),
        )

    @property
    def finished(self) -> bool:
        """Whether the run ended successfully."""
        return self.status == "FINISHED"

    def headline(self) -> dict[str, float]:
        """The run's finite headline metrics, in the scheme's order (empty for other tasks)."""
        scheme = task_metrics(self.task)
        names = scheme.names if scheme else ()
        return {n: self.metrics[n] for n in names if math.isfinite(self.metrics.get(n, math.nan))}


@dataclass(frozen=True)
class ModelRecord:
    """A registered model version created by a compared run.

    Attributes
    ----------
    name, version : str
        Registered model name and version.
    run_id : str
        The run that created it.
    status : str
        Version status (``READY`` …).
    aliases : tuple of str
        Its aliases (``champion`` …), without ``@``.
    metrics : dict of str to float
        Version tags whose value is a number (the registering step tags its metrics).
    """

    name: str
    version: str
    run_id: str
    status: str
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """Which runs are compared.

    Attributes
    ----------
    kind : {"parent", "experiment"}
        Children of a parent run, or a whole experiment.
    id : str
        The parent run id, or the experiment id.
    experiment_id : str
        Experiment searched.
    how : str
        How the scope was chosen, for the report.
    """

    kind: Literal["parent", "experiment"]
    id: str
    experiment_id: str
    how: str

    def describe(self) -> str:
        """One line naming the scope."""
        what = "runs under parent run" if self.kind == "parent" else "runs of experiment"
        return f"{what} `{self.id}` ({self.how})"


def _get_run(client: MlflowClient, run_id: str, what: str) -> Run:
    try:
        return client.get_run(run_id)
    except MlflowException as err:
        raise InputError(
            f"{what} {run_id!r}",
            f"no such run in the tracking store ({err.error_code}).",
            fix="give the id of a run in this tracking store (MLflow UI, run overview).",
        ) from None


def _experiment_id(client: MlflowClient, experiment: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is None and experiment.isdigit():
        try:
            found = client.get_experiment(experiment)
        except MlflowException:
            found = None
    if found is None:
        raise InputError(
            f"experiment {experiment!r}",
            "no experiment with this name or id in the tracking store.",
            fix="give an existing experiment's name or id, or leave it empty.",
        )
    return str(found.experiment_id)


def _latest_main(client: MlflowClient, experiment_id: str, exclude: str) -> Run:
    found = client.search_runs(
        [experiment_id],
        f"tags.`{STEP_TAG}` = 'main'",
        order_by=["attributes.start_time DESC"],
        max_results=2,
    )
    runs = [r for r in found if r.info.run_id != exclude]
    if not runs:
        raise InputError(
            f"experiment {experiment_id}",
            "has no main run to compare the runs of, and no parent_run or experiment given.",
            fix="run main first, or pass -P parent_run=<run id> or -P experiment=<name>.",
        )
    return runs[0]


def resolve_scope(
    client: MlflowClient, *, current_run_id: str, parent_run: str = "", experiment: str = ""
) -> Scope:
    """Decide which runs to compare.

    In order: ``parent_run`` if given; else ``experiment`` if given; else the parent of
    ``current_run_id`` when it is nested (``mlflow.parentRunId``); else the latest ``main``
    run of ``current_run_id``'s experiment.

    Parameters
    ----------
    client : MlflowClient
        Client of the tracking store.
    current_run_id : str
        The run doing the comparison (``evaluate``'s own run).
    parent_run : str, default ""
        Explicit parent run id.
    experiment : str, default ""
        Explicit experiment name or id (all its runs are compared).

    Returns
    -------
    Scope

    Raises
    ------
    InputError
        Both ``parent_run`` and ``experiment`` given, an unknown run or experiment, or no
        ``main`` run to fall back on.
    """
    if parent_run and experiment:
        raise InputError(
            "evaluate parameters",
            f"both parent_run={parent_run!r} and experiment={experiment!r} given.",
            fix="give one of them: a parent run's children, or a whole experiment.",
        )
    if parent_run:
        run = _get_run(client, parent_run, "parent_run")
        return Scope("parent", parent_run, run.info.experiment_id, "given as parent_run")
    if experiment:
        found = _experiment_id(client, experiment)
        return Scope("experiment", found, found, f"given as experiment {experiment!r}")
    current = _get_run(client, current_run_id, "current run")
    if parent := current.data.tags.get(PARENT_TAG):
        run = _get_run(client, parent, "parent of this run")
        return Scope("parent", parent, run.info.experiment_id, "the parent of this run")
    main = _latest_main(client, current.info.experiment_id, current_run_id)
    return Scope("parent", main.info.run_id, main.info.experiment_id, "the latest main run")


def _search(client: MlflowClient, experiment_id: str, query: str) -> list[Run]:
    """Every active run of the experiment matching ``query``, page by page."""
    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], query, max_results=_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _reused_runs(client: MlflowClient, parent: Run, known: set[str]) -> list[Run]:
    """Step runs the parent names in its ``exprflow.step_run.*`` tags that are not children."""
    runs = []
    for tag, run_id in sorted(parent.data.tags.items()):
        if tag.startswith(STEP_RUN_TAG) and run_id not in known:
            try:
                runs.append(client.get_run(run_id))
            except MlflowException:
                log.warning("parent tag %s names run %s, which is not in the store", tag, run_id)
    return runs


def gather_runs(client: MlflowClient, scope: Scope) -> list[RunRecord]:
    """The step runs in ``scope``, the latest per family × task × step.

    Parameters
    ----------
    client : MlflowClient
        Client of the tracking store.
    scope : Scope
        From :func:`resolve_scope`.

    Returns
    -------
    list of RunRecord
        Sorted by task (scheme order, unknown tasks after), family and start time.
    """
    if scope.kind == "parent":
        runs = _search(client, scope.experiment_id, f"tags.`{PARENT_TAG}` = '{scope.id}'")
        parent = client.get_run(scope.id)
        runs += _reused_runs(client, parent, {r.info.run_id for r in runs})
    else:
        runs = _search(client, scope.id, "")
    latest: dict[tuple[str, str, str], RunRecord] = {}
    for record in map(RunRecord.from_run, runs):
        if not record.step or record.family == PIPELINE_FAMILY:
            continue
        key = (record.family, record.task, record.step)
        if key not in latest or record.start_time > latest[key].start_time:
            latest[key] = record
    return sorted(latest.values(), key=run_order)


def run_order(run: RunRecord) -> tuple[int, str, str, int]:
    """Sort key of runs: task in scheme order (unknown tasks after), family, start time."""
    tasks = list(TASK_METRICS)
    rank = tasks.index(run.task) if run.task in tasks else len(tasks)
    return rank, run.task, run.family, run.start_time


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def model_versions(client: MlflowClient, runs: Iterable[RunRecord]) -> list[ModelRecord]:
    """The registered model versions created by ``runs``, with their aliases.

    Parameters
    ----------
    client : MlflowClient
        Client of the tracking store (with a model registry).
    runs : Iterable of RunRecord
        Runs whose versions are listed.

    Returns
    -------
    list of ModelRecord
        In the order of ``runs``, then by name and version.
    """
    found = []
    for run in runs:
        versions = client.search_model_versions(f"run_id = '{run.run_id}'")
        for v in sorted(versions, key=lambda v: (v.name, int(v.version))):
            full = client.get_model_version(v.name, str(v.version))
            values = {k: _number(t) for k, t in (full.tags or {}).items()}
            found.append(
                ModelRecord(
                    full.name,
                    str(full.version),
                    run.run_id,
                    str(full.status),
                    tuple(sorted(full.aliases or ())),
                    {k: x for k, x in values.items() if x is not None and math.isfinite(x)},
                )
            )
    return found
