"""Checks and planning shared by the scoring paths: genes, samples, haplotypes, resumption.

Validates the gene table (columns, ids, strands, TSS, contigs, contig ends) and the
samples against the VCF before anything is written, lists the genes already finished in
an output folder, and reads each gene's phased haplotypes from the VCF. Reads the genome
and the VCF; writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.variant import Variant
from exprflow.genome.vcf import PhasedVCF
from exprflow.scoring.store import REF, gene_path, read_rows
from exprflow.scoring.windows import check_gene_span, gene_span

__all__ = ["GeneTask", "check_samples", "haplotype_variants", "plan_genes", "split_done"]

_COLUMNS = ("gene_id", "chrom", "tss", "strand")
#: Extra reference bases around the windows searched for variants (grown for long deletions).
_MARGIN = 1000


@dataclass(frozen=True)
class GeneTask:
    """One gene to score.

    Parameters
    ----------
    gene_id, chrom : str
        Gene and contig (as the gene table names it).
    tss : int
        0-based TSS position.
    strand : str
        ``+`` or ``-``.
    padded : bool
        Whether its windows run past a contig end (``N``-padded).
    """

    gene_id: str
    chrom: str
    tss: int
    strand: str
    padded: bool


def _source(genes: pd.DataFrame) -> str:
    """Return the gene table's file when recorded in ``attrs["path"]``, else a label."""
    return str(genes.attrs.get("path", "<gene table>"))


def _select(genes: pd.DataFrame, gene_ids: Sequence[str] | None, source: str) -> pd.DataFrame:
    """Return the rows of ``gene_ids`` (in that order), refusing unknown or duplicated ids."""
    missing = [name for name in _COLUMNS if name not in genes.columns]
    if missing:
        raise InputError(
            source,
            f"lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, genes.columns))}.",
            fix="give a gene table with gene_id, chrom, tss (0-based) and strand, e.g. from "
            "exprflow.genome.annotation.read_genes.",
        )
    ids = genes["gene_id"].astype(str)
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise InputError(
            source, "gene id appears twice.", record=repeated.iloc[0], fix="keep one row per gene."
        )
    if gene_ids is None:
        return genes
    position = {gene_id: i for i, gene_id in enumerate(ids)}
    unknown = [gene_id for gene_id in gene_ids if gene_id not in position]
    if unknown:
        raise InputError(
            source,
            f"{len(unknown)} requested gene id(s) are not in the gene table: "
            f"{', '.join(unknown[:5])}.",
            record=unknown[0],
            fix="check the ids (versions included, e.g. ENSG….7) against the gene table.",
        )
    return genes.iloc[[position[gene_id] for gene_id in gene_ids]]


