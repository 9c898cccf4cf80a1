"""Entry point ``prepare``: read the inputs in their real formats, validate, build shared tables.

Inputs (each a path or URI; an empty value takes the file from ``world``'s manifest):
    ``fasta`` genome FASTA; ``vcf`` phased, indexed VCF/BCF; ``genes`` GTF, ExPecto
    ``geneanno.csv`` or benchmark ``gene_list.csv``; ``expression`` GEUVADIS
    ``GD660.GeneQuantRPKM`` layout; ``samples`` optional TSV with a ``sample`` column
    (population, split, … kept); ``regions`` Basenji ``sequences.bed`` (empty: the
    world's); ``label_targets`` a label targets table in Basenji's ``targets.txt``
    layout (:mod:`exprflow.data.label_targets`; empty: the world's default tracks —
    lamina, LAD coverage, CpG methylation per cell type and CpG counts — with a world,
    no labels without one). ``eqtls`` optional GEUVADIS ``EUR373.gene.cis.FDR5`` table ranking the
    MLM genes (empty: the world's; none: the gene table's order). Chromatin dataset (built
    when all three are given or in the world): ``tracks`` a folder of
    ``<eid>/<mark>.bigWig`` (or ``.bedGraph[.gz]``), ``roadmap_rpkm`` Roadmap's
    ``57epigenomes.RPKM.pc`` table, ``interactions`` a pcHi-C table
    (:mod:`exprflow.data.chromatin_dataset`). Promoter tasks (each built when its inputs
    are given or in the world): ``mpra`` the fluorescence MPRA table, ``chip`` a folder of
    ENCODE ``metadata.tsv`` and narrowPeak files, ``sharpr`` a folder of Sharpr-MPRA
    ``{train,valid,test}.hdf5``, ``sure`` a folder of SuRE genome tables; ``RNASeq`` from
    the genome, genes and ``roadmap_rpkm`` (``promoter_rnaseq``).
Settings: ``label_bin_size`` (128) and ``label_crop_bp`` (8,192 bp cut off each end of a
    region: 896 bins over the central 114,688 bp of a 131,072 bp region). Haplotype MLM
    dataset (:mod:`exprflow.data.mlm_dataset`, published lm-eqtl ``dataprep``):
    ``mlm_genes`` (10, the published top 10 by eQTL count; 0: no dataset),
    ``mlm_max_snps`` (256 SNPs per gene nearest the TSS, ≈ ±130 kb on the demo world,
    which holds every planted causal variant; published 5,000, CPU time on the demo),
    ``mlm_min_maf`` (0.03),
    ``mlm_window`` (1,000,000 bp either side of the TSS), ``mlm_eqtl_pvalue`` (1e-12,
    eQTLs counted for the ranking), ``mlm_test`` (``expressed_eur``: samples with
    expression and ``super_pop`` EUR, as published — all expressed samples when the
    sample table has no ``super_pop``; ``expressed``: all samples with expression).
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
    the targets, their files' content and the bin settings; a complete file is reused;
    ``mlm`` (``mlm_genes`` > 0; run artifacts ``mlm/``): ``dataset.parquet`` (index
    ``split:sample_id:GENE_ID``, column ``seq`` of R/F/M/B/N), ``meta.csv.gz``
    (``chrom,pos,id,ref,alt,AF,initial_counts,GENE_ID,seq_idx``) and ``summary.json``
    (genes, SNPs and span per gene, split sizes); read back and validated before logging;
    ``chromatin`` (run artifacts ``chromatin/``): Chromoformer's ``train.csv`` (one row per
    gene × cell type, fold group in ``split``), ``features/<eid>.h5`` (TSS ± 20 kb and up
    to 8 pCREs at 2,000 / 500 / 100 bp, ln(mean depth + 1), minus-strand promoters
    flipped) and ``summary.json``; settings ``chromatin_cells``, ``chromatin_marks``,
    ``chromatin_folds`` (``auto``: the published chromosome groups for human chromosomes,
    else chromosomes dealt to the four groups in order), ``chromatin_no_interactions``;
    ``promoter`` (run artifacts ``promoter/``): one task file per promoter-model task
    (``FluorescenceData``, ``FluorescenceData_classification``, ``RNASeq``,
    ``ENCODETFChIPSeq``, ``Sharpr_MPRA``, ``SuRE_classification``; layout in
    :mod:`exprflow.data.promoter_tasks`), the published ``fluorescence/merged.tsv`` and
    ``summary.json``; settings ``promoter_split_seeds`` (fluorescence splits 0..n-1),
    ``chip_min_peaks``, ``sure_per_pair``.
Metrics: ``n_genes`` … ``n_samples_both``; with regions ``n_regions``; with labels
``n_label_tracks``, ``label_seconds``, ``labels_reused`` (1 or 0); with the MLM dataset
``n_mlm_genes``, ``n_mlm_snps``, ``n_mlm_train``, ``n_mlm_test``, ``mlm_seconds``; with the
chromatin dataset ``n_chromatin_genes``, ``_cells``, ``_marks``, ``chromatin_seconds``; with
the promoter tasks ``n_promoter_<task>_<split>`` and ``promoter_seconds``.
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
from exprflow.data.chromatin_dataset import (
    TRAIN_FILE,
    build_chromatin_dataset,
    read_chromatin_features,
)
from exprflow.data.chromatin_meta import MARKS, read_chromatin_meta
from exprflow.data.geuvadis import read_expression
from exprflow.data.label_targets import LabelTarget, read_label_targets, world_label_targets
from exprflow.data.mlm_dataset import (
    DATASET_FILE,
    META_FILE,
    build_mlm_dataset,
    read_mlm_dataset,
)
from exprflow.data.promoter_dataset import (
    PromoterInputs,
    PromoterSettings,
    build_promoter_datasets,
)
from exprflow.data.regions import read_regions
from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import PhasedVCF
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_flag, parse_params, setup_logging, split_list
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import StepContext, step_run
from exprflow.tracking.store import data_root
from exprflow.tracking.uris import local_path

__all__ = ["MLM_TEST_RULES", "STEP", "PrepareParams", "main", "mlm_test_samples", "run"]

_FROM_WORLD = {
    "fasta": "fasta",
    "vcf": "vcf",
    "genes": "gtf",
    "expression": "expression",
    "samples": "samples",
    "regions": "sequences_bed",
    "eqtls": "eqtls",
    "tracks": "tracks",
    "roadmap_rpkm": "roadmap_rpkm",
    "interactions": "interactions",
    "mpra": "mpra",
    "chip": "chip",
    "sharpr": "sharpr",
    "sure": "sure",
}
#: Inputs of the chromatin dataset: it is built when all three are given (or in the world).
_CHROMATIN_INPUTS = ("tracks", "roadmap_rpkm", "interactions")
#: Inputs of the promoter tasks (each optional).
_PROMOTER_INPUTS = ("mpra", "chip", "sharpr", "sure")
#: Values of ``mlm_test``.
MLM_TEST_RULES = ("expressed_eur", "expressed")


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
    eqtls: str = field(
        default="", metadata={"help": "EUR373 cis-eQTL table ranking MLM genes; empty: world's"}
    )
    mlm_genes: int = field(
        default=10, metadata={"help": "MLM dataset: top genes by eQTL count; 0: no dataset"}
    )
    mlm_max_snps: int = field(
        default=256, metadata={"help": "MLM dataset: SNPs per gene (published 5000)"}
    )
    mlm_min_maf: float = field(default=0.03, metadata={"help": "MLM dataset: MAF above this"})
    mlm_window: int = field(
        default=1_000_000, metadata={"help": "MLM dataset: bp either side of the TSS"}
    )
    mlm_eqtl_pvalue: float = field(
        default=1e-12, metadata={"help": "MLM dataset: eQTLs counted have p below this"}
    )
    mlm_test: str = field(
        default="expressed_eur",
        metadata={"help": "MLM test samples: expressed_eur (published) or expressed"},
    )
    tracks: str = field(
        default="", metadata={"help": "chromatin: folder of <eid>/<mark>.bigWig; empty: world's"}
    )
    roadmap_rpkm: str = field(
        default="", metadata={"help": "chromatin: 57epigenomes.RPKM.pc table; empty: world's"}
    )
    interactions: str = field(
        default="", metadata={"help": "chromatin: pcHi-C interaction table; empty: world's"}
    )
    chromatin_cells: str = field(
        default="", metadata={"help": "chromatin: comma-separated eids; empty: all with tracks"}
    )
    chromatin_marks: str = field(
        default=",".join(MARKS), metadata={"help": "chromatin: histone marks to bin"}
    )
    chromatin_folds: str = field(
        default="auto", metadata={"help": "chromatin: fold groups auto, published or cyclic"}
    )
    chromatin_no_interactions: str = field(
        default="error",
        metadata={"help": "chromatin: a gene without pcHi-C rows: error, or allow (no pCRE)"},
    )
    mpra: str = field(
        default="", metadata={"help": "promoter: fluorescence MPRA table; empty: world's"}
    )
    chip: str = field(
        default="", metadata={"help": "promoter: ENCODE metadata.tsv + narrowPeaks folder"}
    )
    sharpr: str = field(
        default="", metadata={"help": "promoter: Sharpr-MPRA {train,valid,test}.hdf5 folder"}
    )
    sure: str = field(default="", metadata={"help": "promoter: SuRE_<sample>.txt.gz folder"})
    promoter_rnaseq: str = field(
        default="true", metadata={"help": "promoter: 'true' builds RNASeq (genome + Roadmap)"}
    )
    promoter_split_seeds: int = field(
        default=5, metadata={"help": "promoter: fluorescence split seeds 0..n-1"}
    )
    chip_min_peaks: int = field(
        default=5, metadata={"help": "promoter: ChIP tracks need this many peaks (published 1000)"}
    )
    sure_per_pair: int = field(
        default=0, metadata={"help": "promoter: SuRE fragments per class pair (0: rarest pair)"}
    )


STEP = StepSpec(
    name="prepare",
    params=PrepareParams,
    family="foundation",
    task="prepare",
    outputs=("prepared", "fasta", "vcf", "regions", "labels", "mlm", "chromatin", "promoter"),
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


def _build(
    params: PrepareParams, ctx: StepContext, out: Path
) -> tuple[dict[str, int], pd.DataFrame, pd.DataFrame]:
    """Write the shared tables to ``out``; return the summary, gene table and sample table."""
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
    return summary, genes, samples


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


def mlm_test_samples(samples: pd.DataFrame, rule: str) -> list[str]:
    """Return the MLM dataset's test samples under ``rule`` (:data:`MLM_TEST_RULES`).

    Parameters
    ----------
    samples : pandas.DataFrame
        ``prepare``'s sample table (``sample``, ``in_vcf``, ``in_expression``, optional
        ``super_pop``).
    rule : str
        ``expressed_eur``: genotyped samples with expression and ``super_pop`` EUR (all
        such samples without a ``super_pop`` column); ``expressed``: all of them.

    Returns
    -------
    list of str
        Sample ids, in table order.

    Raises
    ------
    InputError
        On an unknown rule.
    """
    if rule not in MLM_TEST_RULES:
        raise InputError(
            "prepare parameters",
            f"mlm_test is {rule!r}, expected one of {', '.join(MLM_TEST_RULES)}.",
            record="mlm_test",
            fix="pass -P mlm_test=expressed_eur (published) or expressed.",
        )
    chosen = samples["in_vcf"].astype(bool) & samples["in_expression"].astype(bool)
    if rule == "expressed_eur" and "super_pop" in samples.columns:
        chosen &= samples["super_pop"].eq("EUR")
    return samples.loc[chosen, "sample"].astype(str).tolist()


def _mlm(
    params: PrepareParams, ctx: StepContext, genes: pd.DataFrame, samples: pd.DataFrame
) -> None:
    """Build the haplotype MLM dataset, validate it, log it as output ``mlm``."""
    test = mlm_test_samples(samples, params.mlm_test)
    if not test:
        raise InputError(
            params.samples or "prepare parameters",
            f"mlm_test={params.mlm_test} selects no sample with genotypes and expression.",
            record="mlm_test",
            fix="pass -P mlm_test=expressed, or a sample table with super_pop.",
        )
    eqtls = ctx.log_input("eqtls", params.eqtls) if params.eqtls else None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mlm"
        built = build_mlm_dataset(
            local_path(params.vcf),
            genes,
            eqtls,
            test,
            folder,
            n_genes=params.mlm_genes,
            max_snps=params.mlm_max_snps,
            min_maf=params.mlm_min_maf,
            window=params.mlm_window,
            eqtl_pvalue=params.mlm_eqtl_pvalue,
        )
        read_mlm_dataset(folder / DATASET_FILE, folder / META_FILE)
        report = {k: v for k, v in asdict(built).items() if k != "folder"}
        (folder / "summary.json").write_text(json.dumps(report, indent=1))
        ctx.log_artifact_output("mlm", folder, "mlm")
    mlflow.log_metrics(
        {
            "n_mlm_genes": len(built.genes),
            "n_mlm_snps": sum(built.snps.values()),
            "n_mlm_train": built.n_train,
            "n_mlm_test": built.n_test,
            "mlm_seconds": built.seconds,
        }
    )


def _chromatin(params: PrepareParams, ctx: StepContext, genes: pd.DataFrame) -> None:
    """Build the chromatin → expression dataset, read it back, log it as output ``chromatin``."""
    tracks = ctx.log_input("tracks", params.tracks)
    rpkm = ctx.log_input("roadmap_rpkm", params.roadmap_rpkm)
    interactions = ctx.log_input("interactions", params.interactions)
    genes.attrs["path"] = params.genes
    with tempfile.TemporaryDirectory() as tmp:
        built = build_chromatin_dataset(
            tracks,
            genes,
            rpkm,
            interactions,
            Path(tmp) / "chromatin",
            cells=split_list(params.chromatin_cells) or None,
            marks=split_list(params.chromatin_marks),
            folds=params.chromatin_folds,
            no_interactions=params.chromatin_no_interactions,
        )
        read_chromatin_meta(built.folder / TRAIN_FILE)
        for eid in built.cells:
            read_chromatin_features(built.folder, eid)
        ctx.log_artifact_output("chromatin", built.folder, "chromatin")
    mlflow.log_metrics(
        {
            "n_chromatin_genes": built.n_genes,
            "n_chromatin_cells": len(built.cells),
            "n_chromatin_marks": len(built.marks),
            "chromatin_seconds": built.seconds,
        }
    )


def _promoter(params: PrepareParams, ctx: StepContext, genes: pd.DataFrame) -> None:
    """Build the promoter-model task files, log them as output ``promoter``."""
    rnaseq = parse_flag("promoter_rnaseq", params.promoter_rnaseq) and bool(params.roadmap_rpkm)
    inputs = PromoterInputs(
        fluorescence=ctx.log_input("mpra", params.mpra) if params.mpra else None,
        fasta=local_path(params.fasta),
        genes=genes if rnaseq else None,
        roadmap_rpkm=local_path(params.roadmap_rpkm) if rnaseq else None,
        chip=ctx.log_input("chip", params.chip) if params.chip else None,
        sharpr=ctx.log_input("sharpr", params.sharpr) if params.sharpr else None,
        sure=ctx.log_input("sure", params.sure) if params.sure else None,
    )
    settings = PromoterSettings(
        split_seeds=params.promoter_split_seeds,
        chip_min_peaks=params.chip_min_peaks,
        sure_per_pair=params.sure_per_pair,
    )
    with tempfile.TemporaryDirectory() as tmp:
        built = build_promoter_datasets(inputs, Path(tmp) / "promoter", settings)
        ctx.log_artifact_output("promoter", built.folder, "promoter")
    metrics = {
        f"n_promoter_{task}_{s}": float(n)
        for task, rows in built.rows.items()
        for s, n in rows.items()
    }
    mlflow.log_metrics(metrics | {"promoter_seconds": built.seconds})


def run(params: PrepareParams) -> dict[str, str]:
    """Validate the inputs and build the shared tables; return the step's outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        optional = ("samples", "regions", "eqtls", *_CHROMATIN_INPUTS, *_PROMOTER_INPUTS)
        params = fill_from_world(params, _FROM_WORLD, STEP.name, optional=optional)
        targets = _label_targets(params, ctx)
        regions = None
        if params.regions:
            with Genome(local_path(params.fasta)) as genome:
                path = ctx.log_input("regions", params.regions)
                regions = read_regions(path, contigs=genome.contigs)
        with tempfile.TemporaryDirectory() as tmp:
            summary, genes, samples = _build(params, ctx, Path(tmp))
            mlflow.log_metrics({f"n_{k}": v for k, v in summary.items()})
            ctx.log_artifact_output("prepared", Path(tmp), "prepared")
        if params.mlm_genes > 0:
            _mlm(params, ctx, genes, samples)
        if all(getattr(params, name) for name in _CHROMATIN_INPUTS):
            _chromatin(params, ctx, genes)
        if any(getattr(params, name) for name in _PROMOTER_INPUTS):
            _promoter(params, ctx, genes)
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
