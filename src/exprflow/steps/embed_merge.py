"""Entry point ``embed_merge``: merge an ``embed_basenji2`` work folder into one file.

For shards that did not merge themselves (array jobs: a shard of a cluster submission
never merges), or when the last shard's run was lost. Refuses, before writing anything,
while a region has no finished block (:func:`~exprflow.embedding.merge.merge_blocks`).
The work folder holds everything the merge needs: the region table, the blocks and the
file attributes.

Under a cluster submission (``EXPRFLOW_PARENT_RUN_ID`` set, :mod:`exprflow.deploy.kubernetes`)
the run is a child of the submission's parent run; with ``work_dir`` empty it takes the
folder the shards recorded (``exprflow.output.work_dir``) and refuses while a shard has
no FINISHED run; on success it records ``embeddings`` and ``work_dir`` on the parent and
ends it FINISHED, on failure FAILED.

Inputs: ``work_dir`` (empty under a parent run: the shards').
Step parameters: ``output`` (path or ``s3://`` URI; empty: ``<work_dir>/embeddings.h5``),
``keep_blocks``.
Outputs: ``embeddings``. Metrics: ``n_regions``, ``embeddings_bytes``, ``seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import mlflow

from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.merge import MERGED_FILE, merge_once
from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_flag, parse_params, setup_logging
from exprflow.tracking.shards import shard_tag_values
from exprflow.tracking.step import OUTPUT_TAG, StepContext, step_run

__all__ = ["STEP", "EmbedMergeParams", "main", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedMergeParams:
    """Parameters of the ``embed_merge`` step."""

    work_dir: str = field(default="", metadata={"help": "embed_basenji2's work folder"})
    output: str = field(
        default="", metadata={"help": "merged file: path or s3:// URI; empty: in work_dir"}
    )
    keep_blocks: str = field(
        default="false", metadata={"help": "'true': keep the work blocks after the merge"}
    )


STEP = StepSpec(
    name="embed_merge",
    params=EmbedMergeParams,
    family="basenji2",
    task="embedding",
    outputs=("embeddings",),
    upstream={"work_dir": ("embed_basenji2", "work_dir")},
    runtime="python",
)
#: The sharded step this step merges.
MERGES = STEP.upstream["work_dir"][0]


def _shard_work_dir(parent_run_id: str) -> str:
    """The one work folder the parent's shards recorded."""
    folders = shard_tag_values(parent_run_id, MERGES, OUTPUT_TAG + "work_dir")
    if len(folders) != 1:
        raise InputError(
            f"parent run {parent_run_id}",
            f"its shards recorded work folders {folders}; expected one.",
            fix="pass -P work_dir=<folder> to merge one folder by hand.",
        )
    return folders[0]


def run(params: EmbedMergeParams) -> dict[str, str]:
    """Merge the work folder; record the file; return the step's outputs."""
    started = time.perf_counter()
    with step_run(
        STEP.name, family=STEP.family, task=STEP.task, params=asdict(params), merges=MERGES
    ) as ctx:
        folder = params.work_dir or (
            _shard_work_dir(ctx.parent_run_id) if ctx.parent_run_id else ""
        )
        if not folder:
            raise InputError(
                "embed_merge parameters",
                "work_dir is required.",
                fix="pass -P work_dir=<folder> (embed_basenji2's work_dir), or run under the "
                "shards' parent run (EXPRFLOW_PARENT_RUN_ID).",
            )
        work = WorkFolder.existing(ctx.log_input("work_dir", folder))
        keep = parse_flag("keep_blocks", params.keep_blocks)
        result = merge_once(work, params.output or str(work.root / MERGED_FILE), keep_blocks=keep)
        _record(ctx, result.uri, str(work.root))
        mlflow.log_metrics(
            {
                "n_regions": result.n_regions,
                "embeddings_bytes": result.size,
                "seconds": time.perf_counter() - started,
            }
        )
        return ctx.outputs


def _record(ctx: StepContext, uri: str, work_dir: str) -> None:
    """Record the merged file on this run, and on the parent run of a submission."""
    ctx.log_parent_output("embeddings", ctx.log_output("embeddings", uri))
    ctx.log_parent_output("work_dir", work_dir)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(EmbedMergeParams, argv, prog="embed_merge"))


if __name__ == "__main__":
    main()
