"""Entry point ``prepare``: read the inputs in their real formats, validate, build shared tables.

Inputs (each a path or URI; an empty value takes the file from ``world``'s manifest):
    ``fasta`` genome FASTA; ``vcf`` phased, indexed VCF/BCF; ``genes`` GTF, ExPecto
    ``geneanno.csv`` or benchmark ``gene_list.csv``; ``expression`` GEUVADIS
    ``GD660.GeneQuantRPKM`` layout; ``samples`` optional TSV with a ``sample`` column
    (population, split, … kept); ``regions`` Basenji ``sequences.bed`` (empty: the
    world's); ``label_targets`` a label targets table in Basenji's ``targets.txt``
    layout (:mod:`exprflow.data.label_targets`; empty: the world's default tracks —
    lamina, LAD coverage, CpG methylation per cell type and CpG counts — with a world,
    no labels without one).
Settings: ``label_bin_size`` (128) and ``label_crop_bp`` (8,192 bp cut off each end of a
    region: 896 bins over the central 114,688 bp of a 131,072 bp region).
Validation: every VCF record's REF against the FASTA, phasing, missing genotypes, sort
order (policy in :mod:`exprflow.genome.vcf`); every gene on a FASTA contig; every region
on a FASTA contig, inside it, all of one length (:func:`exprflow.data.regions.read_regions`);
the label targets table (statistics, numbers, files; before anything else is read).
Outputs:
    ``prepared`` (run artifacts): ``genes.tsv`` (gene_id, symbol, chrom, tss 0-based,
    strand, start, end, biotype), ``samples.tsv`` (sample, in_vcf, in_expression, extra
    columns), ``expression.tsv.gz`` (gene_id × sample RPKM, replicates averaged, genes of
    the annotation and samples with genotypes only), ``summary.json``;
    ``fasta``, ``vcf``: the validated files, passed on by URI;
    ``regions`` (given or the world's): the validated ``sequences.bed``; ``labels``
    (regions and label targets): the labels HDF5 (``128bp_bins`` (regions, bins,
    tracks), ``single_bin`` (regions, 1, tracks), region table, targets; layout in
    :mod:`exprflow.data.label_file`) in ``<data root>/prepare/<key>/`` beside its
    ``label_targets.txt`` (also run artifact ``labels/``); the key digests the regions,
    the targets, their files' content and the bin settings; a complete file is reused.
Metrics: ``n_genes`` … ``n_samples_both``; with regions ``n_regions``; with labels
``n_label_tracks``, ``label_seconds``, ``labels_reused`` (1 or 0).
Family dataset builders (later steps' inputs) read these outputs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
from tqdm import tqdm

from exprflow.data.basenji_labels import DEFAULT_BIN_SIZE, DEFAULT_CROP_BP, prepare_labels
from exprflow.data.geuvadis import read_expression
from exprflow.data.label_targets import LabelTarget, read_label_targets, world_label_targets
from exprflow.data.regions import read_regions
from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import PhasedVCF
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import StepContext, step_run
from exprflow.tracking.store import data_root
from exprflow.tracking.uris import local_path

__all__ = ["STEP", "PrepareParams", "main", "run"]

_FROM_WORLD = {
    "fasta": "fasta",
    "vcf": "vcf",
    "genes": "gtf",
    "expression": "expression",
    "samples": "samples",
    "regions": "sequences_bed",
}


@dataclass(frozen=True)
class PrepareParams:
    """Parameters of the ``prepare`` step."""

    world: str = field(default="", metadata={"help": "synthetic world folder (world.json)"})
    fasta: str = field(default="", metadata={"help": "genome FASTA; empty: the world's"})
    vcf: str = field(default="", metadata={"help": "phased indexed VCF; empty: the world's"})
    genes: str = field(default="", metadata={"help": "GTF / geneanno.csv / gene_list.csv"})
    expression: str = field(default="", metadata={"help": "GD660-layout RPKM table"})
    samples: str = field(default="", metadata={"help": "sample table TSV; empty: the world's"})
    regions: str = field(default="", metadata={"help": "Basenji sequences.bed; empty: the world's"})
    label_targets: str = field(
        default="",
        metadata={"help": "label targets table (targets.txt layout); empty: world default"},
    )
    label_bin_size: int = field(default=DEFAULT_BIN_SIZE, metadata={"help": "label bin (bp)"})
    label_crop_bp: int = field(
        default=DEFAULT_CROP_BP, metadata={"help": "bp cropped at each region end for labels"}
    )


STEP = StepSpec(
    name="prepare",
    params=PrepareParams,
    family="foundation",
    task="prepare",
    outputs=("prepared", "fasta", "vcf", "regions", "labels"),
    upstream={"world": ("simulate", "world")},
    runtime="python",
)


def _validated_variants(vcf: PhasedVCF, genome: Genome) -> dict[str, int]:
    """Read every record (REF, phase, order checked); return the count per contig."""
    counts = {}
    for chrom, length in tqdm(genome.contigs.items(), desc="validating VCF", unit="contig"):
        counts[chrom] = len(vcf.genotypes(chrom, 0, length).variants)
    return counts


def _genes_on_genome(genes: pd.DataFrame, genome: Genome, source: str) -> pd.DataFrame:
    for row in genes.itertuples():
        try:
            chrom = genome.resolve(str(row.chrom))
        except InputError as exc:
            raise InputError(
                source,
                f"gene on contig {row.chrom!r}, which the FASTA {genome.path} lacks.",
                record=str(row.gene_id),
                fix="use the annotation of the same genome build, or drop that contig.",
            ) from exc
        if not 0 <= int(row.tss) < genome.contigs[chrom]:
            raise InputError(
                source,
                f"TSS {row.tss} lies outside {chrom} (length {genome.contigs[chrom]}).",
                record=str(row.gene_id),
                fix="check the genome build of the annotation.",
            )
    return genes


def _sample_table(vcf_samples: list[str], expressed: list[str], extra: Path | None) -> pd.DataFrame:
    names = sorted(set(vcf_samples) | set(expressed))
    table = pd.DataFrame(
        {
            "sample": names,
            "in_vcf": [n in set(vcf_samples) for n in names],
            "in_expression": [n in set(expressed) for n in names],
        }
    )
    if extra is not None:
        info = pd.read_csv(extra, sep="\t", dtype=str)
        if "sample" not in info.columns:
            raise InputError(extra, "has no 'sample' column.", record="header")
        table = table.merge(info, on="sample", how="left")
    return table


def _build(params: PrepareParams, ctx: StepContext, out: Path) -> dict[str, int]:
    fasta = ctx.log_input("fasta", params.fasta)
    vcf_path = ctx.log_input("vcf", params.vcf)
    genes_path = ctx.log_input("genes", params.genes)
    expression_path = ctx.log_input("expression", params.expression)
    extra = ctx.log_input("samples", params.samples) if params.samples else None
    with Genome(fasta) as genome, PhasedVCF(vcf_path, genome) as vcf:
        genes = _genes_on_genome(read_genes(genes_path), genome, params.genes)
        variants = _validated_variants(vcf, genome)
        vcf_samples = vcf.samples
    expression = read_expression(expression_path)
    expression = expression.loc[expression.index.isin(genes["gene_id"])]
    samples = _sample_table(vcf_samples, list(expression.columns), extra)
    both = samples.loc[samples["in_vcf"] & samples["in_expression"], "sample"].tolist()
    if not both:
        raise InputError(
            params.expression,
            f"no sample has both genotypes ({params.vcf}) and expression.",
            fix="check that both files use the same sample ids.",
        )
    genes.to_csv(out / "genes.tsv", sep="\t", index=False)
    samples.to_csv(out / "samples.tsv", sep="\t", index=False)
    expression[both].to_csv(out / "expression.tsv.gz", sep="\t")
    summary = {
        "genes": len(genes),
        "genes_with_expression": len(expression),
        "variants": sum(variants.values()),
        "samples_vcf": len(vcf_samples),
        "samples_expression": expression.shape[1],
        "samples_both": len(both),
    }
    (out / "summary.json").write_text(json.dumps({**summary, "variants_per_contig": variants}))
    return summary


def _label_targets(params: PrepareParams, ctx: StepContext) -> list[LabelTarget]:
    """The label targets: the given table, else the world's default, else none."""
    if params.label_targets:
        if not params.regions:
            raise InputError(
                params.label_targets,
                "label targets given without regions to label.",
                fix="pass -P regions=<sequences.bed> (or a world).",
            )
        return read_label_targets(ctx.log_input("label_targets", params.label_targets))
    if params.world and params.regions:
        return world_label_targets(local_path(params.world), params.label_bin_size)
    return []


