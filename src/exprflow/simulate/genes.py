"""Lay out the synthetic world: contigs, genes, enhancers, cell types, TF activity, motif sites.

Nothing is written here. :func:`lay_out_world` draws, from a size and a random generator,
the :class:`~exprflow.simulate.layout.WorldLayout` that every writer reads, so that the
genome, the annotation, the tracks and the expression tables agree with one another.

The regulatory model is small and explicit:

* each gene has a promoter (±:data:`PROMOTER_HALF_WIDTH` bp around its TSS) and a few distal
  enhancers 5–100 kb away, each carrying planted binding sites of real JASPAR motifs;
* a site's occupancy is a logistic function of its motif score (:func:`site_occupancy`);
* about three promoters in four carry a CpG island (:data:`CPG_ISLAND_SHARE`); as in
  human cells, CpG-island promoters are broadly and highly expressed and the rest are
  lower, and silent genes are drawn among the latter (:data:`BASELINE_LOG2_RPKM`), so a
  sequence model can read part of a gene's level from its promoter's CpG content;
* a gene's log2 RPKM in a cell type is its baseline plus, over its sites, region weight ×
  TF activity in that cell type × occupancy, plus gaussian noise (lognormal on the RPKM).

Coordinates are 0-based half-open throughout.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from exprflow.genome.onehot import reverse_complement
from exprflow.simulate.config import WorldSize
from exprflow.simulate.layout import CellType, Enhancer, Gene, MotifSite, WorldLayout
from exprflow.simulate.motifs import Motif, load_motifs, sample_sites, site_score

__all__ = [
    "BASELINE_LOG2_RPKM",
    "CELL_TYPE_CATALOGUE",
    "CPG_ISLAND_SHARE",
    "PROMOTER_HALF_WIDTH",
    "SILENT_SHARE",
    "TSS_MARGIN",
    "UBIQUITOUS_TFS",
    "contig_names",
    "lay_out_world",
    "site_occupancy",
    "site_weight",
]

#: Minimum distance of every TSS from a contig end and from any other TSS (ExPecto's
#: ±20 kb windows must fit).
TSS_MARGIN = 25_000
#: Planted promoter sites lie within this many bases of the TSS.
PROMOTER_HALF_WIDTH = 300
#: Distal enhancers lie this far from their gene's TSS (bases).
ENHANCER_DISTANCE = (5_000, 100_000)
#: Enhancers keep this far from every TSS so promoters and enhancers never overlap.
_ENHANCER_TSS_GAP = 3_000

#: Roadmap-style cell types: (eid, name, cell-type-specific TFs active there). The first is
#: the LCL-like cell type in which individuals' expression is measured.
CELL_TYPE_CATALOGUE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("E116", "GM12878 Lymphoblastoid Cells", ("SPI1", "IRF4", "NFKB1", "ETS1", "RUNX1", "MEF2C")),
    ("E123", "K562 Leukemia Cells", ("GATA1", "RUNX1", "ETS1")),
    ("E118", "HepG2 Hepatocellular Carcinoma Cells", ("HNF4A", "FOXA2", "CEBPB")),
    ("E003", "H1 Cells", ()),
    ("E122", "HUVEC Umbilical Vein Endothelial Primary Cells", ("ETS1", "NFKB1")),
    ("E066", "Liver", ("HNF4A", "FOXA2", "CEBPB")),
    ("E127", "NHEK-Epidermal Keratinocyte Primary Cells", ("CEBPB", "NFKB1")),
    ("E096", "Lung", ("FOXA2", "CEBPB", "ETS1")),
)
#: TFs active in every cell type; the others are cell-type specific.
UBIQUITOUS_TFS = frozenset({"CTCF", "SP1", "NFYA", "YY1", "CREB1", "TBP"})

#: Share of promoters with a CpG island.
CPG_ISLAND_SHARE = 0.75
#: Baseline log2 RPKM (mean, sd) of CpG-island and other promoters; a share
#: :data:`SILENT_SHARE` of the non-island genes are silent (log2 RPKM -6).
BASELINE_LOG2_RPKM = {True: (-1.0, 0.7), False: (-3.5, 1.0)}
SILENT_SHARE = 0.35

_SITE_GAP = 2  # bases kept free between planted sites
_EXPRESSION_NOISE = 0.3  # sd of log2 RPKM noise per gene and cell type


def contig_names(n: int) -> list[str]:
    """Contig names ``chr1`` … ``chr{n}``.

    Parameters
    ----------
    n : int
        Number of contigs.

    Returns
    -------
    list of str
    """
    return [f"chr{i + 1}" for i in range(n)]


def site_occupancy(score: float, max_score: float) -> float:
    """Fraction of time a site is bound: logistic in its score relative to the consensus.

    Parameters
    ----------
    score : float
        Log-odds score of the site (motif strand).
    max_score : float
        Score of the motif's consensus.

    Returns
    -------
    float
        In (0, 1): ≈0.95 at 80 % of the consensus score, 0.5 at 65 %, ≈0.05 at 50 %.
    """
    return float(1.0 / (1.0 + np.exp(-(score / max_score - 0.65) / 0.05)))


def site_weight(region: str, enhancer_score: float | None = None) -> float:
    """Weight of a site's region in the expression model.

    Parameters
    ----------
    region : str
        ``"promoter"`` (weight 1) or ``"enhancer"``.
    enhancer_score : float, optional
        The enhancer's interaction score; its weight is ``min(1, score / 6)``.

    Returns
    -------
    float
    """
    if region == "promoter":
        return 1.0
    if enhancer_score is None:
        raise ValueError("an enhancer site needs its enhancer's interaction score")
    return min(1.0, enhancer_score / 6.0)


def lay_out_world(size: WorldSize, rng: np.random.Generator) -> WorldLayout:
    """Draw the whole layout of a world.

    Parameters
    ----------
    size : WorldSize
        Shape of the world.
    rng : numpy.random.Generator
        The layout's own random stream.

    Returns
    -------
    WorldLayout
        Contigs, genes (TSS order per contig), enhancers, planted motif sites, cell types
        (LCL-like first), TF activity (TF × eid) and cell-type expression (gene × eid RPKM).
    """
    if size.n_cell_types > len(CELL_TYPE_CATALOGUE):
        raise ValueError(
            f"n_cell_types={size.n_cell_types} but only {len(CELL_TYPE_CATALOGUE)} "
            "cell types are catalogued; use at most that many"
        )
    contigs = {name: size.chrom_length for name in contig_names(size.n_chromosomes)}
    motifs = {m.name: m for m in load_motifs()}
    genes = _make_genes(contigs, size.genes_per_chrom, rng)
    enhancers = _make_enhancers(genes, contigs, size.enhancers_per_gene, rng)
    sites = _plant_sites(genes, enhancers, motifs, rng)
    cell_types = [CellType(eid, name) for eid, name, _ in CELL_TYPE_CATALOGUE[: size.n_cell_types]]
    tf_activity = _tf_activity(list(motifs), size.n_cell_types, rng)
    layout = WorldLayout(contigs, genes, enhancers, sites, cell_types, tf_activity)
    layout.cell_expression = _cell_expression(layout, motifs, rng)
    return layout


def _place_tss(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sorted TSS positions, each ≥ TSS_MARGIN from the ends and from each other."""
    spacing = (length - 2 * TSS_MARGIN) / n
    if spacing < TSS_MARGIN:
        raise ValueError(
            f"{n} genes on a {length} bp contig leave {spacing:.0f} bp between TSSs; "
            f"need ≥ {TSS_MARGIN}: use fewer genes or longer chromosomes"
        )
    centres = TSS_MARGIN + spacing * (np.arange(n) + 0.5)
    slack = (spacing - TSS_MARGIN) / 2
    return np.round(centres + rng.uniform(-slack, slack, n)).astype(np.int64)


