"""Entry point ``simulate``: write the synthetic world in the real genomics formats.

Inputs: none (deterministic from ``size`` and ``seed``).
Parameters: see :class:`SimulateParams`.
Outputs:
    ``world`` — a folder (data store) holding ``world.json`` (manifest of every file:
    genome FASTA + .fai, GTF, gene_list.csv, phased VCF + .tbi, samples.tsv, GEUVADIS-layout
    expression, EUR373-layout eQTLs, Roadmap-style RPKM, bigWig tracks, pcHi-C-like
    interactions, Basenji-style sequences.bed, MPRA counts, truth.json).
The manifest and the samples table are also logged as run artifacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow

from exprflow.pipeline.spec import StepSpec
from exprflow.simulate.config import world_size
from exprflow.simulate.world import simulate_world
from exprflow.steps._cli import parse_params, setup_logging
from exprflow.tracking.step import step_run
from exprflow.tracking.store import data_root

__all__ = ["STEP", "SimulateParams", "main", "run"]


@dataclass(frozen=True)
class SimulateParams:
    """Parameters of the ``simulate`` step."""

    size: str = field(default="demo", metadata={"help": "world size: tiny, demo or bench"})
    seed: int = field(default=0, metadata={"help": "random seed; same seed, same bytes"})
    output: str = field(
        default="",
        metadata={"help": "world folder; empty: $EXPRFLOW_DATA_ROOT/worlds/<size>-seed<seed>"},
    )

    def world_dir(self) -> Path:
        """Return the folder the world is written to."""
        if self.output:
            return Path(self.output).resolve()
        return data_root() / "worlds" / f"{self.size}-seed{self.seed}"


STEP = StepSpec(
    name="simulate",
    params=SimulateParams,
    family="foundation",
    task="world",
    outputs=("world",),
    from_main=("size", "seed"),
    runtime="python",
)


def run(params: SimulateParams) -> dict[str, str]:
    """Write (or resume writing) the world; return the step's outputs."""
    size = world_size(params.size)
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        mlflow.log_params({f"world.{k}": v for k, v in size.to_dict().items() if k != "name"})
        manifest = simulate_world(params.world_dir(), size, params.seed)
        mlflow.log_artifact(str(manifest.path("samples")), "world")
        mlflow.log_artifact(str(manifest.root / "world.json"), "world")
        ctx.log_output("world", manifest.root)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(SimulateParams, argv, prog="simulate"))


if __name__ == "__main__":
    main()
