"""What the assay writers (ChIP, Sharpr, SuRE) share: planted sites, cells, intervals.

The regulatory model of these assays is the world's own (:mod:`exprflow.simulate.genes`):
a planted site binds with the occupancy of its motif score, and a TF drives an interval
with its activity in the cell type. The *activity* of a genomic interval in a cell type
is ``Σ`` over the planted sites lying fully inside it of TF activity × occupancy.

Nothing is written here. Coordinates are 0-based half-open.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from exprflow.errors import InputError
from exprflow.simulate.genes import PROMOTER_HALF_WIDTH, site_occupancy
from exprflow.simulate.layout import CellType, WorldLayout
from exprflow.simulate.motifs import load_motifs, site_score

__all__ = [
    "REGIONS",
    "SiteTable",
    "assay_cells",
    "biosample_name",
    "draw_intervals",
    "inside",
    "read_contigs",
    "site_table",
]

#: Interval classes drawn by :func:`draw_intervals`, in code order (0, 1, 2).
REGIONS: tuple[str, ...] = ("promoter", "enhancer", "background")
_EDGE = 1_000  # intervals keep this far from contig ends
_CHUNK = 4_096  # intervals tested against the sites at a time


def biosample_name(cell: CellType) -> str:
    """ENCODE-style biosample term name of a cell type: its name's first word before ``-``.

    ``"GM12878 Lymphoblastoid Cells"`` → ``GM12878``, ``"K562 Leukemia Cells"`` → ``K562``,
    ``"HepG2 …"`` → ``HepG2``, ``"H1 Cells"`` → ``H1``, ``"HUVEC …"`` → ``HUVEC``,
    ``"NHEK-Epidermal …"`` → ``NHEK``, ``"Liver"`` → ``Liver``.

    Parameters
    ----------
    cell : CellType
        A layout cell type.

    Returns
    -------
    str
    """
    return cell.name.split()[0].split("-")[0]


def assay_cells(layout: WorldLayout) -> dict[str, str]:
    """The world cell type (eid) standing for K562 and for HepG2 in the MPRA assays.

    K562 is ``E123`` and HepG2 ``E118`` when the world has them; a missing one takes the
    first cell type not used yet (so the first two cell types when both are missing).

    Parameters
    ----------
    layout : WorldLayout
        Needs at least two cell types.

    Returns
    -------
    dict[str, str]
        ``{"K562": eid, "HepG2": eid}``.
    """
    eids = [c.eid for c in layout.cell_types]
    if len(eids) < 2:
        raise InputError(
            "WorldLayout.cell_types",
            f"{len(eids)} cell type(s); the K562/HepG2 assays need two",
            fix="simulate a world with n_cell_types >= 2",
        )
    chosen = {name: eid for name, eid in (("K562", "E123"), ("HepG2", "E118")) if eid in eids}
    spare = iter(e for e in eids if e not in chosen.values())
    return {name: chosen.get(name) or next(spare) for name in ("K562", "HepG2")}


@dataclass(frozen=True)
class SiteTable:
    """The planted sites of a layout as arrays (layout order).

    Attributes
    ----------
    chrom : np.ndarray
        Contig name of each site (str).
    start, end : np.ndarray
        0-based half-open span (int64).
    tf : np.ndarray
        Row of the site's TF in ``layout.tf_activity`` (int64).
    occupancy : np.ndarray
        :func:`~exprflow.simulate.genes.site_occupancy` of its motif score.
    activity : np.ndarray
        ``layout.tf_activity`` as an array, TF × cell type (layout column order).
    tfs : tuple[str, ...]
        Rows of ``activity``.
    eids : tuple[str, ...]
        Columns of ``activity``.
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    tf: np.ndarray
    occupancy: np.ndarray
    activity: np.ndarray
    tfs: tuple[str, ...]
    eids: tuple[str, ...]

    def tf_activity(self, tf: str, eid: str) -> float:
        """Activity of ``tf`` in cell type ``eid``."""
        return float(self.activity[self.tfs.index(tf), self.eids.index(eid)])

    def weight(self, eid: str) -> np.ndarray:
        """TF activity in ``eid`` × occupancy of every site."""
        return self.activity[self.tf, self.eids.index(eid)] * self.occupancy

    def interval_activity(
        self, eid: str, chrom: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> np.ndarray:
        """Σ of :meth:`weight` over the sites fully inside each interval."""
        weight = self.weight(eid)
        total = np.zeros(len(start))
        for c in np.unique(chrom):
            rows, here = np.flatnonzero(chrom == c), self.chrom == c
            hits = inside(start[rows], end[rows], self.start[here], self.end[here])
            total[rows] = hits.astype(float) @ weight[here]
        return total


def site_table(layout: WorldLayout) -> SiteTable:
    """Arrays of the layout's planted sites, their occupancy and the TF activity table.

    Parameters
    ----------
    layout : WorldLayout
        Sites, TF activity.

    Returns
    -------
    SiteTable
    """
    motifs = {m.name: m for m in load_motifs()}
    tf_row = {tf: i for i, tf in enumerate(layout.tf_activity.index)}
    sites = layout.sites
    return SiteTable(
        chrom=np.array([s.chrom for s in sites], dtype=object),
        start=np.array([s.start for s in sites], dtype=np.int64),
        end=np.array([s.start + len(s.sequence) for s in sites], dtype=np.int64),
        tf=np.array([tf_row[s.tf] for s in sites], dtype=np.int64),
        occupancy=np.array(
            [
                site_occupancy(site_score(s.oriented, motifs[s.tf]), motifs[s.tf].max_score)
                for s in sites
            ]
        ),
        activity=layout.tf_activity.to_numpy(dtype=float),
        tfs=tuple(layout.tf_activity.index),
        eids=tuple(layout.tf_activity.columns),
    )


def inside(
    start: np.ndarray, end: np.ndarray, site_start: np.ndarray, site_end: np.ndarray
) -> np.ndarray:
    """Boolean ``(intervals, sites)``: site fully inside the interval (same contig assumed).

    Parameters
    ----------
    start, end : np.ndarray
        Intervals, 0-based half-open.
    site_start, site_end : np.ndarray
        Sites, 0-based half-open.

    Returns
    -------
    np.ndarray
        bool, shape ``(len(start), len(site_start))``.
    """
    parts = [
        (site_start[None, :] >= start[i : i + _CHUNK, None])
        & (site_end[None, :] <= end[i : i + _CHUNK, None])
        for i in range(0, len(start), _CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(site_start)), dtype=bool)


def draw_intervals(
    layout: WorldLayout,
    n: int,
    shares: tuple[float, float, float],
    lengths: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals over promoters, enhancers and background, in draw order.

    A promoter interval is centred uniformly within ±:data:`PROMOTER_HALF_WIDTH` of a
    random gene's TSS, an enhancer interval within a random enhancer, a background one
    anywhere on a random contig (uniform over the genome), each kept
    ``_EDGE`` bases from the contig ends.

    Parameters
    ----------
    layout : WorldLayout
        Genes, enhancers and contigs.
    n : int
        Number of intervals.
    shares : tuple of float
        Shares of promoter, enhancer and background intervals (summing to 1).
    lengths : np.ndarray
        Length of each interval, shape ``(n,)``.
    rng : np.random.Generator
        Source of every draw.

    Returns
    -------
    tuple of np.ndarray
        Region code (index into :data:`REGIONS`), contig name (object) and start (int64).
    """
    names = list(layout.contigs)
    sizes = np.array([layout.contigs[c] for c in names], dtype=np.int64)
    if not layout.enhancers:
        shares = (shares[0] + shares[1], 0.0, shares[2])
    region = rng.choice(3, size=n, p=np.asarray(shares) / sum(shares))
    gene = rng.integers(0, len(layout.genes), n)
    enh = rng.integers(0, max(1, len(layout.enhancers)), n)
    contig = rng.choice(len(names), size=n, p=sizes / sizes.sum())
    jitter = rng.random(n)
    tss = np.array([(names.index(g.chrom), g.tss) for g in layout.genes], dtype=np.int64)
    spans = np.array(
        [(names.index(e.chrom), e.start, e.end) for e in layout.enhancers] or [(0, 0, 1)],
        dtype=np.int64,
    )
    lo = np.select(
        [region == 0, region == 1],
        [tss[gene, 1] - PROMOTER_HALF_WIDTH, spans[enh, 1]],
        _EDGE,
    )
    hi = np.select(
        [region == 0, region == 1],
        [tss[gene, 1] + PROMOTER_HALF_WIDTH + 1, spans[enh, 2]],
        sizes[contig] - _EDGE,
    )
    chrom_index = np.select([region == 0, region == 1], [tss[gene, 0], spans[enh, 0]], contig)
    centre = lo + np.floor(jitter * (hi - lo)).astype(np.int64)
    start = np.clip(centre - lengths // 2, _EDGE, sizes[chrom_index] - _EDGE - lengths)
    return region, np.array(names, dtype=object)[chrom_index], start.astype(np.int64)


def read_contigs(fasta: str | Path, layout: WorldLayout) -> dict[str, np.ndarray]:
    """Every contig of the world FASTA as uppercase ASCII codes (uint8).

    Parameters
    ----------
    fasta : str or Path
        Indexed FASTA of the world.
    layout : WorldLayout
        Its contigs, whose names and lengths the FASTA must match.

    Returns
    -------
    dict[str, np.ndarray]
    """
    with pysam.FastaFile(str(fasta)) as fa:
        found = dict(zip(fa.references, fa.lengths, strict=True))
        if any(found.get(c) != n for c, n in layout.contigs.items()):
            raise InputError(
                fasta,
                f"contigs {found} do not match the layout's {layout.contigs}",
                fix="use the FASTA written by this world's genome component",
            )
        return {
            c: np.frombuffer(fa.fetch(c).upper().encode(), dtype=np.uint8) for c in layout.contigs
        }
