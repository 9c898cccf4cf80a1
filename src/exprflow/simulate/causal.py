"""Plant causal eQTLs: common variants that break or create a TF binding site.

For ``causal_fraction`` of the genes one common simulated SNV (MAF ≥ 0.05) is moved into
a binding site of that gene's promoter or of one of its enhancers:

* **broken**: an existing planted site whose TF is active in the LCL-like cell type; REF
  is the site's base at its most informative position, ALT the motif's least likely base
  there, so the ALT allele lowers occupancy and expression;
* **created**: a new site of an LCL-active TF is written into the reference with that
  position already mutated (a "proto-site"); ALT restores the motif base, raising
  occupancy and expression.

The effect (log2 RPKM per ALT allele) is ``sign × EFFECT_GAIN × region weight × TF
activity in the LCL-like cell type × |Δ occupancy|`` (see :mod:`exprflow.simulate.genes`).
Non-causal variants overlapping any planted site or proto-site are dropped, so the
planted variants are the only ones that change a site. Nothing is written here: the plan
lists the bases the genome must carry and the final variants. Coordinates are 0-based.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from exprflow.genome.onehot import ACGT, reverse_complement
from exprflow.simulate.genes import PROMOTER_HALF_WIDTH, site_occupancy, site_weight
from exprflow.simulate.layout import Enhancer, Gene, MotifSite, WorldLayout
from exprflow.simulate.motifs import Motif, load_motifs, sample_sites, site_score
from exprflow.simulate.population import SNV, Haplotypes, alt_code_for, drop_collisions, variant_ids

__all__ = ["EFFECT_GAIN", "MIN_CAUSAL_MAF", "CausalPlan", "CausalVariant", "plan_causal"]

#: Scale of causal effects (log2 RPKM per ALT allele per unit of weight × activity × Δocc).
EFFECT_GAIN = 2.0
#: Causal variants are drawn among variants with at least this minor-allele frequency.
MIN_CAUSAL_MAF = 0.05
_MIN_EFFECT = 0.5  # |effect| below this is redrawn, so every planted eQTL is detectable
_MIN_ACTIVITY = 0.5  # TFs at least this active in the LCL-like cell type can be causal
_BREAK_SHARE = 0.6


@dataclass(frozen=True)
class CausalVariant:
    """One planted causal variant and the site it changes (0-based coordinates).

    ``ref_site``/``alt_site`` are the site's bases on the genome's + strand with the REF
    and the ALT allele; ``change`` is ``"broken"`` or ``"created"``; ``effect`` is in log2
    RPKM per ALT allele in the LCL-like cell type; ``variant_id`` is its VCF ID.
    """

    gene_id: str
    chrom: str
    pos: int
    ref: str
    alt: str
    tf: str
    motif_id: str
    change: str
    region: str
    element_id: str
    site_start: int
    site_strand: str
    ref_site: str
    alt_site: str
    occupancy_ref: float
    occupancy_alt: float
    effect: float
    alt_frequency: float = 0.0
    variant_id: str = ""


@dataclass(frozen=True)
class CausalPlan:
    """Causal variants, the final variant set and the bases the genome must carry.

    Attributes
    ----------
    variants : list[CausalVariant]
        In genome order.
    haplotypes : Haplotypes
        All variants after relocation and site filtering, sorted, with ids
        :func:`~exprflow.simulate.population.variant_ids` in this order.
    edits : list[tuple[str, int, str]]
        (contig, 0-based start, + strand bases) to write over the background: proto-sites.
    index : np.ndarray
        Row of each causal variant in ``haplotypes``.
    """

    variants: list[CausalVariant]
    haplotypes: Haplotypes
    edits: list[tuple[str, int, str]]
    index: np.ndarray


@dataclass(frozen=True)
class _Change:
    """A one-base change of a site, on the motif's strand."""

    offset: int  # position in the site, genome + strand
    ref_site: str
    alt_site: str
    occupancy_ref: float
    occupancy_alt: float


def _best_change(oriented: str, motif: Motif, strand: str, to_motif: bool) -> _Change:
    """Mutate the site's most informative base to the motif's least likely base there.

    ``oriented`` is the intact site on the motif strand; with ``to_motif`` the REF is the
    mutated site (a created site), otherwise the REF is the intact one (a broken site).
    """
    idx = np.array([ACGT.index(b) for b in oriented])
    drop = motif.log_odds[np.arange(motif.length), idx] - motif.log_odds.min(axis=1)
    j = int(np.argmax(drop))
    mutated = oriented[:j] + ACGT[int(np.argmin(motif.log_odds[j]))] + oriented[j + 1 :]
    ref, alt = (mutated, oriented) if to_motif else (oriented, mutated)
    occ_ref = site_occupancy(site_score(ref, motif), motif.max_score)
    occ_alt = site_occupancy(site_score(alt, motif), motif.max_score)
    if strand == "-":
        ref, alt, j = reverse_complement(ref), reverse_complement(alt), motif.length - 1 - j
    return _Change(j, ref, alt, occ_ref, occ_alt)