def _position(value: object) -> int | None:
    """Return ``value`` as a non-negative integer position, or None when it is not one."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if isinstance(value, bool) or not number.is_integer() or number < 0:
        return None
    return int(number)


def _task(row: pd.Series, genome: Genome, allow_padding: bool, source: str) -> GeneTask:
    """Check one gene-table row and turn it into a task."""
    gene_id, chrom, strand = str(row["gene_id"]), str(row["chrom"]), str(row["strand"])
    if strand not in ("+", "-"):
        raise InputError(source, f"strand {strand!r} is not '+' or '-'.", record=gene_id)
    tss = _position(row["tss"])
    if tss is None:
        raise InputError(
            source, f"tss {row['tss']!r} is not a 0-based position (integer >= 0).", record=gene_id
        )
    try:
        genome.resolve(chrom)
    except InputError as exc:
        raise InputError(
            source,
            f"gene {gene_id} lies on contig {chrom!r}, which the FASTA does not hold "
            f"({exc.problem})",
            record=gene_id,
            fix="use the FASTA of the gene table's genome build, or drop the gene.",
        ) from exc
    gene_path(".", gene_id)  # refuses ids that cannot name the gene's output file
    padded = check_gene_span(genome, gene_id, chrom, tss, strand, allow_padding=allow_padding)
    return GeneTask(gene_id, chrom, tss, strand, padded)


def plan_genes(
    genes: pd.DataFrame,
    genome: Genome,
    gene_ids: Sequence[str] | None = None,
    allow_padding: bool = False,
) -> list[GeneTask]:
    """Check a gene table and return the genes to score, in table (or ``gene_ids``) order.

    Parameters
    ----------
    genes : pandas.DataFrame
        Columns gene_id, chrom, tss (0-based), strand; ``attrs["path"]``, when set, names
        the file in errors.
    genome : Genome
        Reference.
    gene_ids : sequence of str, optional
        Score only these genes, in this order. Default None: all.
    allow_padding : bool, optional
        Accept genes whose windows run past a contig end. Default False.

    Returns
    -------
    list of GeneTask
    """
    source = _source(genes)
    chosen = _select(genes, gene_ids, source)
    return [_task(row, genome, allow_padding, source) for _, row in chosen.iterrows()]


def check_samples(vcf: PhasedVCF | None, samples: Sequence[str]) -> list[str]:
    """Check that every sample is in the VCF, once, and is not named ``ref``.

    Parameters
    ----------
    vcf : PhasedVCF or None
        Genotypes; None only with no samples (reference predictions only).
    samples : sequence of str
        Samples to score.

    Returns
    -------
    list of str
        The samples, in order.
    """
    samples = [str(sample) for sample in samples]
    if vcf is None:
        if samples:
            raise InputError(
                "argument vcf",
                f"{len(samples)} sample(s) requested but no VCF given.",
                fix="pass the phased VCF, or samples=[] for reference predictions only.",
            )
        return samples
    known = set(vcf.samples)
    for sample in samples:
        if sample not in known:
            raise InputError(
                vcf.path,
                f"sample {sample!r} is not in the VCF ({len(known)} samples, e.g. "
                f"{', '.join(vcf.samples[:5])}).",
                record=sample,
                fix="check the sample ids against the VCF's #CHROM line.",
            )
        if sample == REF or samples.count(sample) > 1:
            raise InputError(
                vcf.path,
                f"sample {sample!r} is requested twice or clashes with the reference row "
                f"label {REF!r}.",
                record=sample,
                fix="request each sample once (rename a sample called 'ref').",
            )
    return samples


def split_done(
    out_dir: str | os.PathLike[str], tasks: Sequence[GeneTask], rows: Sequence[str]
) -> tuple[list[GeneTask], list[GeneTask]]:
    """Split tasks into those still to do and those whose output file already exists.

    Parameters
    ----------
    out_dir : str or PathLike
        Output folder.
    tasks : sequence of GeneTask
        Genes of this run.
    rows : sequence of str
        Row labels this run writes; an existing file with other rows is refused.

    Returns
    -------
    (list of GeneTask, list of GeneTask)
        To do, and already done.
    """
    todo, done = [], []
    for task in tasks:
        path = gene_path(out_dir, task.gene_id)
        if not path.exists():
            todo.append(task)
            continue
        found = read_rows(path)
        if found != list(rows):
            raise InputError(
                path,
                f"was scored for other samples ({len(found)} rows, this run has {len(rows)}).",
                record=task.gene_id,
                fix="score into a new output folder, or delete the old gene files.",
            )
        done.append(task)
    return todo, done


def haplotype_variants(
    vcf: PhasedVCF | None, task: GeneTask, samples: Sequence[str]
) -> list[tuple[Variant, ...]]:
    """Return the ALT variants each haplotype carries around a gene's windows.

    Parameters
    ----------
    vcf : PhasedVCF or None
        Phased genotypes (None: no samples).
    task : GeneTask
        The gene.
    samples : sequence of str
        Samples, in order.

    Returns
    -------
    list of tuple of Variant
        ``2 × len(samples)`` entries: haplotype 1 then 2 of each sample, in file order.
        The search span covers the windows plus every base the haplotype's deletions
        could pull into them.
    """
    if vcf is None or not samples:
        return []
    left, right = gene_span(task.strand)
    margin = _MARGIN
    while True:
        found = vcf.genotypes(
            task.chrom, task.tss - left - margin, task.tss + right + margin, samples
        )
        haplotypes = [tuple(hap) for sample in samples for hap in found.haplotypes(sample)]
        deleted = max(sum(max(0, len(v.ref) - len(v.alt)) for v in hap) for hap in haplotypes)
        if deleted < margin:
            return haplotypes
        margin = 2 * deleted + 1
