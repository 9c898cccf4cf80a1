"""Parent runs of sharded steps: one run per submission, the shards and the merge nested under it.

Sharded steps on a cluster (:mod:`exprflow.deploy.kubernetes`) nest their runs under one
parent run per step: :func:`create_parent_run` makes it (tags ``exprflow.step`` /
``family`` / ``task``, ``exprflow.shards`` = K, the parameters), and a step run started with
``EXPRFLOW_PARENT_RUN_ID`` set (and no ``MLFLOW_RUN_ID``) becomes its child (tag
``mlflow.parentRunId``; :func:`parent_run` checks it): each shard (tag ``exprflow.chunk`` =
``<i>/<K>``, named ``<step>-shard-<i>``) and the merging step. The merging step finds the
shards' runs with :func:`finished_shards` and, when it succeeds, records its outputs on the
parent and ends it FINISHED (:func:`finish_parent`), or FAILED with ``exprflow.error``
(:func:`fail_parent`): to readers the parent is an ordinary run of the sharded step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from mlflow.entities import Param, Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from exprflow.errors import InputError
from exprflow.tracking.fingerprint import code_version
from exprflow.tracking.store import configure, mark_model_training

__all__ = [
    "CHUNK_TAG",
    "PARENT_ENV",
    "SHARDS_TAG",
    "create_parent_run",
    "fail_parent",
    "finish_parent",
    "finished_shards",
    "parent_run",
    "shard_tag_values",
]

#: Environment variable naming the parent run a step's run nests under.
PARENT_ENV = "EXPRFLOW_PARENT_RUN_ID"
#: Tag of a shard's run: ``<chunk>/<num_chunks>``.
CHUNK_TAG = "exprflow.chunk"
#: Tag of a sharded step's parent run: the number of shards.
SHARDS_TAG = "exprflow.shards"
_STEP_TAG = "exprflow.step"
_ERROR_TAG = "exprflow.error"
_PAGE = 1000
_log = logging.getLogger(__name__)


def parent_run(step: str, merges: str) -> Run | None:
    """The run named by ``EXPRFLOW_PARENT_RUN_ID`` (None when unset or under ``mlflow run``).

    Raises
    ------
    InputError
        The variable names no run, or a run of a step other than ``step`` or ``merges``.
    """
    parent_id = os.environ.get(PARENT_ENV, "").strip()
    if not parent_id or os.environ.get("MLFLOW_RUN_ID"):
        return None
    source = f"environment variable {PARENT_ENV}"
    try:
        parent = MlflowClient().get_run(parent_id)
    except MlflowException as err:
        raise InputError(
            source,
            f"{PARENT_ENV}={parent_id!r} names no run in the tracking store ({err.error_code}).",
            fix="give the parent run the submission created, or unset the variable.",
        ) from None
    allowed = [name for name in (step, merges) if name]
    parent_step = parent.data.tags.get(_STEP_TAG, "")
    if parent_step not in allowed:
        raise InputError(
            source,
            f"parent run {parent_id} is a run of step {parent_step!r}; a {step!r} run nests "
            f"only under a run of {' or '.join(map(repr, allowed))}.",
            fix="unset the variable, or give the parent run of this step's submission.",
        )
    return parent


def finish_parent(parent_run_id: str, tags: Mapping[str, str]) -> None:
    """Set ``tags`` (the merged outputs) on the parent run and end it FINISHED."""
    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, value)
    client.set_tag(parent_run_id, "exprflow.code_version", code_version())
    if _ERROR_TAG in parent.data.tags:  # an earlier merge failed; this one did not
        client.delete_tag(parent_run_id, _ERROR_TAG)
    client.set_terminated(parent_run_id, "FINISHED")


def fail_parent(parent_run_id: str, message: str) -> None:
    """End the parent run FAILED with the merge's error (best effort: the error matters more)."""
    try:
        client = MlflowClient()
        client.set_tag(parent_run_id, _ERROR_TAG, message[:4000])
        client.set_terminated(parent_run_id, "FAILED")
    except Exception:
        _log.exception("could not mark parent run %s failed", parent_run_id)


