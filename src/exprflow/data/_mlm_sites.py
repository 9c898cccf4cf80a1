"""Candidate SNPs of one gene's window for the haplotype MLM dataset, read from a VCF.

Internal to :mod:`exprflow.data.mlm_dataset`. Records are read raw through
``pysam.VariantFile`` (bgzipped + indexed VCF, or indexed BCF) because the site filter
*excludes* what :class:`~exprflow.genome.vcf.PhasedVCF` refuses: multi-allelic records,
indels, non-PASS records are skipped here, and missing or unphased calls become ``N``.

Site filter (the published bcftools filter): one REF and one ALT base of A/C/G/T; FILTER
``PASS`` or ``.``; ``min_maf < AF < 1 - min_maf`` with AF the ALT allele frequency over the
called alleles of **every** sample of the file (INFO ``AF`` is not trusted); position
within ``TSS ± window``. The kept SNPs are cropped to ``max_snps`` centred on the TSS
index (the first/last ``max_snps`` at the window's edges).

Genotype codes: ``0|0→0 (R)``, ``0|1→1 (F)``, ``1|0→2 (M)``, ``1|1→3 (B)``, anything else
(missing, unphased ``/``, haploid) ``→4 (N)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd
import pysam

from exprflow.errors import InputError
from exprflow.genome.contigs import contig_aliases

__all__ = ["GeneWindow", "crop_bounds", "gene_window", "read_sites"]

_BASES = frozenset("ACGTacgt")
_N_CODE = 4
_BATCH = 1024
_COLUMNS = ["chrom", "pos", "id", "ref", "alt"]


class GeneWindow(NamedTuple):
    """SNPs passing the site filter in a region (:func:`read_sites`) or kept for a gene.

    Attributes
    ----------
    sites : pandas.DataFrame
        One row per kept SNP in position order: ``chrom`` (as in the VCF), ``pos``
        (1-based), ``id``, ``ref``, ``alt``, ``AF``.
    codes : numpy.ndarray
        uint8, shape ``(V, S)``: genotype code 0–4 of every sample of the file (file order).
    initial_counts : int
        SNPs passing the filter in the region, or in the gene's window before cropping.
    """

    sites: pd.DataFrame
    codes: np.ndarray
    initial_counts: int


def crop_bounds(n: int, tss_index: int, max_snps: int) -> tuple[int, int]:
    """Return ``[start, end)`` of ``max_snps`` SNPs centred on ``tss_index``, kept in range.

    Parameters
    ----------
    n : int
        Number of SNPs in the window.
    tss_index : int
        Index of the first SNP at or after the TSS (0…n).
    max_snps : int
        How many to keep at most.

    Returns
    -------
    (int, int)
        ``start = tss_index - max_snps // 2`` moved into ``[0, n - max_snps]``; all SNPs
        when ``n <= max_snps``.
    """
    if n <= max_snps:
        return 0, n
    start = min(max(tss_index - max_snps // 2, 0), n - max_snps)
    return start, start + max_snps


@lru_cache(maxsize=1024)
def _parse_gt(text: str) -> tuple[int, int, int]:
    """Return allele 1, allele 2 (-1 unknown) and phased (0/1) of one GT text."""
    gt = text.partition(":")[0]
    parts = gt.replace("/", "|").split("|")
    if len(parts) != 2 or any(part not in {"0", "1", "."} for part in parts):
        return -1, -1, 0
    first, second = (-1 if part == "." else int(part) for part in parts)
    return first, second, int("/" not in gt)


def _codes_and_af(gts: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Return genotype codes ``(V, S)`` uint8 and ALT frequencies ``(V,)`` (NaN: no call)."""
    index, uniques = pd.factorize(np.asarray(gts, dtype=object).ravel())
    table = np.array([_parse_gt(text) for text in uniques], dtype=np.int8).reshape(-1, 3)
    calls = table[index].reshape(len(gts), -1, 3)
    alleles, phased = calls[..., :2], calls[..., 2].astype(bool)
    called = (alleles >= 0).sum(axis=(1, 2))
    alt = (alleles == 1).sum(axis=(1, 2))
    af = np.divide(alt, called, out=np.full(len(gts), np.nan), where=called > 0)
    known = phased & (alleles >= 0).all(axis=2)
    codes = np.where(known, alleles[..., 0] * 2 + alleles[..., 1], _N_CODE).astype(np.uint8)
    return codes, af


