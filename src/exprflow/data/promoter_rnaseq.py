"""The ``RNASeq`` pretraining task: promoter windows of each gene → Roadmap expression.

Inputs: a genome FASTA (:class:`exprflow.genome.fasta.Genome`), ``prepare``'s gene table
(``genes.tsv``: ``gene_id``, ``chrom``, ``tss`` 0-based, ``strand`` ``+``/``-``; other
columns ignored) and a Roadmap ``57epigenomes.RPKM.pc`` table
(:func:`exprflow.data.roadmap.read_roadmap_rpkm`; gene versions ignored in the join).

Each gene gives three 250-bp windows at [−300, −50), [−100, 150) and [100, 350) relative
to its TSS (offset 0 = the TSS base; negative = upstream). On ``+`` the window
``[a, b)`` is ``[tss + a, tss + b)``; on ``-`` it is ``[tss − b + 1, tss − a + 1)``,
reverse-complemented, so in both cases the TSS is base ``−a`` of the window, read on the
gene's strand. Windows past a contig end are ``N``-padded (and logged by the genome).

Targets: ``log2(RPKM + 1)`` z-scored per epigenome column over the genes kept
(population sd; a constant column gives 0); outputs are the table's epigenome ids
(K562 = ``E123``). Genes without a row in the table are dropped (counted, logged).
Each window is a row; ``group`` is the gene's index, so val/test predictions can be
averaged over a gene's windows. Split (one column), published
(:data:`exprflow.data.promoter_chromsplit.PUBLISHED_SPLIT`): val chr4, chr17; test chr2,
9, 10, 13, 20, 21; train the other autosomes; genes on other contigs (X, Y, M …) are
dropped and counted (``chrN`` and ``N`` spellings alike).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.data.promoter_chromsplit import (
    DROPPED,
    PUBLISHED_SPLIT,
    ChromosomeSplit,
    chromosome_split,
)
from exprflow.data.promoter_codes import encode_codes, reverse_complement_codes
from exprflow.data.promoter_tasks import SPLITS, TaskData, TaskSpec
from exprflow.data.roadmap import read_roadmap_rpkm, strip_version
from exprflow.errors import InputError
from exprflow.genome.fasta import Genome

__all__ = ["RNASEQ_TASK", "WINDOWS", "build_rnaseq_task"]

log = logging.getLogger(__name__)

RNASEQ_TASK = "RNASeq"
#: Promoter windows ``[a, b)`` relative to the TSS (published).
WINDOWS: tuple[tuple[int, int], ...] = ((-300, -50), (-100, 150), (100, 350))
_GENE_COLUMNS = ("gene_id", "chrom", "tss", "strand")


def _read_genes(genes: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, str]:
    """The gene table (from a frame or ``genes.tsv``) and its source name, validated."""
    if isinstance(genes, pd.DataFrame):
        table, source = genes, str(genes.attrs.get("path", "<genes>"))
    else:
        source = str(genes)
        try:
            table = pd.read_csv(genes, sep="\t", dtype={"gene_id": str, "chrom": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(genes, f"cannot read the gene table: {exc}.") from exc
    missing = [c for c in _GENE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            source,
            f"gene table lacks column(s) {missing}.",
            record="header",
            fix="give prepare's genes.tsv (gene_id, chrom, tss, strand …).",
        )
    bad = ~table["strand"].isin(["+", "-"])
    if bad.any():
        row = table.loc[bad].iloc[0]
        raise InputError(
            source,
            f"strand {row['strand']!r} is neither '+' nor '-'.",
            record=str(row["gene_id"]),
            fix="give each gene's strand as + or -.",
        )
    return table.reset_index(drop=True), source


def _windows(genome: Genome, genes: pd.DataFrame, length: int) -> np.ndarray:
    """Codes ``(genes × windows, length)`` on each gene's strand, gene-major."""
    seqs, minus = [], []
    for row in genes.itertuples(index=False):
        tss, negative = int(row.tss), row.strand == "-"
        for a, b in WINDOWS:
            start, end = (tss - b + 1, tss - a + 1) if negative else (tss + a, tss + b)
            seqs.append(genome.fetch(str(row.chrom), start, end))
            minus.append(negative)
    codes = encode_codes(seqs, length, source=str(genome.path))
    flip = np.asarray(minus, dtype=bool)
    codes[flip] = reverse_complement_codes(codes[flip])
    return codes


