"""Entry point ``evaluate``: compare the pipeline's families under one metric naming scheme.

Gathers the step runs of a ``main`` run (its nested children and the reused runs it names)
or of a whole experiment, collects each run's headline metrics under the naming scheme of
:mod:`exprflow.evaluation.metric_names`, and reports the comparison (rules in
:mod:`exprflow.evaluation.compare`). Failed or running step runs are listed with their
status; a run of a known task lacking a required headline metric is warned about and listed.
A metric logged per epoch counts with its last value (that of the final model).

Which runs (first that applies): ``parent_run``; ``experiment`` (all its runs); the parent
of this run when it runs nested under ``main`` (tag ``mlflow.parentRunId``); the latest
``main`` run of this run's experiment.

Inputs:
    ``world`` (optional) — the synthetic world folder: its ``truth.json`` (logged as input
    ``truth``) describes what was planted, in the report.
Outputs (run artifacts):
    ``report`` — ``report/report.md`` with ``report/plots/<task>.png`` (the task's deciding
    metric per family and step);
    ``headline`` — ``tables/headline.tsv``: ``family, task, step, status, model, aliases,
    run_id``, then one column per headline metric (empty: not logged); one row per
    scored, unfinished or reported step run, each followed by a row per registered model
    version it created (``model`` = ``<name> v<version>``, ``aliases`` = ``@alias …``).
Metrics: ``<family>.<task>.<metric>`` — each family × task's deciding run's headline
metrics; ``runs_compared``, ``runs_not_finished``, ``runs_missing_metrics``.
Tags: ``exprflow.compared_scope`` (``parent`` or ``experiment``), ``exprflow.compared_id``
(the parent run or experiment id).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from exprflow.atomic import atomic_path
from exprflow.evaluation.compare import compare
from exprflow.evaluation.comparison_report import read_planted, write_comparison_report
from exprflow.evaluation.gather import gather_runs, model_versions, resolve_scope
from exprflow.pipeline.spec import StepSpec
from exprflow.simulate.world import load_manifest
from exprflow.steps._cli import parse_params, setup_logging
from exprflow.tracking.step import step_run
from exprflow.tracking.uris import local_path

__all__ = ["STEP", "EvaluateParams", "main", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateParams:
    """Parameters of the ``evaluate`` step."""

    parent_run: str = field(
        default="",
        metadata={
            "help": "run whose step runs are compared; empty: this run's parent or latest main"
        },
    )
    experiment: str = field(
        default="", metadata={"help": "experiment name or id whose runs are compared instead"}
    )
    world: str = field(
        default="", metadata={"help": "optional synthetic world folder (what was planted)"}
    )


STEP = StepSpec(
    name="evaluate",
    params=EvaluateParams,
    family="pipeline",
    task="evaluation",
    outputs=("report", "headline"),
    upstream={"world": ("simulate", "world")},
    cacheable=False,
    runtime="python",
)


def _ui_url() -> str:
    """The tracking server's address when runs can be linked in its UI, else empty."""
    uri = mlflow.get_tracking_uri()
    return uri if uri.startswith(("http://", "https://")) else ""


def run(params: EvaluateParams) -> dict[str, str]:
    """Compare the runs, log the summary metrics, table and report; return the outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        client = MlflowClient()
        scope = resolve_scope(
            client,
            current_run_id=ctx.run_id,
            parent_run=params.parent_run,
            experiment=params.experiment,
        )
        mlflow.set_tags({"exprflow.compared_scope": scope.kind, "exprflow.compared_id": scope.id})
        log.info("comparing the %s", scope.describe())
        planted = None
        if params.world:
            truth = load_manifest(local_path(params.world)).path("truth")
            planted = read_planted(ctx.log_input("truth", str(truth)))
        runs = gather_runs(client, scope)
        comparison = compare(runs, model_versions(client, runs))
        mlflow.log_metrics(
            {
                **comparison.summary,
                "runs_compared": len(runs),
                "runs_not_finished": len(comparison.not_finished),
                "runs_missing_metrics": len(comparison.missing),
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            with atomic_path(out / "tables" / "headline.tsv") as partial:
                comparison.headline.to_csv(partial, sep="\t", index=False)
            ctx.log_artifact_output("headline", out / "tables" / "headline.tsv", "tables")
            write_comparison_report(
                out / "report", comparison, scope, planted=planted, ui_url=_ui_url()
            )
            mlflow.log_artifacts(str(out / "report"), "report")
            ctx.log_output("report", f"runs:/{ctx.run_id}/report/report.md")
        log.info("compared %d runs of %s", len(runs), ", ".join(comparison.families) or "none")
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(EvaluateParams, argv, prog="evaluate"))


if __name__ == "__main__":
    main()