def _site_batches(
    records: Iterable[pysam.VariantRecord], path: str | os.PathLike[str]
) -> Iterator[tuple[list[tuple[str, int, str, str, str]], list[list[str]]]]:
    """Yield batches of up to ``_BATCH`` sites: ``(chrom, pos, id, ref, alt)`` and GT texts."""
    rows, gts = [], []
    for rec in records:
        if not _is_site(rec):
            continue
        fields = str(rec).rstrip("\n").split("\t")
        if len(fields) < 10 or fields[8].split(":")[0] != "GT":
            raise InputError(
                path,
                "has no GT genotype field.",
                record=f"{rec.chrom}:{rec.pos} {rec.id or '.'}",
                fix="give a VCF with GT as the first FORMAT field.",
            )
        rows.append((rec.chrom, rec.pos, fields[2], fields[3].upper(), fields[4].upper()))
        gts.append(fields[9:])
        if len(rows) == _BATCH:
            yield rows, gts
            rows, gts = [], []
    if rows:
        yield rows, gts


def _is_site(rec: pysam.VariantRecord) -> bool:
    """Whether a record is a PASS (or unfiltered) biallelic SNV."""
    alts = rec.alts or ()
    ref = rec.ref or ""
    if len(alts) != 1 or len(ref) != 1 or len(alts[0]) != 1:
        return False
    if ref not in _BASES or alts[0] not in _BASES:
        return False
    return list(rec.filter.keys()) in ([], ["PASS"])


def _contig(vcf: pysam.VariantFile, chrom: str) -> str | None:
    """The spelling of ``chrom`` in the VCF index, None when absent."""
    indexed = {str(name) for name in vcf.index} if vcf.index is not None else set()
    return next((name for name in contig_aliases(chrom) if name in indexed), None)


def read_sites(
    vcf: pysam.VariantFile,
    path: str | os.PathLike[str],
    chrom: str,
    start: int,
    end: int,
    min_maf: float,
) -> GeneWindow:
    """Read the SNPs passing the site filter in ``chrom:[start, end)`` and their codes.

    Parameters
    ----------
    vcf : pysam.VariantFile
        Open indexed VCF/BCF.
    path : str or PathLike
        Its path, named in errors.
    chrom : str
        Contig (aliases ``chr1``↔``1`` accepted; absent: no SNPs).
    start, end : int
        0-based half-open region.
    min_maf : float
        Minor allele frequency threshold (exclusive).

    Returns
    -------
    GeneWindow
        Every passing SNP (``initial_counts`` = their number), empty when none.
    """
    contig = _contig(vcf, chrom)
    records = vcf.fetch(contig, max(start, 0), end) if contig else ()
    tables = [pd.DataFrame(columns=[*_COLUMNS, "AF"])]
    codes = [np.zeros((0, len(vcf.header.samples)), np.uint8)]
    for rows, gts in _site_batches(records, path):
        batch, af = _codes_and_af(gts)
        keep = (af > min_maf) & (af < 1 - min_maf)
        tables.append(pd.DataFrame(rows, columns=_COLUMNS).assign(AF=af).loc[keep])
        codes.append(batch[keep])
    sites = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    return GeneWindow(sites, np.concatenate(codes), len(sites))


def gene_window(sites: GeneWindow, tss: int, window: int, max_snps: int) -> GeneWindow:
    """Cut one gene's SNPs out of a region read by :func:`read_sites`.

    Parameters
    ----------
    sites : GeneWindow
        Passing SNPs of a region covering ``tss ± window``.
    tss : int
        0-based TSS.
    window : int
        Half-width in bp: SNPs with ``|pos0 - tss| <= window`` are the gene's candidates.
    max_snps : int
        SNPs kept at most, centred on the TSS index.

    Returns
    -------
    GeneWindow
        ``initial_counts`` = candidates before cropping.
    """
    pos0 = sites.sites["pos"].to_numpy(dtype=np.int64) - 1
    first = int(np.searchsorted(pos0, tss - window, side="left"))
    last = int(np.searchsorted(pos0, tss + window, side="right"))
    tss_index = int(np.searchsorted(pos0[first:last], tss))
    start, end = crop_bounds(last - first, tss_index, max_snps)
    rows = slice(first + start, first + end)
    kept = sites.sites.iloc[rows].reset_index(drop=True)
    return GeneWindow(kept, sites.codes[rows], last - first)
