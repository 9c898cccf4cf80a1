"""Entry point ``expecto_effects``: per-variant, per-tissue predicted log fold-change.

Beluga's alt − ref chromatin at window shifts 0, ±200 … ±800, weighted by the distance to
the closest TSS and passed through the tissue models (see
:mod:`exprflow.models.expecto.effects`). Two modes, chosen by the parameters:

Diff mode (``diffs`` given): the differences come precomputed in ExPecto's layout.
    ``diffs`` path pattern with ``SHIFT`` standing for the shift
    (``…/example.vcf.shift_SHIFT.diff.h5``); ``closest_genes`` the ``.closestgene`` file;
    ``models``; ``vcf`` (optional) the variants, to match closest-gene rows by position.
VCF mode (no ``diffs``): the differences are computed here, as ExPecto's chromatin.py
    (:mod:`exprflow.models.expecto.variant_diffs`), each distinct window once.
    ``vcf`` the variants (sites; any genotype columns are ignored); ``fasta`` the genome
    (every REF is checked against it); ``chromatin_model`` a Beluga checkpoint (path or
    URI; run in float32, on CUDA when present: bf16 would drown small alt − ref
    differences); ``genes`` an annotation (GTF, ``gene_list.csv`` or ``geneanno.csv``) whose
    nearest TSS is each variant's gene; ``models``; ``export_diffs`` (optional) a prefix:
    also write ``<prefix>.shift_<S>.diff.h5`` and ``<prefix>.closestgene``, which diff
    mode reads back. Variants whose windows reach past a contig end are refused.

``models`` is a model list, a folder holding a ``modellist``, or a single ``.save`` /
exprflow ``.json`` tissue model.

Outputs:
    ``effects`` — CSV at ``output``: chrom, position (1-based), gene, distance
    (variant − TSS), strand, then one column per tissue; also logged as a run artifact.
    With ``export_diffs``: ``diffs`` (the pattern, ``<prefix>.shift_SHIFT.diff.h5``) and
    ``closest_genes`` (``<prefix>.closestgene``), the inputs of diff mode.
Metrics: ``n_variants``, ``n_tissues``, ``max_abs_effect``; in VCF mode also
``windows_requested`` (REF and ALT windows over all variants and shifts) and
``windows_evaluated`` (distinct windows run through Beluga).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import read_sites
from exprflow.models.expecto.effects import ID_COLUMNS, effects_from_diffs, write_effects_csv
from exprflow.models.expecto.plugins import expecto_plugins
from exprflow.models.expecto.variant_diffs import vcf_effects
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging
from exprflow.steps._expecto import read_gene_table
from exprflow.tracking.step import StepContext, step_run

__all__ = ["STEP", "ExpectoEffectsParams", "main", "run"]

_DIFF_MODE = ("diffs", "closest_genes", "models")
_VCF_MODE = ("vcf", "fasta", "chromatin_model", "genes", "models")


@dataclass(frozen=True)
class ExpectoEffectsParams:
    """Parameters of the ``expecto_effects`` step."""

    diffs: str = field(
        default="", metadata={"help": "diff mode: chromatin diff h5 pattern with SHIFT"}
    )
    closest_genes: str = field(
        default="", metadata={"help": "diff mode: ExPecto .closestgene file"}
    )
    models: str = field(
        default="", metadata={"help": "model list (or its folder), .save or .json model"}
    )
    output: str = field(default="expecto_effects.csv", metadata={"help": "CSV to write"})
    vcf: str = field(
        default="",
        metadata={"help": "VCF mode: the variants; diff mode: optional, matches rows by position"},
    )
    fasta: str = field(default="", metadata={"help": "VCF mode: genome FASTA"})
    chromatin_model: str = field(
        default="", metadata={"help": "VCF mode: Beluga checkpoint (path or URI)"}
    )
    genes: str = field(
        default="", metadata={"help": "VCF mode: annotation giving each variant's nearest TSS"}
    )
    export_diffs: str = field(
        default="",
        metadata={"help": "VCF mode, optional: prefix of .shift_<S>.diff.h5/.closestgene files"},
    )


STEP = StepSpec(
    name="expecto_effects",
    params=ExpectoEffectsParams,
    family="expecto",
    task="variant_effect",
    outputs=("effects", "diffs", "closest_genes"),  # the last two with export_diffs only
)


def _check_mode(params: ExpectoEffectsParams) -> bool:
    """Return whether the parameters ask for diff mode; refuse missing or mixed inputs."""
    diff_mode = bool(params.diffs)
    needed, foreign = (
        (_DIFF_MODE, ("fasta", "chromatin_model", "genes", "export_diffs"))
        if diff_mode
        else (_VCF_MODE, ("closest_genes",))
    )
    mode = "diff mode (diffs given)" if diff_mode else "VCF mode (no diffs)"
    missing = [name for name in needed if not getattr(params, name)]
    if missing:
        raise InputError(
            "expecto_effects parameters",
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required in {mode}.",
            fix=" ".join(f"-P {name}=…" for name in missing),
        )
    stray = [name for name in foreign if getattr(params, name)]
    if stray:
        raise InputError(
            "expecto_effects parameters",
            f"{', '.join(stray)} {'does' if len(stray) == 1 else 'do'} not apply in {mode}.",
            fix=f"give either diffs and closest_genes, or {', '.join(_VCF_MODE[:-1])}.",
        )
    return diff_mode


def _diff_mode(params: ExpectoEffectsParams, ctx: StepContext) -> pd.DataFrame:
    if "SHIFT" not in params.diffs:
        raise InputError(
            params.diffs,
            "the diffs pattern has no SHIFT placeholder.",
            fix="write the shift as SHIFT, e.g. example.vcf.shift_SHIFT.diff.h5",
        )
    for path in sorted(glob.glob(params.diffs.replace("SHIFT", "*"))):
        shift = Path(path).name.split(".shift_")[-1].split(".")[0]
        ctx.log_input(f"diffs_shift_{shift}", path)
    closest = ctx.log_input("closest_genes", params.closest_genes)
    models = ctx.log_input("models", params.models)
    vcf = ctx.log_input("vcf", params.vcf) if params.vcf else None
    return effects_from_diffs(params.diffs, closest, models, vcf=vcf)


def _vcf_mode(params: ExpectoEffectsParams, ctx: StepContext) -> pd.DataFrame:
    vcf = ctx.log_input("vcf", params.vcf)
    fasta = ctx.log_input("fasta", params.fasta)
    genes = read_gene_table(ctx.log_input("genes", params.genes))
    checkpoint = ctx.log_input("chromatin_model", params.chromatin_model)
    models = ctx.log_input("models", params.models)
    plugins = expecto_plugins(checkpoint, models)
    with Genome(fasta) as genome:
        variants = read_sites(vcf)
        if not variants:
            raise InputError(vcf, "holds no variant to score.", fix="give a non-empty VCF.")
        result = vcf_effects(
            variants,
            genome,
            plugins.chromatin,
            genes,
            plugins.heads.models,
            export=params.export_diffs or None,
        )
    mlflow.log_metrics(
        {
            "windows_requested": result.windows_requested,
            "windows_evaluated": result.windows_evaluated,
        }
    )
    if params.export_diffs:
        ctx.log_output("diffs", f"{params.export_diffs}.shift_SHIFT.diff.h5")
        ctx.log_output("closest_genes", f"{params.export_diffs}.closestgene")
    return result.effects


def run(params: ExpectoEffectsParams) -> dict[str, str]:
    """Compute the effects, write the CSV; return the step's outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        diff_mode = _check_mode(params)
        effects = _diff_mode(params, ctx) if diff_mode else _vcf_mode(params, ctx)
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