class _Planter:
    """Draws causal events gene by gene, keeping track of occupied bases and variants."""

    def __init__(self, layout: WorldLayout, haps: Haplotypes, rng: np.random.Generator) -> None:
        self.layout, self.haps, self.rng = layout, haps, rng
        self.motifs = {m.name: m for m in load_motifs()}
        self.activity = layout.tf_activity[layout.cell_types[0].eid]
        self.active = [tf for tf in self.motifs if self.activity[tf] >= _MIN_ACTIVITY]
        self.enhancers = {e.enhancer_id: e for e in layout.enhancers}
        self.occupied: dict[str, list[tuple[int, int]]] = {c: [] for c in layout.contigs}
        for s in layout.sites:
            self.occupied[s.chrom].append((s.start, s.start + len(s.sequence)))
        maf = np.minimum(haps.alt_frequency, 1 - haps.alt_frequency)
        self.candidates = (haps.kind == SNV) & (maf >= MIN_CAUSAL_MAF)
        self.used_sites: set[tuple[str, int]] = set()
        self.edits: list[tuple[str, int, str]] = []

    def _weight(self, region: str, element_id: str) -> float:
        score = self.enhancers[element_id].score if region == "enhancer" else None
        return site_weight(region, score)

    def break_site(self, gene: Gene) -> CausalVariant | None:
        """Break one of the gene's planted sites of an LCL-active TF."""
        mine = {gene.gene_id} | {
            e.enhancer_id for e in self.layout.enhancers if e.gene_id == gene.gene_id
        }
        sites = [
            s
            for s in self.layout.sites
            if s.element_id in mine
            and s.tf in self.active
            and (s.chrom, s.start) not in self.used_sites
        ]
        if not sites:
            return None
        site = sites[int(self.rng.integers(len(sites)))]
        motif = self.motifs[site.tf]
        change = _best_change(site.oriented, motif, site.strand, to_motif=False)
        return self._event(gene, site, change, "broken")

    def create_site(self, gene: Gene) -> CausalVariant | None:
        """Write a proto-site of an LCL-active TF that the ALT allele completes."""
        own = [e for e in self.layout.enhancers if e.gene_id == gene.gene_id]
        if own and self.rng.random() >= 0.6:
            enh: Enhancer | None = own[int(self.rng.integers(len(own)))]
        else:
            enh = None
        motif = self.motifs[self.active[int(self.rng.integers(len(self.active)))]]
        window = (
            (enh.start, enh.end)
            if enh
            else (gene.tss - PROMOTER_HALF_WIDTH, gene.tss + PROMOTER_HALF_WIDTH + 1)
        )
        start = self._free_start(gene.chrom, window, motif.length)
        if start is None:
            return None
        strand = "+" if self.rng.random() < 0.5 else "-"
        site_bases = sample_sites(motif, 1, self.rng)[0]
        change = _best_change(site_bases, motif, strand, to_motif=True)
        region, element = ("enhancer", enh.enhancer_id) if enh else ("promoter", gene.gene_id)
        site = MotifSite(
            motif.matrix_id, motif.name, gene.chrom, start, strand, change.alt_site, region, element
        )
        return self._event(gene, site, change, "created")

    def _free_start(self, chrom: str, window: tuple[int, int], length: int) -> int | None:
        for _ in range(50):
            start = int(self.rng.integers(window[0], window[1] - length))
            if all(s >= start + length + 2 or e + 2 <= start for s, e in self.occupied[chrom]):
                return start
        return None

    def _event(self, gene: Gene, site: MotifSite, change: _Change, kind: str) -> CausalVariant:
        sign = 1.0 if kind == "created" else -1.0
        weight = self._weight(site.region, site.element_id)
        delta = abs(change.occupancy_alt - change.occupancy_ref)
        effect = sign * EFFECT_GAIN * weight * float(self.activity[site.tf]) * delta
        pos = site.start + change.offset
        return CausalVariant(
            gene.gene_id,
            gene.chrom,
            pos,
            change.ref_site[change.offset],
            change.alt_site[change.offset],
            site.tf,
            site.motif_id,
            kind,
            site.region,
            site.element_id,
            site.start,
            site.strand,
            change.ref_site,
            change.alt_site,
            round(change.occupancy_ref, 4),
            round(change.occupancy_alt, 4),
            round(effect, 4),
        )

    def accept(self, event: CausalVariant) -> int:
        """Book the event's site and move the nearest free common SNV onto it."""
        chrom_index = list(self.layout.contigs).index(event.chrom)
        pool = np.flatnonzero(self.candidates & (self.haps.chrom == chrom_index))
        if len(pool) == 0:
            raise ValueError(f"no common SNV left on {event.chrom} for a causal variant")
        chosen = int(pool[np.argmin(np.abs(self.haps.pos[pool] - event.pos))])
        self.candidates[chosen] = False
        self.used_sites.add((event.chrom, event.site_start))
        if event.change == "created":
            end = event.site_start + len(event.ref_site)
            self.occupied[event.chrom].append((event.site_start, end))
            self.edits.append((event.chrom, event.site_start, event.ref_site))
        return chosen


