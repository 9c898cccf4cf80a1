"""The step context: one MLflow run per step, with its lineage recorded.

Every step body runs inside :func:`step_run`. It attaches to the run ``mlflow run``
created (``MLFLOW_RUN_ID``) or starts one, and records:

- parameters, and tags ``exprflow.family`` / ``exprflow.task`` / ``exprflow.step`` /
  ``exprflow.code_version``;
- every input as an MLflow dataset input (its URI as the source, its content
  fingerprint as the digest), also as tag ``exprflow.input.<name>``;
- every output URI as tag ``exprflow.output.<name>`` (what the pipeline passes downstream);
- the end state: FINISHED, or FAILED with the error in tag ``exprflow.error`` and the
  traceback as artifact ``error.txt``.

A step run started with ``EXPRFLOW_PARENT_RUN_ID`` set (and no ``MLFLOW_RUN_ID``) nests
under that parent run: the shards of a sharded step on a cluster, and the merge that ends
the parent (see :mod:`exprflow.tracking.shards`).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from exprflow.tracking.datasets import dataset_input
from exprflow.tracking.fingerprint import code_version, fingerprint
from exprflow.tracking.shards import CHUNK_TAG, fail_parent, finish_parent, parent_run
from exprflow.tracking.store import configure, mark_model_training
from exprflow.tracking.uris import is_remote, local_path

__all__ = ["INPUT_TAG", "OUTPUT_TAG", "STEP_RUN_TAG", "StepContext", "step_run", "step_tags"]

INPUT_TAG = "exprflow.input."
OUTPUT_TAG = "exprflow.output."
#: Tag prefix on a pipeline (``main``) run: ``<prefix><step>`` = the run id that step used.
STEP_RUN_TAG = "exprflow.step_run."
_log = logging.getLogger(__name__)


@dataclass
class StepContext:
    """Handle a step body uses to record its inputs and outputs on its run."""

    run_id: str
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    #: The parent run this run is nested under (``EXPRFLOW_PARENT_RUN_ID``), else None.
    parent_run_id: str | None = None
    #: Outputs recorded on the parent when a merging step ends (:meth:`log_parent_output`).
    parent_outputs: dict[str, str] = field(default_factory=dict)

    def record_chunk(self, step: str, chunk: int, num_chunks: int) -> None:
        """Tag the run as chunk ``chunk`` of ``num_chunks``; name it ``<step>-shard-<chunk>``.

        The name is set only on a run nested under a parent (a shard of a cluster job);
        a standalone run keeps the name it was given.
        """
        mlflow.set_tag(CHUNK_TAG, f"{chunk}/{num_chunks}")
        if self.parent_run_id:
            mlflow.set_tag(MLFLOW_RUN_NAME, f"{step}-shard-{chunk}")

    def log_parent_output(self, name: str, uri: str) -> None:
        """Record output ``name`` for the parent run, written when a merging step succeeds.

        Does nothing on a run without a parent.
        """
        if self.parent_run_id:
            self.parent_outputs[name] = uri

    def log_input(self, name: str, uri: str, *, context: str = "input") -> Path:
        """Record ``uri`` as dataset input ``name``; return a local path to read it from."""
        path = local_path(uri)
        source = uri if is_remote(uri) else str(path)
        self.log_streamed_input(name, source, fingerprint(path), context=context)
        return path

    def log_streamed_input(
        self, name: str, uri: str, digest: str, *, context: str = "input"
    ) -> str:
        """Record ``uri`` as input ``name`` without fetching it (read in place, e.g. S3).

        Parameters
        ----------
        name : str
            Input name.
        uri : str
            Local path or remote URI; a path is made absolute.
        digest : str
            Identity of the content (a fingerprint, or the object's ETag).
        context : str, optional
            MLflow dataset input context. Default ``"input"``.

        Returns
        -------
        str
            The recorded URI.
        """
        source_uri = uri if is_remote(uri) else str(Path(uri).resolve())
        mlflow.log_input(dataset_input(name, source_uri, digest[:32]), context=context)
        mlflow.set_tag(INPUT_TAG + name, source_uri)
        self.inputs[name] = source_uri
        return source_uri

    def log_output(self, name: str, uri: str | Path) -> str:
        """Record output ``name`` at ``uri`` (a path is made absolute); return the URI."""
        text = str(uri) if isinstance(uri, str) and is_remote(uri) else str(Path(uri).resolve())
        mlflow.set_tag(OUTPUT_TAG + name, text)
        self.outputs[name] = text
        return text

    def log_artifact_output(self, name: str, local: Path, artifact_path: str) -> str:
        """Log a local file or folder as run artifacts and record it as output ``name``.

        A folder's content goes under ``artifact_path`` and the URI names that folder; a
        file goes into ``artifact_path`` and the URI names the file.
        """
        if local.is_dir():
            mlflow.log_artifacts(str(local), artifact_path)
            uri = f"runs:/{self.run_id}/{artifact_path}"
        else:
            mlflow.log_artifact(str(local), artifact_path)
            uri = f"runs:/{self.run_id}/{artifact_path}/{local.name}"
        mlflow.set_tag(OUTPUT_TAG + name, uri)
        self.outputs[name] = uri
        return uri


def step_tags(step: str, family: str, task: str) -> dict[str, str]:
    """The tags of a step's run: ``exprflow.step``, ``.family``, ``.task``, ``.code_version``."""
    return {
        "exprflow.step": step,
        "exprflow.family": family,
        "exprflow.task": task,
        "exprflow.code_version": code_version(),
    }


@contextmanager
def step_run(
    step: str,
    *,
    family: str,
    task: str,
    params: Mapping[str, object],
    merges: str = "",
) -> Iterator[StepContext]:
    """Run a step body inside its MLflow run; end it FINISHED or FAILED with the error.

    With ``EXPRFLOW_PARENT_RUN_ID`` set and no ``MLFLOW_RUN_ID``, the run is a child of
    that parent run (in its experiment), which must be a run of ``step`` (a shard) or of
    ``merges`` (the merge). A merging step's run also ends the parent: on success with the
    outputs given to :meth:`StepContext.log_parent_output`, FINISHED; on failure FAILED.

    Parameters
    ----------
    step : str
        Entry point name, e.g. ``"simulate"``.
    family : str
        Model family tag (``"foundation"``, ``"expecto"``, …) for comparing in the UI.
    task : str
        Task tag, e.g. ``"world"``; the same task shares metric names across families.
    params : Mapping
        The step's parameters (already defaults-applied), logged as run parameters.
    merges : str, default ""
        For a merging step, the sharded step whose shards it merges (and whose parent
        run it ends); empty otherwise.

    Raises
    ------
    InputError
        ``EXPRFLOW_PARENT_RUN_ID`` names no run, or a run of another step.
    """
    configure()
    parent = parent_run(step, merges)
    if parent is None:
        run = mlflow.start_run()
    else:
        run = mlflow.start_run(
            experiment_id=parent.info.experiment_id,
            parent_run_id=parent.info.run_id,
            run_name=step,
        )
    run_id = run.info.run_id
    mark_model_training(run.info.experiment_id)
    existing = mlflow.get_run(run_id).data.params
    mlflow.log_params({k: str(v) for k, v in params.items() if k not in existing})
    mlflow.set_tags(step_tags(step, family, task))
    ctx = StepContext(run_id=run_id, parent_run_id=parent.info.run_id if parent else None)
    ends_parent = bool(merges and ctx.parent_run_id)
    try:
        yield ctx
        if ends_parent:
            assert ctx.parent_run_id is not None
            outputs = {OUTPUT_TAG + name: uri for name, uri in ctx.parent_outputs.items()}
            finish_parent(ctx.parent_run_id, outputs)
    except BaseException as exc:
        _record_failure(exc)
        mlflow.end_run("FAILED")
        if ends_parent:
            assert ctx.parent_run_id is not None
            fail_parent(
                ctx.parent_run_id, f"{step} (run {run_id}) failed: {type(exc).__name__}: {exc}"
            )
        raise
    mlflow.end_run("FINISHED")


def _record_failure(exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}"
    try:
        mlflow.set_tag("exprflow.error", message[:4000])
        mlflow.log_text("".join(traceback.format_exception(exc)), "error.txt")
    except Exception:  # the original error matters more than a failed report of it
        _log.exception("could not record the failure on the run")
