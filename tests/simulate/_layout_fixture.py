"""A small hand-made world layout and FASTA for the track and interaction writers' tests.

Genes are evenly spaced on each contig, alternating strands; each cell type expresses
about half of them highly (20–200 RPKM) and leaves the rest nearly silent (< 0.5).
Two thirds of the promoters are CpG islands in an otherwise CpG-depleted genome.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from exprflow.simulate.layout import CellType, Enhancer, Gene, WorldLayout

CELLS = (("E116", "GM12878"), ("E003", "H1"), ("E118", "HepG2"), ("E066", "Liver"))


def make_layout(
    n_contigs: int = 3,
    contig_length: int = 200_000,
    genes_per_contig: int = 8,
    n_cells: int = 3,
    enhancers_per_gene: int = 2,
    seed: int = 0,
) -> WorldLayout:
    rng = np.random.default_rng(seed)
    contigs = {f"chr{i + 1}": contig_length for i in range(n_contigs)}
    spacing = contig_length // (genes_per_contig + 1)
    genes: list[Gene] = []
    enhancers: list[Enhancer] = []
    for chrom in contigs:
        for i in range(genes_per_contig):
            k = len(genes) + 1
            tss = spacing * (i + 1) + int(rng.integers(-spacing // 10, spacing // 10))
            strand = "+" if k % 2 else "-"
            length = int(rng.integers(spacing // 3, spacing // 2))
            start, end = (tss, tss + length) if strand == "+" else (tss - length + 1, tss + 1)
            gene_id = f"ENSG{90000000000 + k:011d}.1"
            genes.append(Gene(gene_id, f"SIM{k}", chrom, tss, strand, start, end))
            for j in range(enhancers_per_gene):
                side = -1 if j % 2 == 0 else 1
                centre = tss + side * int(spacing * (0.3 + 0.05 * j))
                enhancers.append(
                    Enhancer(
                        f"ENH{k}_{j}",
                        chrom,
                        centre - 1000,
                        centre + 1000,
                        gene_id,
                        float(rng.uniform(1.6, 3.0)),
                    )
                )
    cells = [CellType(eid, name) for eid, name in CELLS[:n_cells]]
    high = rng.random((len(genes), n_cells)) < 0.5
    rpkm = np.where(high, rng.uniform(20, 200, high.shape), rng.uniform(0, 0.5, high.shape))
    expression = pd.DataFrame(
        rpkm, index=[g.gene_id for g in genes], columns=[c.eid for c in cells]
    )
    return WorldLayout(
        contigs=contigs,
        genes=genes,
        enhancers=enhancers,
        cell_types=cells,
        cell_expression=expression,
    )


def cpg_island_genes(layout: WorldLayout) -> set[str]:
    """Genes given a CpG-island promoter by :func:`write_fasta` (two of every three)."""
    return {g.gene_id for i, g in enumerate(layout.genes) if i % 3 != 2}


def write_fasta(path: Path, layout: WorldLayout, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    islands = cpg_island_genes(layout)
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "w") as out:
        for chrom, length in layout.contigs.items():
            seq = _random_bases(rng, length, 0.41, alphabet)
            is_cpg = (seq[:-1] == ord("C")) & (seq[1:] == ord("G"))
            depleted = np.flatnonzero(is_cpg & (rng.random(length - 1) < 0.8))
            seq[depleted] = ord("T")
            for gene in layout.genes_on(chrom):
                if gene.gene_id in islands:
                    lo, hi = max(gene.tss - 600, 0), min(gene.tss + 600, length)
                    seq[lo:hi] = _random_bases(rng, hi - lo, 0.68, alphabet)
            text = seq.tobytes().decode("ascii")
            out.write(f">{chrom}\n")
            out.writelines(text[i : i + 60] + "\n" for i in range(0, length, 60))
    pysam.faidx(str(path))
    return path


def _random_bases(rng: np.random.Generator, n: int, gc: float, alphabet: np.ndarray) -> np.ndarray:
    probs = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return alphabet[rng.choice(4, size=n, p=probs)].copy()
