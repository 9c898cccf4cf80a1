"""Write the synthetic genome: a human-like FASTA with CpG islands and planted sites.

Each contig is drawn in one vectorised pass:

1. a GC profile of isochore-like blocks (50–300 kb, GC ≈ N(0.41, 0.02) after
   depletion) and a ~1 kb CpG island (GC 0.65) at the promoters the layout marks (three in four);
2. independent bases from that profile;
3. CpG depletion outside the islands: each CG dinucleotide becomes TG or CA with
   probability 0.85, as methyl-cytosine deamination does (a conversion never creates a
   new CG), which leaves a CpG observed/expected ratio of ≈ 0.2 in the background and
   ≈ 1 in the islands;
4. the planted motif sites and any further edits (causal proto-sites) written over it.

Writes ``genome.fa`` (uppercase ACGT, 60 bases per line) and its ``.fai`` (pysam.faidx).
Positions are 0-based; the FASTA has none.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pysam

from exprflow.atomic import atomic_path
from exprflow.simulate.layout import WorldLayout

__all__ = ["LINE_WIDTH", "cpg_observed_expected", "gc_fraction", "write_genome"]

LINE_WIDTH = 60
_BACKGROUND_GC = 0.455  # before CpG depletion, which removes ≈ 0.045 of GC
_ISOCHORE_SD = 0.02
_ISLAND_GC = 0.65
_DEPLETION = 0.85
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


def gc_fraction(seq: bytes | str) -> float:
    """Fraction of G and C among the A/C/G/T bases of ``seq``."""
    arr = np.frombuffer(seq.upper().encode() if isinstance(seq, str) else seq.upper(), np.uint8)
    acgt = np.isin(arr, _BASES).sum()
    return float(np.isin(arr, _BASES[1:3]).sum() / max(acgt, 1))


def cpg_observed_expected(seq: bytes | str) -> float:
    """CpG observed/expected ratio: ``n(CG) × length / (n(C) × n(G))``."""
    arr = np.frombuffer(seq.upper().encode() if isinstance(seq, str) else seq.upper(), np.uint8)
    c, g = int((arr == ord("C")).sum()), int((arr == ord("G")).sum())
    cg = int(((arr[:-1] == ord("C")) & (arr[1:] == ord("G"))).sum())
    return cg * len(arr) / (c * g) if c and g else 0.0


def _gc_profile(length: int, rng: np.random.Generator) -> np.ndarray:
    """Per-base GC probability: isochore-like blocks of 50–300 kb."""
    profile = np.empty(length)
    start = 0
    while start < length:
        end = min(length, start + int(rng.integers(50_000, 300_001)))
        profile[start:end] = np.clip(rng.normal(_BACKGROUND_GC, _ISOCHORE_SD), 0.36, 0.52)
        start = end
    return profile


def _islands(
    layout: WorldLayout, chrom: str, rng: np.random.Generator
) -> list[tuple[int, int, str]]:
    """CpG islands (start, end, gene id) around the TSSs of genes with ``cpg_island``."""
    found = []
    for gene in layout.genes_on(chrom):
        if gene.cpg_island:
            width = int(rng.integers(800, 1501))
            start = gene.tss - int(rng.integers(width // 4, 3 * width // 4))
            found.append((start, start + width, gene.gene_id))
    return found


def _draw_bases(gc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Independent bases (uint8 ASCII) with per-base GC probability ``gc``."""
    u = rng.random(len(gc))
    at = (1 - gc) / 2
    index = (u >= at).astype(np.int8) + (u >= 0.5) + (u >= 0.5 + gc / 2)
    return _BASES[index]


def _deplete_cpg(seq: np.ndarray, protected: np.ndarray, rng: np.random.Generator) -> None:
    """Turn CG into TG or CA (in place) with probability _DEPLETION outside ``protected``."""
    cg = np.flatnonzero((seq[:-1] == ord("C")) & (seq[1:] == ord("G")) & ~protected[:-1])
    hit = cg[rng.random(len(cg)) < _DEPLETION]
    to_t = rng.random(len(hit)) < 0.5
    seq[hit[to_t]] = ord("T")
    seq[hit[~to_t] + 1] = ord("A")


def _contig_sequence(
    layout: WorldLayout,
    chrom: str,
    edits: list[tuple[int, str]],
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """One contig's bases and its CpG islands."""
    length = layout.contigs[chrom]
    gc = _gc_profile(length, rng)
    islands = _islands(layout, chrom, rng)
    in_island = np.zeros(length, dtype=bool)
    for start, end, _ in islands:
        gc[start:end] = _ISLAND_GC
        in_island[start:end] = True
    seq = _draw_bases(gc, rng)
    _deplete_cpg(seq, in_island, rng)
    for start, bases in edits:
        seq[start : start + len(bases)] = np.frombuffer(bases.encode(), dtype=np.uint8)
    return seq, islands


def _fasta_bytes(name: str, seq: np.ndarray) -> bytes:
    """One FASTA record with LINE_WIDTH-base lines."""
    n_full = len(seq) // LINE_WIDTH
    body = np.empty((n_full, LINE_WIDTH + 1), dtype=np.uint8)
    body[:, :LINE_WIDTH] = seq[: n_full * LINE_WIDTH].reshape(n_full, LINE_WIDTH)
    body[:, LINE_WIDTH] = ord("\n")
    tail = seq[n_full * LINE_WIDTH :].tobytes()
    return f">{name}\n".encode() + body.tobytes() + (tail + b"\n" if tail else b"")


def write_genome(
    path: Path,
    layout: WorldLayout,
    rng: np.random.Generator,
    edits: Iterable[tuple[str, int, str]] = (),
) -> dict[str, object]:
    """Write the genome FASTA and its ``.fai``, atomically.

    Parameters
    ----------
    path : Path
        Destination, e.g. ``genome/genome.fa``; the index goes to ``genome.fa.fai``.
    layout : WorldLayout
        Contigs, genes (for CpG islands) and the planted motif sites.
    rng : numpy.random.Generator
        The genome's own random stream.
    edits : iterable of (contig, 0-based start, bases)
        Further + strand bases written after the sites (causal proto-sites). Default none.

    Returns
    -------
    dict
        Truth fragment: ``{"cpg_islands": [[contig, start, end, gene_id], ...]}`` (0-based,
        half-open).
    """
    by_chrom: dict[str, list[tuple[int, str]]] = {c: [] for c in layout.contigs}
    for site in layout.sites:
        by_chrom[site.chrom].append((site.start, site.sequence))
    for chrom, start, bases in edits:
        by_chrom[chrom].append((start, bases))
    islands: list[list[object]] = []
    with atomic_path(Path(f"{path}.fai")) as tmp_index, atomic_path(path) as tmp:
        with open(tmp, "wb") as out:
            for chrom in layout.contigs:
                seq, found = _contig_sequence(layout, chrom, by_chrom[chrom], rng)
                out.write(_fasta_bytes(chrom, seq))
                islands += [[chrom, s, e, gene_id] for s, e, gene_id in found]
        pysam.faidx(str(tmp))
        os.replace(f"{tmp}.fai", tmp_index)
    return {"cpg_islands": islands}
