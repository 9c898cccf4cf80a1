"""Sizes of the synthetic world: ``tiny`` for tests, ``demo`` for the main job, ``bench``.

Every number that shapes the world lives here, so a size is one frozen dataclass and the
same seed and size always give byte-identical files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["SIZES", "WorldSize", "world_size"]


@dataclass(frozen=True)
class WorldSize:
    """Shape of a synthetic world.

    Attributes
    ----------
    name : str
        ``"tiny"``, ``"demo"`` or ``"bench"``.
    n_chromosomes : int
        Autosomes written (``chr1``…); at least 4 so chromosome-based splits work.
    chrom_length : int
        Length of every chromosome in bases.
    genes_per_chrom : int
        Genes per chromosome, on both strands, spaced along it.
    enhancers_per_gene : int
        Distal elements contacting each promoter (pcHi-C-like), at most 8.
    n_individuals : int
        Diploid individuals simulated with msprime (and expressed in the LCL-like cell type).
    causal_fraction : float
        Fraction of genes given a planted causal eQTL.
    n_cell_types : int
        Cell types (Roadmap-style epigenomes) with tracks and an RPKM column.
    track_resolution : int
        Base pairs per bigWig interval.
    basenji_seq_length : int
        Region length of the Basenji-style ``sequences.bed``.
    mpra_library_size : int
        Promoters in the MPRA library.
    mpra_seq_length : int
        Promoter length in the MPRA library.
    sharpr_tiles : int
        145-bp tiles in the Sharpr-MPRA-like files (all splits together).
    sure_fragments : int
        SuRE-like fragments per genome (four genomes).
    """

    name: str
    n_chromosomes: int
    chrom_length: int
    genes_per_chrom: int
    enhancers_per_gene: int
    n_individuals: int
    causal_fraction: float
    n_cell_types: int
    track_resolution: int
    basenji_seq_length: int
    mpra_library_size: int
    mpra_seq_length: int = 250
    sharpr_tiles: int = 600
    sure_fragments: int = 150

    def to_dict(self) -> dict[str, object]:
        """Plain dict, for logging as run parameters and for ``truth.json``."""
        return asdict(self)


SIZES: dict[str, WorldSize] = {
    "tiny": WorldSize(
        name="tiny",
        n_chromosomes=4,
        chrom_length=400_000,
        genes_per_chrom=6,
        enhancers_per_gene=2,
        n_individuals=40,
        causal_fraction=0.5,
        n_cell_types=3,
        track_resolution=50,
        basenji_seq_length=131_072,
        mpra_library_size=300,
        sharpr_tiles=600,
        sure_fragments=150,
    ),
    "demo": WorldSize(
        name="demo",
        n_chromosomes=6,
        chrom_length=2_000_000,
        genes_per_chrom=25,
        enhancers_per_gene=4,
        n_individuals=150,
        causal_fraction=0.4,
        n_cell_types=5,
        track_resolution=25,
        basenji_seq_length=131_072,
        mpra_library_size=3_000,
        sharpr_tiles=6_000,
        sure_fragments=1_500,
    ),
    "bench": WorldSize(
        name="bench",
        n_chromosomes=8,
        chrom_length=8_000_000,
        genes_per_chrom=80,
        enhancers_per_gene=6,
        n_individuals=400,
        causal_fraction=0.3,
        n_cell_types=6,
        track_resolution=25,
        basenji_seq_length=131_072,
        mpra_library_size=20_000,
        sharpr_tiles=40_000,
        sure_fragments=10_000,
    ),
}


def world_size(name: str) -> WorldSize:
    """Return the named size; ``ValueError`` listing the known sizes otherwise."""
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown world size {name!r}; choose one of {sorted(SIZES)}") from None
