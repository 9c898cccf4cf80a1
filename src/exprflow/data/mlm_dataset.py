"""The haplotype MLM dataset (lm-eqtl layout): build it from a phased VCF, read it back.

Files (one folder)
------------------
``dataset.parquet``
    A pandas DataFrame written with pyarrow. Its index holds ``split:sample_id:GENE_ID``
    strings (``split`` is ``train`` or ``test``); its only column ``seq`` is one
    character per SNP of the gene: ``0|0→R``, ``0|1→F``, ``1|0→M``, ``1|1→B``, anything
    else (missing, unphased) ``→N`` (:data:`GENOTYPE_CODES`).
``meta.csv.gz``
    ``chrom,pos,id,ref,alt,AF,initial_counts,GENE_ID,seq_idx`` (:data:`META_COLUMNS`): one
    row per SNP of each gene, ``seq_idx`` 0…n-1 its character in ``seq``; ``chrom``
    without a ``chr`` prefix, ``pos`` 1-based, ``AF`` the ALT frequency over all samples
    of the VCF, ``initial_counts`` the gene's SNPs in ``TSS ± window`` before cropping.
    ``../shared/real/mlm/meta.csv.gz`` (published top-10 genes) is one.

Building (published ``dataprep.ipynb``)
---------------------------------------
Genes: eQTLs with ``pvalue < eqtl_pvalue`` and ``CHR_SNP == CHR_GENE`` counted per gene,
most eQTLs first (ties by gene id), the first ``n_genes`` that the gene table holds (a
small cohort with fewer such genes is filled with the genes with most cis-eQTLs in the
table); with no eQTL table, the gene table's first ``n_genes``. SNPs: see
:mod:`exprflow.data._mlm_sites` (biallelic PASS SNVs, ``min_maf < AF < 1 - min_maf``,
``TSS ± window``, ``max_snps`` centred on the TSS). Split: ``test`` for the test
samples, ``train`` for the others (all VCF samples, or ``train_samples``). Rows are gene
by gene, samples in VCF order.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from exprflow.atomic import atomic_path
from exprflow.data._mlm_files import (
    DATASET_FILE,
    GENOTYPE_CODES,
    META_COLUMNS,
    META_FILE,
    SPLITS,
    gene_maf,
    read_meta,
    read_mlm_dataset,
)
from exprflow.data._mlm_sites import GeneWindow, gene_window, read_sites
from exprflow.data.geuvadis import read_eqtls
from exprflow.errors import InputError

__all__ = [
    "DATASET_FILE",
    "GENOTYPE_CODES",
    "META_COLUMNS",
    "META_FILE",
    "SPLITS",
    "MlmDatasetSummary",
    "build_mlm_dataset",
    "gene_maf",
    "read_meta",
    "read_mlm_dataset",
    "select_mlm_genes",
]

log = logging.getLogger(__name__)

#: Genes whose windows overlap are read together over at most this many bp.
_MAX_SPAN = 10_000_000
_LOOKUP = np.frombuffer(GENOTYPE_CODES.encode(), dtype=np.uint8)


@dataclass(frozen=True)
class MlmDatasetSummary:
    """What :func:`build_mlm_dataset` wrote.

    Attributes
    ----------
    folder : Path
        Folder holding ``dataset.parquet`` and ``meta.csv.gz``.
    genes : tuple of str
        Gene ids in dataset order.
    snps : dict of str to int
        SNPs per gene (the length of its ``seq``).
    span_bp : dict of str to int
        Distance from the first to the last SNP of each gene.
    n_train, n_test : int
        Samples in each split.
    seconds : float
        Build time.
    """

    folder: Path
    genes: tuple[str, ...]
    snps: dict[str, int]
    span_bp: dict[str, int]
    n_train: int
    n_test: int
    seconds: float


def select_mlm_genes(
    genes: pd.DataFrame,
    eqtls_path: str | os.PathLike[str] | None,
    n_genes: int,
    eqtl_pvalue: float = 1e-12,
) -> list[str]:
    """Return the genes of the dataset: most eQTLs first, as published.

    Parameters
    ----------
    genes : pandas.DataFrame
        Gene table with a ``gene_id`` column (``prepare``'s ``genes.tsv``).
    eqtls_path : str, PathLike or None
        EUR373-layout eQTL table; None: the gene table's order.
    n_genes : int
        How many genes at most.
    eqtl_pvalue : float, optional
        eQTLs counted have ``pvalue`` below it (and ``CHR_SNP == CHR_GENE``). Default 1e-12.

    Returns
    -------
    list of str
        Up to ``n_genes`` gene ids.

    Raises
    ------
    InputError
        When no gene of the table has a cis-eQTL in the table.

    Notes
    -----
    Genes rank by their eQTLs below ``eqtl_pvalue``, then by all their cis-eQTLs in the
    table, then by id: when fewer than ``n_genes`` genes have eQTLs below the threshold
    (a small cohort), the genes with the most eQTLs in the table fill the list.
    """
    known = list(dict.fromkeys(genes["gene_id"].astype(str)))
    if eqtls_path is None:
        return known[:n_genes]
    table = read_eqtls(Path(eqtls_path))
    cis = table.loc[table["CHR_SNP"].astype(str) == table["CHR_GENE"].astype(str)]
    cis = cis.loc[cis["GENE_ID"].astype(str).isin(set(known))]
    counts = (
        pd.DataFrame(
            {
                "strict": (cis["pvalue"] < eqtl_pvalue).groupby(cis["GENE_ID"].astype(str)).sum(),
                "all": cis.groupby(cis["GENE_ID"].astype(str)).size(),
            }
        )
        .rename_axis("GENE_ID")
        .reset_index()
    )
    ranked = counts.sort_values(
        ["strict", "all", "GENE_ID"], ascending=[False, False, True], kind="stable"
    )
    chosen = ranked["GENE_ID"].head(n_genes).tolist()
    if not chosen:
        raise InputError(
            eqtls_path,
            f"no gene of the gene table has a cis-eQTL (CHR_SNP == CHR_GENE); "
            f"{len(table)} rows read.",
            fix="check that the eQTL table and the gene table use the same gene ids.",
        )
    strict = int((ranked["strict"].head(n_genes) > 0).sum())
    if strict < len(chosen):
        log.warning(
            "%d of %d genes have eQTLs below %g; the others are the genes with the most "
            "eQTLs in the table",
            strict,
            len(chosen),
            eqtl_pvalue,
        )
    return chosen


def _check_samples(path: Path, present: list[str], wanted: Sequence[str], what: str) -> None:
    """Refuse samples absent from the VCF, naming the first and a few present."""
    have = set(present)
    absent = [s for s in wanted if s not in have]
    if absent:
        raise InputError(
            path,
            f"{what} sample {absent[0]!r} is not in the VCF ({len(absent)} missing); it has "
            f"{len(present)} samples, e.g. {', '.join(present[:5]) or 'none'}.",
            record=absent[0],
            fix="check the sample ids against the VCF's #CHROM header line.",
        )


def _gene_rows(genes: pd.DataFrame, chosen: list[str]) -> pd.DataFrame:
    """The gene table's rows of ``chosen``, in that order (first row of a duplicate id)."""
    table = genes.assign(gene_id=genes["gene_id"].astype(str)).drop_duplicates("gene_id")
    return table.set_index("gene_id").loc[chosen].reset_index()


def _meta_rows(gene: str, window: GeneWindow) -> pd.DataFrame:
    """The ``meta.csv.gz`` rows of one gene."""
    sites = window.sites
    chrom = sites["chrom"].astype(str).str.removeprefix("chr")
    return pd.DataFrame(
        {
            "chrom": chrom,
            "pos": sites["pos"].astype(np.int64),
            "id": sites["id"],
            "ref": sites["ref"],
            "alt": sites["alt"],
            "AF": sites["AF"].astype(float),
            "initial_counts": window.initial_counts,
            "GENE_ID": gene,
            "seq_idx": np.arange(len(sites), dtype=np.int64),
        },
        columns=list(META_COLUMNS),
    )


def _seq_strings(codes: np.ndarray) -> list[str]:
    """Genotype strings of codes ``(V, S)`` uint8: one string of V characters per sample."""
    chars = np.ascontiguousarray(_LOOKUP[codes].T)
    return chars.view(f"S{codes.shape[0]}").ravel().astype(str).tolist()


def _clusters(table: pd.DataFrame, window: int) -> list[tuple[str, int, int, list[int]]]:
    """Group genes whose windows overlap on a contig, spanning at most ``_MAX_SPAN`` bp.

    Returns ``(chrom, start, end, rows)``: a 0-based half-open region to read once and the
    positions in ``table`` of the genes it serves.
    """
    clusters: list[tuple[str, int, int, list[int]]] = []
    order = table.assign(_row=np.arange(len(table))).sort_values(["chrom", "tss"], kind="stable")
    for chrom, tss, row in zip(
        order["chrom"].astype(str), order["tss"], order["_row"], strict=True
    ):
        lo, hi = int(tss) - window, int(tss) + window + 1
        if clusters:
            last_chrom, first, last, rows = clusters[-1]
            if last_chrom == chrom and lo <= last and hi - first <= max(_MAX_SPAN, 2 * window + 1):
                clusters[-1] = (chrom, first, max(last, hi), [*rows, int(row)])
                continue
        clusters.append((chrom, lo, hi, [int(row)]))
    return clusters


def _read_genes(
    vcf_path: Path,
    table: pd.DataFrame,
    *,
    window: int,
    min_maf: float,
    max_snps: int,
    skip_empty: bool,
) -> dict[str, GeneWindow]:
    """Read every gene's SNPs; a gene without SNPs is refused, or skipped with a warning."""
    windows: dict[int, GeneWindow] = {}
    with pysam.VariantFile(str(vcf_path)) as vcf:
        for chrom, start, end, rows in _clusters(table, window):
            sites = read_sites(vcf, vcf_path, chrom, start, end, min_maf)
            for row in rows:
                windows[row] = gene_window(sites, int(table["tss"].iloc[row]), window, max_snps)
    found: dict[str, GeneWindow] = {}
    for row, gene in enumerate(table.itertuples()):
        if len(windows[row].sites):
            found[str(gene.gene_id)] = windows[row]
            continue
        problem = (
            f"no biallelic PASS SNP with {min_maf:g} < AF < {1 - min_maf:g} within "
            f"{window:,} bp of the TSS of {gene.gene_id} ({gene.chrom}:{int(gene.tss) + 1})."
        )
        if not skip_empty:
            raise InputError(
                vcf_path,
                problem,
                record=str(gene.gene_id),
                fix="drop the gene, widen the window, lower min_maf, or pass skip_empty.",
            )
        log.warning("%s: %s Skipped.", vcf_path, problem)
    if not found:
        raise InputError(
            vcf_path, "no gene has a common SNP in its window.", fix="check the contig names."
        )
    return found


def build_mlm_dataset(
    vcf_path: str | os.PathLike[str],
    genes: pd.DataFrame,
    eqtls_path: str | os.PathLike[str] | None,
    test_samples: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    n_genes: int,
    max_snps: int = 5000,
    min_maf: float = 0.03,
    window: int = 1_000_000,
    eqtl_pvalue: float = 1e-12,
    train_samples: Sequence[str] | None = None,
    skip_empty: bool = False,
) -> MlmDatasetSummary:
    """Write ``dataset.parquet`` and ``meta.csv.gz`` for the top genes (module docstring).

    Parameters
    ----------
    vcf_path : str or PathLike
        Phased, indexed VCF/BCF.
    genes : pandas.DataFrame
        ``gene_id``, ``chrom``, ``tss`` (0-based), … (``prepare``'s ``genes.tsv``).
    eqtls_path : str, PathLike or None
        EUR373-layout eQTL table ranking the genes; None: the gene table's order.
    test_samples : sequence of str
        Samples of split ``test``; all must be in the VCF.
    out_dir : str or PathLike
        Folder to write (created; files replaced atomically).
    n_genes : int
        Genes at most.
    max_snps : int, optional
        SNPs per gene at most. Default 5000.
    min_maf : float, optional
        Minor allele frequency threshold, exclusive. Default 0.03.
    window : int, optional
        Half-width around the TSS in bp. Default 1,000,000.
    eqtl_pvalue : float, optional
        eQTL p-value threshold for ranking. Default 1e-12.
    train_samples : sequence of str, optional
        Samples of split ``train``; default None: every other VCF sample.
    skip_empty : bool, optional
        Skip (with a warning) genes without SNPs instead of refusing them. Default False.

    Returns
    -------
    MlmDatasetSummary
        Genes, SNPs and span per gene, split sizes, seconds.

    Raises
    ------
    InputError
        A sample absent from the VCF, a gene without SNPs (unless ``skip_empty``), no
        gene with eQTLs.
    """
    started = time.perf_counter()
    vcf_path, out = Path(vcf_path), Path(out_dir)
    with pysam.VariantFile(str(vcf_path)) as vcf:
        present = list(vcf.header.samples)
    _check_samples(vcf_path, present, test_samples, "test")
    _check_samples(vcf_path, present, train_samples or [], "train")
    test = set(test_samples)
    train = set(present) - test if train_samples is None else set(train_samples) - test
    columns = [i for i, s in enumerate(present) if s in test or s in train]
    splits = ["test" if present[i] in test else "train" for i in columns]
    chosen = select_mlm_genes(genes, eqtls_path, n_genes, eqtl_pvalue)
    windows = _read_genes(
        vcf_path,
        _gene_rows(genes, chosen),
        window=window,
        min_maf=min_maf,
        max_snps=max_snps,
        skip_empty=skip_empty,
    )
    index, seqs = [], []
    for gene, read in windows.items():
        index += [f"{split}:{present[i]}:{gene}" for split, i in zip(splits, columns, strict=True)]
        seqs += _seq_strings(read.codes[:, columns])
    meta = pd.concat([_meta_rows(gene, read) for gene, read in windows.items()], ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / DATASET_FILE) as tmp:
        labels = pd.Index(index, dtype=object)
        frame = pd.Series(seqs, index=labels, dtype=object, name="seq").to_frame()
        frame.to_parquet(tmp, engine="pyarrow")
    with atomic_path(out / META_FILE) as tmp:
        meta.to_csv(tmp, index=False, compression="gzip")
    return MlmDatasetSummary(
        folder=out,
        genes=tuple(windows),
        snps={gene: len(read.sites) for gene, read in windows.items()},
        span_bp={
            g: int(r.sites["pos"].iloc[-1] - r.sites["pos"].iloc[0]) for g, r in windows.items()
        },
        n_train=splits.count("train"),
        n_test=splits.count("test"),
        seconds=time.perf_counter() - started,
    )
