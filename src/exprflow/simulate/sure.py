"""Write SuRE-like fragment tables (van Arensbergen et al. 2019): four genomes, two cells.

The four genomes are the first four individuals of the world's VCF (``samples.tsv``
order). Each gets ``size.sure_fragments`` fragments of 150–500 bp over promoters (45 %),
enhancers (30 %) and background (25 %), each taken from one of the individual's two
haplotypes and cloned in a random orientation. ``snp_pos``/``snp_alt`` list the
individual's ALT alleles of SNVs on that haplotype inside the fragment (1-based VCF
positions, comma-separated, empty when none); indels are never listed (the fragment
keeps the reference there).

Expression: the latent activity ``A`` of a fragment in a cell is ``Σ`` over the planted
sites fully inside it of TF activity × occupancy (:mod:`exprflow.simulate.genes`), plus,
for every planted causal variant (:mod:`exprflow.simulate.causal`) whose site lies
inside the fragment and whose ALT the haplotype carries, TF activity × (ALT − REF
occupancy). The SuRE signal is ``max(0, 20 (A - 0.4) + e)`` with ``e`` ~ N(0, 4): most
fragments read 0 or a few units, fragments with active sites 10–60, so the classes
``min(ceil(x / 10), 4)`` are all populated. K562 is the world's ``E123`` and HepG2 its
``E118`` (a missing one is replaced by the first unused cell type, recorded in truth).

Files written under ``out_dir``: ``sure/SuRE_<sample>.txt.gz``, gzip (mtime 0),
tab-separated with header :data:`SURE_COLUMNS`: ``chrom``, ``start``, ``end`` (0-based
half-open), ``strand``, ``snp_pos``, ``snp_alt``, ``K562``, ``HepG2`` (3 decimals, ≥ 0);
rows sorted by contig (layout order), start, end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exprflow.errors import InputError
from exprflow.simulate._genomic_activity import (
    REGIONS,
    SiteTable,
    assay_cells,
    draw_intervals,
    inside,
    read_contigs,
    site_table,
)
from exprflow.simulate.causal import CausalPlan
from exprflow.simulate.config import WorldSize
from exprflow.simulate.expression import write_gzip_text
from exprflow.simulate.layout import WorldLayout
from exprflow.simulate.population import SNV, alt_code_for

__all__ = ["N_GENOMES", "SURE_COLUMNS", "SURE_DIR", "sure_path", "write_sure"]

SURE_DIR = "sure"
#: Genomes (individuals) measured.
N_GENOMES = 4
#: Header of every table, in order.
SURE_COLUMNS: tuple[str, ...] = (
    "chrom",
    "start",
    "end",
    "strand",
    "snp_pos",
    "snp_alt",
    "K562",
    "HepG2",
)
_LENGTH = (150, 501)  # fragment length range (bases)
_SHARES = (0.45, 0.30, 0.25)  # promoter, enhancer, background fragments
_GAIN, _FLOOR, _NOISE = 20.0, 0.4, 4.0
_ACGT = "ACGT"
# ALT base (ASCII) by SNV alt code and REF base (ASCII), as the VCF writer derives it.
_ALT = np.zeros((3, 256), dtype=np.uint8)
for _ref in _ACGT:
    for _alt in _ACGT.replace(_ref, ""):
        _ALT[alt_code_for(_ref, _alt), ord(_ref)] = ord(_alt)


def sure_path(sample: str) -> str:
    """Relative path of one genome's table, e.g. ``sure/SuRE_HG00096.txt.gz``.

    Parameters
    ----------
    sample : str
        Individual id (VCF sample name).

    Returns
    -------
    str
    """
    return f"{SURE_DIR}/SuRE_{sample}.txt.gz"


def write_sure(
    out_dir: Path,
    layout: WorldLayout,
    plan: CausalPlan,
    fasta: Path,
    size: WorldSize,
    rng: np.random.Generator,
) -> dict:
    """Draw every genome's fragments, simulate their expression and write the tables.

    Parameters
    ----------
    out_dir : Path
        World folder; files go under ``sure/``.
    layout : WorldLayout
        Genes, enhancers, planted sites, cell types and TF activity.
    plan : CausalPlan
        Its ``haplotypes`` are the VCF's variants (same order); its ``variants`` the
        causal ones.
    fasta : Path
        The world's indexed genome FASTA (REF bases of the SNVs).
    size : WorldSize
        Gives ``sure_fragments``.
    rng : np.random.Generator
        Source of every draw; the same seed gives byte-identical files.

    Returns
    -------
    dict
        JSON-able truth: ``files`` (sample → path), ``columns``, ``samples`` (the four,
        in genome order), ``cells`` (``K562``/``HepG2`` → eid), ``coordinates``,
        ``model`` (gain, floor, noise sd) and ``genomes`` (sample → per row in file
        order: ``haplotype`` (0 = first allele of the VCF genotype), ``region`` and
        ``activity`` (cell → latent ``A``)).
    """
    haps = plan.haplotypes
    samples = haps.samples["sample"].tolist()[:N_GENOMES]
    if len(samples) < N_GENOMES:
        raise InputError(
            "Haplotypes.samples",
            f"{len(samples)} individual(s); SuRE needs {N_GENOMES} genomes",
            fix=f"simulate a world with n_individuals >= {N_GENOMES}",
        )
    cells = assay_cells(layout)
    sites = site_table(layout)
    genome = read_contigs(fasta, layout)
    snvs = _snvs(plan, genome)
    files, genomes = {}, {}
    for g, sample in enumerate(samples):
        lines, truth = _genome(layout, plan, sites, snvs, cells, g, size.sure_fragments, rng)
        rel = sure_path(sample)
        write_gzip_text(Path(out_dir) / rel, "".join(lines))
        files[sample], genomes[sample] = rel, truth
    return {
        "files": files,
        "columns": list(SURE_COLUMNS),
        "samples": samples,
        "cells": cells,
        "coordinates": "start, end 0-based half-open; snp_pos 1-based",
        "model": {"gain": _GAIN, "floor": _FLOOR, "noise_sd": _NOISE},
        "genomes": genomes,
    }


def _snvs(plan: CausalPlan, genome: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, ...]]:
    """Per contig: rows of the SNVs in ``plan.haplotypes``, 0-based positions, ALT bases."""
    haps = plan.haplotypes
    found: dict[str, tuple[np.ndarray, ...]] = {}
    for c, name in enumerate(haps.contigs):
        rows = np.flatnonzero((haps.chrom == c) & (haps.kind == SNV))
        pos = haps.pos[rows]
        alt = _ALT[haps.alt_code[rows].astype(np.intp), genome[name][pos]]
        found[name] = (rows, pos, alt.view("S1").astype(str))
    return found


def _genome(
    layout: WorldLayout,
    plan: CausalPlan,
    sites: SiteTable,
    snvs: dict[str, tuple[np.ndarray, ...]],
    cells: dict[str, str],
    g: int,
    n: int,
    rng: np.random.Generator,
) -> tuple[list[str], dict]:
    """One genome's sorted table lines and its truth entry."""
    lengths = rng.integers(*_LENGTH, n)
    region, chrom, start = draw_intervals(layout, n, _SHARES, lengths, rng)
    end = start + lengths
    hap = rng.integers(0, 2, n)
    strand = np.where(rng.random(n) < 0.5, "+", "-")
    column = 2 * g + hap
    latent = {
        name: sites.interval_activity(eid, chrom, start, end)
        + _allele_shift(plan, sites, eid, chrom, start, end, column)
        for name, eid in cells.items()
    }
    signal = {
        name: np.maximum(0.0, _GAIN * (a - _FLOOR) + rng.normal(0.0, _NOISE, n))
        for name, a in latent.items()
    }
    contig_order = {c: i for i, c in enumerate(layout.contigs)}
    order = np.lexsort((end, start, np.array([contig_order[c] for c in chrom])))
    lines = ["\t".join(SURE_COLUMNS) + "\n"]
    for i in order:
        rows, pos, alt = snvs[chrom[i]]
        lo, hi = np.searchsorted(pos, [start[i], end[i]])
        carried = np.flatnonzero(plan.haplotypes.genotypes[rows[lo:hi], column[i]] == 1) + lo
        snp_pos = ",".join(str(p + 1) for p in pos[carried].tolist())
        lines.append(
            f"{chrom[i]}\t{start[i]}\t{end[i]}\t{strand[i]}\t{snp_pos}\t{','.join(alt[carried])}"
            f"\t{signal['K562'][i]:.3f}\t{signal['HepG2'][i]:.3f}\n"
        )
    truth = {
        "haplotype": hap[order].tolist(),
        "region": [REGIONS[r] for r in region[order]],
        "activity": {name: np.round(a[order], 6).tolist() for name, a in latent.items()},
    }
    return lines, truth


def _allele_shift(
    plan: CausalPlan,
    sites: SiteTable,
    eid: str,
    chrom: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    column: np.ndarray,
) -> np.ndarray:
    """Change of latent activity from the causal ALT alleles each fragment carries."""
    shift = np.zeros(len(start))
    for k, v in enumerate(plan.variants):
        delta = sites.tf_activity(v.tf, eid) * (v.occupancy_alt - v.occupancy_ref)
        hit = inside(
            start, end, np.array([v.site_start]), np.array([v.site_start + len(v.ref_site)])
        )[:, 0]
        carries = plan.haplotypes.genotypes[plan.index[k], column] == 1
        shift += np.where(hit & (chrom == v.chrom) & carries, delta, 0.0)
    return shift
