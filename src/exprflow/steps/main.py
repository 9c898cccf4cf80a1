"""Entry point ``main``: the whole pipeline, each step a nested run of this one.

A step takes the parameters of ``main`` it lists in ``StepSpec.from_main`` (``size`` and
``seed`` reach ``simulate``); each step's upstream inputs are the URIs its predecessors
recorded. Unchanged steps are reused (see :mod:`exprflow.pipeline.cache`). The comparison
report of the ``evaluate`` step is also logged on this run, under ``report/``.

``images=true`` runs every step in its own image (``steps/<step>/MLproject``, MLflow's
docker backend) with ``docker_args`` (e.g. ``gpus=all,network=host``); see
:mod:`exprflow.pipeline.containers`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow

from exprflow.pipeline.containers import Containers
from exprflow.pipeline.registry import PIPELINE
from exprflow.pipeline.runner import StepResult, run_steps
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_flag, parse_params, setup_logging
from exprflow.tracking.step import step_run

__all__ = ["STEP", "MainParams", "main", "run"]

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class MainParams:
    """Parameters of the ``main`` entry point (the whole pipeline)."""

    size: str = field(default="demo", metadata={"help": "synthetic world size: tiny, demo, bench"})
    seed: int = field(default=0, metadata={"help": "seed of the synthetic world"})
    images: str = field(
        default="false", metadata={"help": "'true': run each step in its own image"}
    )
    docker_args: str = field(
        default="", metadata={"help": "docker run options with images, e.g. gpus=all,network=host"}
    )


STEP = StepSpec(name="main", params=MainParams, family="pipeline", task="pipeline")


def run(params: MainParams, project_uri: str | Path = PROJECT_ROOT) -> dict[str, str]:
    """Run every pipeline step under one parent run; return each step's run id."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        experiment_id = mlflow.get_run(ctx.run_id).info.experiment_id
        containers = (
            Containers.from_text(params.docker_args)
            if parse_flag("images", params.images)
            else None
        )
        results = run_steps(PIPELINE, asdict(params), project_uri, experiment_id, containers)
        reused = sum(r.reused for r in results)
        mlflow.log_metrics({"steps_run": len(results) - reused, "steps_reused": reused})
        for result in results:
            for name, uri in result.outputs.items():
                ctx.log_output(f"{result.step}.{name}", uri)
        _attach_report(results)
        return {r.step: r.run_id for r in results}


def _attach_report(results: Sequence[StepResult]) -> None:
    """Copy the ``evaluate`` step's report folder (Markdown and plots) onto this run."""
    report = next((r.outputs["report"] for r in results if r.step == "evaluate"), None)
    if report is None:
        return
    folder = report.rsplit("/", 1)[0]  # runs:/<id>/report/report.md -> runs:/<id>/report
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(folder, dst_path=tmp)
        mlflow.log_artifacts(local, "report")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(MainParams, argv, prog="main"))


if __name__ == "__main__":
    main()
