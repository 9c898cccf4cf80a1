"""Entry point ``expecto_merge``: merge ``expecto_personalized`` work folders into one table.

For chunks that did not merge themselves (e.g. array jobs that wrote to one folder each,
or when the last chunk's run was lost). Refuses, before writing anything, when a gene is
missing: a folder whose manifests list genes without a file (an unfinished or killed
chunk; ``expecto_personalized`` lists the whole gene list in every chunk's folder), a
gene of ``genes`` found in no folder (a chunk that never started), or a gene in two
folders (:func:`~exprflow.scoring.merge.merge_shards`).

Under a cluster submission (``EXPRFLOW_PARENT_RUN_ID`` set, :mod:`exprflow.deploy.kubernetes`)
the run is a child of the submission's parent run. With ``work_dir`` empty it merges the
work folders the shards recorded (``exprflow.output.work_dir`` of each shard's run), and
refuses while a shard has no FINISHED run (:func:`~exprflow.tracking.shards.finished_shards`);
on success it records ``predictions`` and ``work_dir`` on the parent and ends it FINISHED,
on failure it ends it FAILED.

Inputs:
    ``work_dir`` one work folder, or several separated by commas (empty under a parent
    run: the shards'); ``genes`` (optional) the gene list that must be complete
    (gene_list.csv, GTF or geneanno.csv).
Step parameters:
    ``output`` the table to write (``.tsv``, ``.tsv.gz`` or ``.parquet``).
Outputs:
    ``predictions`` — the table, also logged as run artifact ``predictions/<name>``:
    columns ``gene_id``, ``sample`` (``ref`` for the reference row), ``haplotype`` (0 for
    ``ref``, else 1 or 2), then one float32 column per tissue; genes sorted by id (layout
    of :mod:`~exprflow.scoring.merge`).
Metrics: ``n_genes``, ``n_samples``, ``n_rows``, ``seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow

from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.scoring.merge import merge_shards
from exprflow.scoring.store import REF
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.steps._expecto import read_gene_table
from exprflow.tracking.shards import shard_tag_values
from exprflow.tracking.step import OUTPUT_TAG, StepContext, step_run

__all__ = ["STEP", "ExpectoMergeParams", "main", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectoMergeParams:
    """Parameters of the ``expecto_merge`` step."""

    work_dir: str = field(
        default="", metadata={"help": "work folder(s) of expecto_personalized, comma-separated"}
    )
    genes: str = field(default="", metadata={"help": "optional gene list that must be complete"})
    output: str = field(
        default="personalized_predictions.tsv.gz",
        metadata={"help": "table to write: .tsv, .tsv.gz or .parquet"},
    )


STEP = StepSpec(
    name="expecto_merge",
    params=ExpectoMergeParams,
    family="expecto",
    task="expression",
    outputs=("predictions",),
    upstream={"work_dir": ("expecto_personalized", "work_dir")},
)
#: The sharded step this step merges.
MERGES = STEP.upstream["work_dir"][0]


def _work_dirs(params: ExpectoMergeParams, ctx: StepContext) -> list[Path]:
    """Record each work folder as an input; return their local paths."""
    dirs = split_list(params.work_dir)
    if not dirs and ctx.parent_run_id:
        dirs = shard_tag_values(ctx.parent_run_id, MERGES, OUTPUT_TAG + "work_dir")
    if not dirs:
        raise InputError(
            "expecto_merge parameters",
            "work_dir is required.",
            fix="pass -P work_dir=<folder>[,<folder>…] (expecto_personalized's work_dir), "
            "or run under the shards' parent run (EXPRFLOW_PARENT_RUN_ID).",
        )
    names = ["work_dir"] if len(dirs) == 1 else [f"work_dir_{i}" for i in range(len(dirs))]
    return [ctx.log_input(name, uri) for name, uri in zip(names, dirs, strict=True)]


def run(params: ExpectoMergeParams) -> dict[str, str]:
    """Merge the work folders; log the table; return the step's outputs."""
    started = time.perf_counter()
    with step_run(
        STEP.name, family=STEP.family, task=STEP.task, params=asdict(params), merges=MERGES
    ) as ctx:
        dirs = _work_dirs(params, ctx)
        expected = None
        if params.genes:
            expected = read_gene_table(ctx.log_input("genes", params.genes))["gene_id"].tolist()
        dest = Path(params.output)
        table = merge_shards(dirs, dest, expected=expected)
        ctx.log_parent_output(
            "predictions", ctx.log_artifact_output("predictions", dest, "predictions")
        )
        ctx.log_parent_output("work_dir", ",".join(str(d.resolve()) for d in dirs))
        samples = table.loc[table["sample"] != REF, "sample"].unique()
        mlflow.log_metrics(
            {
                "n_genes": int(table["gene_id"].nunique()),
                "n_samples": len(samples),
                "n_rows": len(table),
                "seconds": time.perf_counter() - started,
            }
        )
        log.info("merged %d genes from %d folder(s) into %s", table["gene_id"].nunique(),
                 len(dirs), dest)  # fmt: skip
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(ExpectoMergeParams, argv, prog="expecto_merge"))


if __name__ == "__main__":
    main()