def _zscored_log(values: np.ndarray) -> np.ndarray:
    """log2(x + 1) z-scored per column (population sd; a constant column gives 0)."""
    logged = np.log2(values + 1.0)
    sd = logged.std(axis=0)
    return (logged - logged.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _check_splits(
    genome: Genome, genes: pd.DataFrame, codes: np.ndarray, split: ChromosomeSplit
) -> None:
    """Refuse a split without train, val or test genes, naming the chromosomes."""
    for name, code in SPLITS.items():
        if not (codes == code).any():
            wanted = [f"chr{c}" for c in getattr(split, name)]
            present = sorted({str(c) for c in genes["chrom"]})
            raise InputError(
                genome.path,
                f"no gene lies on a {name} chromosome ({', '.join(wanted)}); the genes lie on "
                f"{', '.join(present) or 'no chromosome'}.",
                record=f"{name} chromosomes",
                fix=f"use a genome and gene table with genes on {', '.join(wanted)}, or pass a "
                "ChromosomeSplit naming chromosomes that hold genes.",
            )


def _select(table: pd.DataFrame, rpkm: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
    """Genes to keep: on a split chromosome and with an expression row (drops logged)."""
    on_split = codes != DROPPED
    has_row = np.asarray(pd.Index(strip_version(table["gene_id"].astype(str))).isin(rpkm.index))
    for count, why in (
        ((~on_split).sum(), "lie off the split's chromosomes"),
        (
            (on_split & ~has_row).sum(),
            "have no expression row",
        ),
    ):
        if count:
            log.warning("RNASeq: %d of %d genes %s; dropped", count, len(table), why)
    return np.asarray(on_split & has_row)


def build_rnaseq_task(
    genome: Genome | str | Path,
    genes: pd.DataFrame | str | Path,
    roadmap_rpkm: pd.DataFrame | str | Path,
    *,
    split: ChromosomeSplit = PUBLISHED_SPLIT,
) -> TaskData:
    """Build the RNASeq task (layout in the module docstring).

    Parameters
    ----------
    genome : Genome or str or Path
        The reference the windows are read from (opened and closed here when a path).
    genes : pandas.DataFrame or str or Path
        ``prepare``'s gene table, or the path of its ``genes.tsv``.
    roadmap_rpkm : pandas.DataFrame or str or Path
        :func:`~exprflow.data.roadmap.read_roadmap_rpkm` output, or the table's path.
    split : ChromosomeSplit, optional
        Train/val/test chromosomes. Default the published split.

    Returns
    -------
    TaskData
        Three rows per kept gene (gene-major), one split column.

    Raises
    ------
    InputError
        For a bad gene or RPKM table, a gene on a contig the genome lacks, no gene
        left, or no gene on a train, validation or test chromosome.
    """
    if not isinstance(genome, Genome):
        with Genome(genome) as opened:
            return build_rnaseq_task(opened, genes, roadmap_rpkm, split=split)
    table, source = _read_genes(genes)
    rpkm = (
        roadmap_rpkm if isinstance(roadmap_rpkm, pd.DataFrame) else read_roadmap_rpkm(roadmap_rpkm)
    )
    codes = chromosome_split(table["chrom"].astype(str), split)
    keep = _select(table, rpkm, codes)
    if not keep.any():
        raise InputError(
            source,
            f"none of the {len(table)} genes is on a split chromosome with an expression row "
            f"in {rpkm.attrs.get('path', 'the RPKM table')}.",
            fix="give the gene table and RPKM table of one annotation and genome.",
        )
    kept, codes = table.loc[keep].reset_index(drop=True), codes[keep]
    _check_splits(genome, kept, codes, split)
    n_windows, length = len(WINDOWS), max(b - a for a, b in WINDOWS)
    values = rpkm.loc[strip_version(kept["gene_id"].astype(str))].to_numpy(dtype=np.float64)
    ids = [f"{g}:{a}:{b}" for g in kept["gene_id"].astype(str) for a, b in WINDOWS]
    return TaskData(
        spec=TaskSpec(
            RNASEQ_TASK,
            "regression",
            tuple(map(str, rpkm.columns)),
            rpkm.shape[1],
            max_length=length,
        ),
        ids=np.array(ids, dtype=str),
        codes=_windows(genome, kept, length),
        lengths=np.full(len(ids), length, dtype=np.int32),
        targets=np.repeat(_zscored_log(values), n_windows, axis=0).astype(np.float32),
        mask=np.ones((len(ids), rpkm.shape[1]), dtype=bool),
        splits=np.repeat(codes, n_windows)[:, None],
        group=np.repeat(np.arange(len(kept), dtype=np.int64), n_windows),
    )
