"""Entry point ``expecto_effects``: per-variant, per-tissue predicted log fold-change.

From precomputed chromatin differences in ExPecto's layout (Beluga alt − ref at shifts
0, ±200 … ±800), weighted by distance to the closest TSS and passed through the tissue
models (see :mod:`exprflow.models.expecto.effects`).

Inputs:
    ``diffs`` path pattern with ``SHIFT`` standing for the shift
    (``…/example.vcf.shift_SHIFT.diff.h5``); ``closest_genes`` the ``.closestgene`` file;
    ``models`` a model list or a single ``.save`` / exprflow ``.json`` tissue model;
    ``vcf`` (optional) the variants, to match closest-gene rows by position.
Outputs:
    ``effects`` — CSV at ``output``: chrom, position (1-based), gene, distance
    (variant − TSS), strand, then one column per tissue; also logged as a run artifact.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np

from exprflow.errors import InputError
from exprflow.models.expecto.effects import ID_COLUMNS, effects_from_diffs, write_effects_csv
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging
from exprflow.tracking.step import StepContext, step_run

__all__ = ["STEP", "ExpectoEffectsParams", "main", "run"]


@dataclass(frozen=True)
class ExpectoEffectsParams:
    """Parameters of the ``expecto_effects`` step."""

    diffs: str = field(default="", metadata={"help": "chromatin diff h5 pattern with SHIFT"})
    closest_genes: str = field(default="", metadata={"help": "ExPecto .closestgene file"})
    models: str = field(default="", metadata={"help": "model list, .save or .json model"})
    output: str = field(default="expecto_effects.csv", metadata={"help": "CSV to write"})
    vcf: str = field(default="", metadata={"help": "optional VCF to match rows by position"})


STEP = StepSpec(
    name="expecto_effects",
    params=ExpectoEffectsParams,
    family="expecto",
    task="variant_effect",
    outputs=("effects",),
)


def _log_inputs(params: ExpectoEffectsParams, ctx: StepContext) -> None:
    for name in ("diffs", "closest_genes", "models"):
        if not getattr(params, name):
            raise InputError(
                "expecto_effects parameters", f"{name} is required.", fix=f"pass -P {name}=…"
            )
    if "SHIFT" not in params.diffs:
        raise InputError(
            params.diffs,
            "the diffs pattern has no SHIFT placeholder.",
            fix="write the shift as SHIFT, e.g. example.vcf.shift_SHIFT.diff.h5",
        )
    for path in sorted(glob.glob(params.diffs.replace("SHIFT", "*"))):
        shift = Path(path).name.split(".shift_")[-1].split(".")[0]
        ctx.log_input(f"diffs_shift_{shift}", path)
    ctx.log_input("closest_genes", params.closest_genes)
    ctx.log_input("models", params.models)
    if params.vcf:
        ctx.log_input("vcf", params.vcf)


def run(params: ExpectoEffectsParams) -> dict[str, str]:
    """Compute the effects, write the CSV; return the step's outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        _log_inputs(params, ctx)
        effects = effects_from_diffs(
            params.diffs, params.closest_genes, params.models, vcf=params.vcf or None
        )
        path = write_effects_csv(effects, Path(params.output))
        values = effects.drop(columns=list(ID_COLUMNS)).to_numpy()
        mlflow.log_metrics(
            {
                "n_variants": len(effects),
                "n_tissues": values.shape[1],
                "max_abs_effect": float(np.abs(values).max()) if values.size else 0.0,
            }
        )
        mlflow.log_artifact(str(path), "effects")
        ctx.log_output("effects", path)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(ExpectoEffectsParams, argv, prog="expecto_effects"))


if __name__ == "__main__":
    main()
