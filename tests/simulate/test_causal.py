from __future__ import annotations

import numpy as np
import pysam
import pytest

from exprflow.genome.onehot import reverse_complement
from exprflow.simulate.causal import MIN_CAUSAL_MAF, CausalPlan, _best_change, plan_causal
from exprflow.simulate.config import SIZES
from exprflow.simulate.genes import lay_out_world, site_occupancy
from exprflow.simulate.layout import WorldLayout
from exprflow.simulate.motifs import load_motifs, site_score
from exprflow.simulate.population import simulate_population
from exprflow.simulate.world import WorldManifest, component_rng

TINY = SIZES["tiny"]
SEED = 0


@pytest.fixture(scope="module")
def layout() -> WorldLayout:
    return lay_out_world(TINY, component_rng(SEED, "layout"))


@pytest.fixture(scope="module")
def plan(layout: WorldLayout) -> CausalPlan:
    haps = simulate_population(
        layout.contigs, TINY.n_individuals, component_rng(SEED, "population")
    )
    return plan_causal(layout, haps, TINY.causal_fraction, component_rng(SEED, "causal"))


def test_one_causal_variant_per_chosen_gene(plan: CausalPlan, layout: WorldLayout) -> None:
    genes = [v.gene_id for v in plan.variants]
    assert len(genes) == round(TINY.causal_fraction * len(layout.genes))
    assert len(set(genes)) == len(genes)
    assert {v.change for v in plan.variants} == {"broken", "created"}


def test_variant_sits_in_its_site_and_changes_it(plan: CausalPlan) -> None:
    motifs = {m.name: m for m in load_motifs()}
    for v in plan.variants:
        offset = v.pos - v.site_start
        assert 0 <= offset < len(v.ref_site)
        assert v.ref_site[offset] == v.ref and v.alt_site[offset] == v.alt and v.ref != v.alt
        assert (
            v.ref_site[:offset] + v.ref_site[offset + 1 :]
            == v.alt_site[:offset] + v.alt_site[offset + 1 :]
        )
        motif = motifs[v.tf]
        orient = (lambda s: s) if v.site_strand == "+" else reverse_complement
        occ_ref = site_occupancy(site_score(orient(v.ref_site), motif), motif.max_score)
        occ_alt = site_occupancy(site_score(orient(v.alt_site), motif), motif.max_score)
        assert occ_ref == pytest.approx(v.occupancy_ref, abs=1e-4)
        assert occ_alt == pytest.approx(v.occupancy_alt, abs=1e-4)
        if v.change == "broken":
            assert v.effect < 0 and occ_alt < occ_ref
        else:
            assert v.effect > 0 and occ_alt > occ_ref
        assert abs(v.effect) >= 0.5


def test_causal_variants_are_common_and_indexed(plan: CausalPlan, layout: WorldLayout) -> None:
    haps = plan.haplotypes
    names = list(layout.contigs)
    for v, i in zip(plan.variants, plan.index, strict=True):
        assert names[haps.chrom[i]] == v.chrom and haps.pos[i] == v.pos
        freq = haps.genotypes[i].mean()
        assert min(freq, 1 - freq) >= MIN_CAUSAL_MAF
        assert v.alt_frequency == pytest.approx(freq, abs=1e-4)


def test_no_other_variant_touches_a_site(plan: CausalPlan, layout: WorldLayout) -> None:
    haps = plan.haplotypes
    names = list(layout.contigs)
    causal = set(plan.index.tolist())
    spans = [(s.chrom, s.start, s.start + len(s.sequence)) for s in layout.sites]
    spans += [(c, s, s + len(seq)) for c, s, seq in plan.edits]
    ends = haps.end
    for chrom, start, end in spans:
        on = np.flatnonzero((haps.chrom == names.index(chrom)) & (haps.pos < end) & (ends > start))
        assert set(on.tolist()) <= causal


def test_world_genome_and_vcf_carry_the_plan(plan: CausalPlan, world: WorldManifest) -> None:
    with pysam.FastaFile(str(world.path("fasta"))) as fa:
        for v in plan.variants:
            assert fa.fetch(v.chrom, v.site_start, v.site_start + len(v.ref_site)) == v.ref_site
    with pysam.VariantFile(str(world.path("vcf"))) as vcf:
        for v in plan.variants:
            found = [r for r in vcf.fetch(v.chrom, v.pos, v.pos + 1) if r.pos == v.pos + 1]
            assert len(found) == 1
            assert (found[0].id, found[0].ref, found[0].alts) == (v.variant_id, v.ref, (v.alt,))


def test_best_change_known_answer() -> None:
    motif = {m.name: m for m in load_motifs()}["CTCF"]
    site = motif.consensus
    change = _best_change(site, motif, "+", to_motif=False)
    j = change.offset
    drop = motif.log_odds.max(axis=1) - motif.log_odds.min(axis=1)
    assert j == int(np.argmax(drop))
    assert change.ref_site == site
    assert change.alt_site[j] == "ACGT"[int(np.argmin(motif.log_odds[j]))]
    created = _best_change(site, motif, "-", to_motif=True)
    assert created.alt_site == reverse_complement(site)
    assert created.offset == motif.length - 1 - j


def test_bad_fraction_is_refused(layout: WorldLayout, plan: CausalPlan) -> None:
    with pytest.raises(ValueError, match=r"expected a value in \[0, 1\]"):
        plan_causal(layout, plan.haplotypes, 1.5, np.random.default_rng(0))