def _labels(
    params: PrepareParams, ctx: StepContext, regions: pd.DataFrame, targets: list[LabelTarget]
) -> None:
    """Build (or reuse) the labels HDF5 under the data root; record it and its metrics."""
    prepared = prepare_labels(
        regions,
        targets,
        data_root() / STEP.name,
        bin_size=params.label_bin_size,
        crop_bp=params.label_crop_bp,
        source=params.regions,
    )
    mlflow.log_artifact(str(prepared.table), "labels")
    ctx.log_output("labels", prepared.path)
    mlflow.log_metrics(
        {
            "n_label_tracks": len(targets),
            "label_seconds": prepared.seconds,
            "labels_reused": int(prepared.reused),
        }
    )


def run(params: PrepareParams) -> dict[str, str]:
    """Validate the inputs and build the shared tables; return the step's outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        optional = ("samples", "regions")
        params = fill_from_world(params, _FROM_WORLD, STEP.name, optional=optional)
        targets = _label_targets(params, ctx)
        regions = None
        if params.regions:
            with Genome(local_path(params.fasta)) as genome:
                path = ctx.log_input("regions", params.regions)
                regions = read_regions(path, contigs=genome.contigs)
        with tempfile.TemporaryDirectory() as tmp:
            summary = _build(params, ctx, Path(tmp))
            mlflow.log_metrics({f"n_{k}": v for k, v in summary.items()})
            ctx.log_artifact_output("prepared", Path(tmp), "prepared")
        ctx.log_output("fasta", local_path(params.fasta))
        ctx.log_output("vcf", local_path(params.vcf))
        if regions is not None:
            ctx.log_output("regions", local_path(params.regions))
            mlflow.log_metric("n_regions", len(regions))
            if targets:
                _labels(params, ctx, regions, targets)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(PrepareParams, argv, prog="prepare"))


if __name__ == "__main__":
    main()
