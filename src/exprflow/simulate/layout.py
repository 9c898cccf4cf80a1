"""The in-memory model of the synthetic world that its writers share.

The world is laid out once (genes, enhancers, cell types, TF activities) and every
writer (genome, population, expression, tracks, MPRA) reads this layout, so the files
agree with one another and with ``truth.json``.

Coordinates are 0-based, half-open, as everywhere inside exprflow; writers convert at
the file boundary (GTF and VCF are 1-based).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exprflow.genome.onehot import reverse_complement

__all__ = ["MARKS", "CellType", "Enhancer", "Gene", "MotifSite", "WorldLayout"]

#: Histone marks in Chromoformer's order, written as one bigWig each per cell type.
MARKS: tuple[str, ...] = (
    "H3K4me1",
    "H3K4me3",
    "H3K9me3",
    "H3K27me3",
    "H3K36me3",
    "H3K27ac",
    "H3K9ac",
)


@dataclass(frozen=True)
class Gene:
    """A simulated gene.

    Attributes
    ----------
    gene_id : str
        Versioned Ensembl-like id, e.g. ``"ENSG90000000001.1"``.
    symbol : str
        Gene symbol, e.g. ``"SIM1"``.
    chrom : str
        Contig name, ``"chr1"`` style.
    tss : int
        0-based position of the transcription start site base.
    strand : str
        ``"+"`` or ``"-"``.
    start, end : int
        Gene body, 0-based half-open; ``start == tss`` on ``+``, ``end - 1 == tss`` on ``-``.
    biotype : str
        GTF ``gene_type``. Default ``"protein_coding"``.
    cpg_island : bool
        Whether the promoter carries a CpG island (higher, broader expression). Default
        False.
    """

    gene_id: str
    symbol: str
    chrom: str
    tss: int
    strand: str
    start: int
    end: int
    biotype: str = "protein_coding"
    cpg_island: bool = False

    @property
    def strand_sign(self) -> int:
        """+1 for ``+``, -1 for ``-``."""
        return 1 if self.strand == "+" else -1


@dataclass(frozen=True)
class Enhancer:
    """A distal regulatory element contacting one gene's promoter (pcHi-C-like).

    ``score`` is the normalised interaction frequency (Chromoformer keeps > 1.5).
    """

    enhancer_id: str
    chrom: str
    start: int
    end: int
    gene_id: str
    score: float


@dataclass(frozen=True)
class MotifSite:
    """A planted TF binding site.

    ``start`` is 0-based; ``sequence`` is the site as written on the + strand of the
    genome; ``region`` is ``"promoter"`` or ``"enhancer"``; ``element_id`` is the gene
    id (promoter) or enhancer id.
    """

    motif_id: str
    tf: str
    chrom: str
    start: int
    strand: str
    sequence: str
    region: str
    element_id: str

    @property
    def oriented(self) -> str:
        """The site's bases on the motif's strand (reverse-complemented on ``-``)."""
        return self.sequence if self.strand == "+" else reverse_complement(self.sequence)


@dataclass(frozen=True)
class CellType:
    """A cell type / epigenome, with a Roadmap-style id (e.g. ``"E116"``) and a name."""

    eid: str
    name: str


@dataclass
class WorldLayout:
    """Everything planted in the world, shared by the writers.

    Attributes
    ----------
    contigs : dict[str, int]
        Contig name → length.
    genes : list[Gene]
    enhancers : list[Enhancer]
    sites : list[MotifSite]
    cell_types : list[CellType]
        The first is the LCL-like cell type in which individuals' expression is measured.
    tf_activity : pd.DataFrame
        TF name (index) × cell-type eid (columns): each TF's activity in each cell type.
    cell_expression : pd.DataFrame
        gene_id (index) × cell-type eid (columns): RPKM of every gene in every cell type.
    """

    contigs: dict[str, int]
    genes: list[Gene]
    enhancers: list[Enhancer] = field(default_factory=list)
    sites: list[MotifSite] = field(default_factory=list)
    cell_types: list[CellType] = field(default_factory=list)
    tf_activity: pd.DataFrame = field(default_factory=pd.DataFrame)
    cell_expression: pd.DataFrame = field(default_factory=pd.DataFrame)

    def genes_on(self, chrom: str) -> list[Gene]:
        """Genes on ``chrom`` in TSS order."""
        return sorted((g for g in self.genes if g.chrom == chrom), key=lambda g: g.tss)

    def log_expression(self, eid: str) -> np.ndarray:
        """log2(RPKM + 1) of every gene (layout order) in cell type ``eid``."""
        return np.log2(
            self.cell_expression.loc[[g.gene_id for g in self.genes], eid].to_numpy() + 1
        )