def _make_genes(contigs: dict[str, int], per_chrom: int, rng: np.random.Generator) -> list[Gene]:
    """Genes on both strands, spaced along every contig, with versioned Ensembl-like ids."""
    genes: list[Gene] = []
    for chrom, length in contigs.items():
        for tss in _place_tss(per_chrom, length, rng):
            index = len(genes) + 1
            strand = "+" if rng.random() < 0.5 else "-"
            body = int(np.clip(rng.lognormal(np.log(12_000), 0.8), 1_500, 60_000))
            if strand == "+":
                start, end = int(tss), min(int(tss) + body, length)
            else:
                start, end = max(int(tss) + 1 - body, 0), int(tss) + 1
            version = int(rng.integers(1, 12))
            genes.append(
                Gene(
                    f"ENSG9{index:010d}.{version}",
                    f"SIM{index}",
                    chrom,
                    int(tss),
                    strand,
                    start,
                    end,
                    cpg_island=bool(rng.random() < CPG_ISLAND_SHARE),
                )
            )
    return genes


def _make_enhancers(
    genes: list[Gene], contigs: dict[str, int], per_gene: int, rng: np.random.Generator
) -> list[Enhancer]:
    """Distal elements 5–100 kb from each TSS, clear of every TSS and of each other."""
    tss_by_chrom = {c: np.array([g.tss for g in genes if g.chrom == c]) for c in contigs}
    taken: dict[str, list[tuple[int, int]]] = {c: [] for c in contigs}
    enhancers: list[Enhancer] = []
    lo, hi = ENHANCER_DISTANCE
    for gene in genes:
        wanted = int(rng.integers(max(1, (per_gene + 1) // 2), per_gene + 1)) if per_gene else 0
        placed = 0
        for _ in range(50 * wanted):
            if placed == wanted:
                break
            distance = int(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            width = int(rng.integers(400, 1501))
            centre = gene.tss + distance * (1 if rng.random() < 0.5 else -1)
            start, end = centre - width // 2, centre - width // 2 + width
            if start < 1_000 or end > contigs[gene.chrom] - 1_000:
                continue
            near_tss = np.abs(tss_by_chrom[gene.chrom] - centre) < _ENHANCER_TSS_GAP + width
            if near_tss.any() or any(
                s < end + 500 and start < e + 500 for s, e in taken[gene.chrom]
            ):
                continue
            taken[gene.chrom].append((start, end))
            score = 1.6 + rng.gamma(2.0, 2.0) * np.exp(-distance / 50_000)
            eid = f"ENHS{len(enhancers) + 1:07d}"
            enhancers.append(
                Enhancer(eid, gene.chrom, start, end, gene.gene_id, round(float(score), 3))
            )
            placed += 1
    return enhancers


def _pick_tf(names: list[str], region: str, rng: np.random.Generator) -> str:
    """A TF for a site: promoters favour ubiquitous TFs, enhancers cell-type-specific ones."""
    favoured = (
        (lambda n: n in UBIQUITOUS_TFS)
        if region == "promoter"
        else (lambda n: n not in UBIQUITOUS_TFS)
    )
    weights = np.array([2.0 if favoured(n) else 1.0 for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _place_in_window(
    window: tuple[int, int],
    n_sites: int,
    region: str,
    motifs: dict[str, Motif],
    rng: np.random.Generator,
) -> list[tuple[str, int, str]]:
    """Up to ``n_sites`` non-overlapping (TF, start, strand), sorted, in ``window``.

    ``window`` and the starts are 0-based half-open.
    """
    names = list(motifs)
    placed: list[tuple[str, int, str]] = []
    for _ in range(20 * n_sites):
        if len(placed) == n_sites:
            break
        tf = _pick_tf(names, region, rng)
        last_start = window[1] - motifs[tf].length
        if last_start <= window[0]:
            continue
        start = int(rng.integers(window[0], last_start))
        end = start + motifs[tf].length
        if any(
            s < end + _SITE_GAP and start < s + motifs[t].length + _SITE_GAP for t, s, _ in placed
        ):
            continue
        placed.append((tf, start, "+" if rng.random() < 0.5 else "-"))
    return sorted(placed, key=lambda p: p[1])


def _plant_sites(
    genes: list[Gene], enhancers: list[Enhancer], motifs: dict[str, Motif], rng: np.random.Generator
) -> list[MotifSite]:
    """Binding sites at every promoter (±300 bp of the TSS) and in every enhancer.

    Positions are placed element by element; then every TF's sites are drawn in one
    :func:`~exprflow.simulate.motifs.sample_sites` call.
    """
    placements: list[tuple[str, str, str, str, int, str]] = []
    for gene in genes:
        window = (gene.tss - PROMOTER_HALF_WIDTH, gene.tss + PROMOTER_HALF_WIDTH + 1)
        n = int(rng.integers(2, 6))
        for tf, start, strand in _place_in_window(window, n, "promoter", motifs, rng):
            placements.append((gene.chrom, "promoter", gene.gene_id, tf, start, strand))
    for enh in enhancers:
        n = int(rng.integers(2, 5))
        for tf, start, strand in _place_in_window((enh.start, enh.end), n, "enhancer", motifs, rng):
            placements.append((enh.chrom, "enhancer", enh.enhancer_id, tf, start, strand))
    counts = Counter(p[3] for p in placements)
    drawn = {tf: iter(sample_sites(motifs[tf], counts[tf], rng)) for tf in motifs if counts[tf]}
    sites = []
    for chrom, region, element_id, tf, start, strand in placements:
        site = next(drawn[tf])
        seq = site if strand == "+" else reverse_complement(site)
        motif_id = motifs[tf].matrix_id
        sites.append(MotifSite(motif_id, tf, chrom, start, strand, seq, region, element_id))
    return sites


def _tf_activity(tfs: list[str], n_cell_types: int, rng: np.random.Generator) -> pd.DataFrame:
    """TF × cell type activity in [0, 1]: ubiquitous TFs everywhere, the rest per programme."""
    columns = {}
    for eid, _, programme in CELL_TYPE_CATALOGUE[:n_cell_types]:
        values = []
        for tf in tfs:
            if tf in UBIQUITOUS_TFS:
                values.append(rng.uniform(0.6, 1.0))
            elif tf in programme:
                values.append(rng.uniform(0.75, 1.0))
            else:
                values.append(rng.uniform(0.0, 0.15))
        columns[eid] = np.round(values, 4)
    frame = pd.DataFrame(columns, index=pd.Index(tfs, name="tf"))
    frame.columns.name = "eid"
    return frame


def _site_drive(layout: WorldLayout, motifs: dict[str, Motif]) -> np.ndarray:
    """Per gene, the summed weight × occupancy of its sites for each TF, shape (genes, TFs)."""
    gene_row = {g.gene_id: i for i, g in enumerate(layout.genes)}
    tf_col = {tf: j for j, tf in enumerate(layout.tf_activity.index)}
    enh_gene = {e.enhancer_id: (e.gene_id, e.score) for e in layout.enhancers}
    drive = np.zeros((len(gene_row), len(tf_col)))
    for site in layout.sites:
        motif = motifs[site.tf]
        occupancy = site_occupancy(site_score(site.oriented, motif), motif.max_score)
        if site.region == "promoter":
            gene_id, weight = site.element_id, site_weight("promoter")
        else:
            gene_id, score = enh_gene[site.element_id]
            weight = site_weight("enhancer", score)
        drive[gene_row[gene_id], tf_col[site.tf]] += weight * occupancy
    return drive


def _cell_expression(
    layout: WorldLayout, motifs: dict[str, Motif], rng: np.random.Generator
) -> pd.DataFrame:
    """RPKM per gene and cell type from planted sites × TF activity, baseline and noise."""
    n_genes = len(layout.genes)
    island = np.array([g.cpg_island for g in layout.genes])
    baseline = np.empty(n_genes)
    for has_island, (mean, sd) in BASELINE_LOG2_RPKM.items():
        rows = island == has_island
        baseline[rows] = rng.normal(mean, sd, int(rows.sum()))
    baseline[~island & (rng.random(n_genes) < SILENT_SHARE)] = -6.0  # silent genes
    drive = _site_drive(layout, motifs) @ layout.tf_activity.to_numpy()
    noise = rng.normal(0.0, _EXPRESSION_NOISE, drive.shape)
    rpkm = np.round(np.exp2(baseline[:, None] + drive + noise), 4)
    frame = pd.DataFrame(
        rpkm, index=[g.gene_id for g in layout.genes], columns=layout.tf_activity.columns
    )
    frame.index.name = "gene_id"
    return frame