def plan_causal(
    layout: WorldLayout, haps: Haplotypes, causal_fraction: float, rng: np.random.Generator
) -> CausalPlan:
    """Choose causal genes, plant one causal variant each, filter and sort the variants.

    Parameters
    ----------
    layout : WorldLayout
        The world's layout (sites, enhancers, TF activity; the LCL-like cell type first).
    haps : Haplotypes
        Simulated variants (:func:`~exprflow.simulate.population.simulate_population`).
    causal_fraction : float
        Fraction of genes given a causal variant, in [0, 1].
    rng : numpy.random.Generator
        The causal component's own random stream.

    Returns
    -------
    CausalPlan
    """
    if not 0.0 <= causal_fraction <= 1.0:
        raise ValueError(f"causal_fraction={causal_fraction}; expected a value in [0, 1]")
    planter = _Planter(layout, haps, rng)
    n_causal = round(causal_fraction * len(layout.genes))
    chosen_genes = np.sort(rng.choice(len(layout.genes), n_causal, replace=False))
    events, rows = [], []
    for g in chosen_genes:
        gene = layout.genes[int(g)]
        for _ in range(30):
            draw = planter.break_site if rng.random() < _BREAK_SHARE else planter.create_site
            event = draw(gene)
            if event is not None and abs(event.effect) >= _MIN_EFFECT:
                rows.append(planter.accept(event))
                events.append(event)
                break
    return _finish(layout, haps, events, np.array(rows, dtype=np.int64), planter.edits)


def _finish(
    layout: WorldLayout,
    haps: Haplotypes,
    events: list[CausalVariant],
    rows: np.ndarray,
    edits: list[tuple[str, int, str]],
) -> CausalPlan:
    """Relocate the chosen SNVs, drop other variants in sites, sort and assign ids."""
    names = list(layout.contigs)
    pos, alt_code = haps.pos.copy(), haps.alt_code.copy()
    for event, row in zip(events, rows, strict=True):
        pos[row] = event.pos
        alt_code[row] = alt_code_for(event.ref, event.alt)
    moved = replace(haps, pos=pos, alt_code=alt_code)
    intervals = [(s.chrom, s.start, s.start + len(s.sequence)) for s in layout.sites]
    intervals += [(c, start, start + len(seq)) for c, start, seq in edits]
    is_causal = np.zeros(len(pos), dtype=bool)
    is_causal[rows] = True
    final = drop_collisions(moved.subset(is_causal | ~_in_intervals(moved, names, intervals)))
    ids = variant_ids(len(final.pos))
    key = final.chrom.astype(np.int64) * (1 << 40) + final.pos
    wanted = np.array([names.index(e.chrom) * (1 << 40) + e.pos for e in events], dtype=np.int64)
    index = np.searchsorted(key, wanted)
    assert np.array_equal(key[index], wanted), "a causal variant was lost while filtering"
    freq = final.alt_frequency
    variants = [
        replace(e, alt_frequency=round(float(freq[i]), 4), variant_id=ids[i])
        for e, i in zip(events, index, strict=True)
    ]
    order = np.argsort(index)
    return CausalPlan([variants[i] for i in order], final, edits, index[order])


def _in_intervals(
    haps: Haplotypes, names: list[str], intervals: list[tuple[str, int, int]]
) -> np.ndarray:
    """Mask of variants whose REF span overlaps any interval (0-based half-open)."""
    hit = np.zeros(len(haps.pos), dtype=bool)
    end = haps.end
    for c, name in enumerate(names):
        spans = sorted((s, e) for chrom, s, e in intervals if chrom == name)
        if not spans:
            continue
        starts = np.array([s for s, _ in spans])
        reach = np.maximum.accumulate(np.array([e for _, e in spans]))
        idx = np.flatnonzero(haps.chrom == c)
        k = np.searchsorted(starts, end[idx], side="left") - 1
        hit[idx] = (k >= 0) & (reach[np.maximum(k, 0)] > haps.pos[idx])
    return hit