def create_parent_run(
    step: str,
    *,
    family: str,
    task: str,
    params: Mapping[str, object],
    shards: int,
    experiment: str | None = None,
) -> str:
    """Create the RUNNING parent run of a sharded step's submission; return its id.

    Parameters
    ----------
    step : str
        The sharded step, e.g. ``"expecto_personalized"``.
    family, task : str
        The step's ``exprflow.family`` / ``exprflow.task`` tags.
    params : Mapping
        The parameters every shard runs with, logged on the parent as they are on a run.
    shards : int
        Number of shards (``num_chunks``), tag ``exprflow.shards``.
    experiment : str, optional
        Experiment name; default as :func:`~exprflow.tracking.store.configure`.

    Returns
    -------
    str
        The run id to give the shards and the merge as ``EXPRFLOW_PARENT_RUN_ID``.
    """
    experiment_id = configure(experiment)
    mark_model_training(experiment_id)
    client = MlflowClient()
    tags = {_STEP_TAG: step, "exprflow.family": family, "exprflow.task": task}
    run = client.create_run(experiment_id, run_name=step, tags={**tags, SHARDS_TAG: str(shards)})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return run.info.run_id


def _children(client: MlflowClient, parent: Run, step: str) -> list[Run]:
    """Every run of ``step`` nested under ``parent``, oldest first."""
    query = (
        f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent.info.run_id}' and tags.`{_STEP_TAG}` = '{step}'"
    )
    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [parent.info.experiment_id], query, max_results=_PAGE, page_token=token,
            order_by=["attributes.start_time ASC"],
        )  # fmt: skip
        found.extend(page)
        token = page.token
        if not token:
            return found


def finished_shards(parent_run_id: str, step: str) -> list[Run]:
    """The latest FINISHED run of each shard of ``step`` under a parent, in chunk order.

    Parameters
    ----------
    parent_run_id : str
        The parent run (:func:`create_parent_run`), with tag ``exprflow.shards``.
    step : str
        The sharded step whose runs (tag ``exprflow.chunk`` = ``<i>/<K>``) are collected.

    Returns
    -------
    list of Run
        One per chunk ``0 … K-1``.

    Raises
    ------
    InputError
        The parent has no ``exprflow.shards`` tag, or a chunk has no FINISHED run (the
        message lists them, with the status of their latest run).
    """
    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    shards = parent.data.tags.get(SHARDS_TAG, "")
    where = f"parent run {parent_run_id}"
    if not shards.isdigit():
        raise InputError(
            where, f"has no {SHARDS_TAG} tag (got {shards!r}); it is not a sharded submission."
        )
    count = int(shards)
    latest: dict[int, str] = {}
    done: dict[int, Run] = {}
    for run in _children(client, parent, step):
        index, _, total = run.data.tags.get(CHUNK_TAG, "").partition("/")
        if not index.isdigit() or total != shards:
            continue
        latest[int(index)] = run.info.status
        if run.info.status == "FINISHED":
            done[int(index)] = run
    missing = [i for i in range(count) if i not in done]
    if missing:
        states = ", ".join(f"{i} ({latest.get(i, 'never started')})" for i in missing[:20])
        raise InputError(
            where,
            f"{len(missing)} of {count} shard(s) of {step} have no FINISHED run: {states}"
            + (" …" if len(missing) > 20 else "") + ".",
            fix="rerun those indexes (re-apply the shards Job with the same parent run), "
            "wait for them to complete, then rerun the merge.",
        )  # fmt: skip
    return [done[i] for i in range(count)]


def shard_tag_values(parent_run_id: str, step: str, tag: str) -> list[str]:
    """The distinct values of ``tag`` on the shards of ``step``, in chunk order.

    E.g. the work folders the shards recorded (``exprflow.output.work_dir``), for a merge.

    Parameters
    ----------
    parent_run_id : str
        The parent run of the submission.
    step : str
        The sharded step.
    tag : str
        The tag every shard's run must carry.

    Returns
    -------
    list of str
        Each value once, in the order of the first chunk that recorded it.

    Raises
    ------
    InputError
        A shard has no FINISHED run (:func:`finished_shards`), or its run lacks ``tag``.
    """
    values: list[str] = []
    for run in finished_shards(parent_run_id, step):
        value = run.data.tags.get(tag)
        if value is None:
            raise InputError(
                f"shard run {run.info.run_id}",
                f"recorded no {tag}.",
                fix="rerun that shard, or pass the merge its inputs by hand.",
            )
        if value not in values:
            values.append(value)
    return values
