from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pytest

from exprflow.simulate.config import SIZES
from exprflow.simulate.genes import (
    CELL_TYPE_CATALOGUE,
    PROMOTER_HALF_WIDTH,
    TSS_MARGIN,
    UBIQUITOUS_TFS,
    contig_names,
    lay_out_world,
    site_occupancy,
    site_weight,
)
from exprflow.simulate.layout import WorldLayout
from exprflow.simulate.motifs import load_motifs, site_score

TINY = SIZES["tiny"]


@pytest.fixture(scope="module")
def layout() -> WorldLayout:
    return lay_out_world(TINY, np.random.default_rng(7))


def test_contigs_and_gene_counts(layout: WorldLayout) -> None:
    assert layout.contigs == {f"chr{i}": TINY.chrom_length for i in range(1, 5)}
    assert contig_names(2) == ["chr1", "chr2"]
    for chrom in layout.contigs:
        assert len(layout.genes_on(chrom)) == TINY.genes_per_chrom


def test_tss_keep_expecto_windows_apart(layout: WorldLayout) -> None:
    for chrom, length in layout.contigs.items():
        tss = np.array([g.tss for g in layout.genes_on(chrom)])
        assert tss.min() >= TSS_MARGIN and tss.max() <= length - TSS_MARGIN
        assert np.diff(tss).min() >= TSS_MARGIN


def test_gene_records(layout: WorldLayout) -> None:
    ids = [g.gene_id for g in layout.genes]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"ENSG9\d{10}\.\d+", i) for i in ids)
    strands = {g.strand for g in layout.genes}
    assert strands == {"+", "-"}
    for g in layout.genes:
        assert 0 <= g.start < g.end <= layout.contigs[g.chrom]
        assert (g.start == g.tss) if g.strand == "+" else (g.end - 1 == g.tss)


def test_enhancers_distal_scored_and_disjoint(layout: WorldLayout) -> None:
    genes = {g.gene_id: g for g in layout.genes}
    assert layout.enhancers
    per_gene = {g: 0 for g in genes}
    for e in layout.enhancers:
        gene = genes[e.gene_id]
        centre = (e.start + e.end) // 2
        assert 5_000 - 1_000 <= abs(centre - gene.tss) <= 100_000 + 1_000
        assert e.score > 1.5
        assert all(abs(centre - g.tss) > 3_000 for g in layout.genes_on(e.chrom))
        per_gene[e.gene_id] += 1
    assert max(per_gene.values()) <= TINY.enhancers_per_gene
    for chrom in layout.contigs:
        spans = sorted((e.start, e.end) for e in layout.enhancers if e.chrom == chrom)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_sites_in_promoters_and_enhancers(layout: WorldLayout) -> None:
    genes = {g.gene_id: g for g in layout.genes}
    enhancers = {e.enhancer_id: e for e in layout.enhancers}
    motifs = {m.name: m for m in load_motifs()}
    for s in layout.sites:
        end = s.start + len(s.sequence)
        if s.region == "promoter":
            tss = genes[s.element_id].tss
            assert tss - PROMOTER_HALF_WIDTH <= s.start and end <= tss + PROMOTER_HALF_WIDTH + 1
        else:
            e = enhancers[s.element_id]
            assert e.start <= s.start and end <= e.end
        motif = motifs[s.tf]
        assert s.motif_id == motif.matrix_id
        assert site_score(s.oriented, motif) >= 0.8 * motif.max_score - 1e-9
    for chrom in layout.contigs:
        spans = sorted(
            (s.start, s.start + len(s.sequence)) for s in layout.sites if s.chrom == chrom
        )
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_cell_types_and_tf_activity(layout: WorldLayout) -> None:
    assert [c.eid for c in layout.cell_types] == [c[0] for c in CELL_TYPE_CATALOGUE[:3]]
    assert layout.cell_types[0].eid == "E116" and "Lymphoblastoid" in layout.cell_types[0].name
    act = layout.tf_activity
    assert list(act.columns) == [c.eid for c in layout.cell_types]
    for tf in UBIQUITOUS_TFS:
        assert (act.loc[tf] >= 0.6).all()
    for tf in CELL_TYPE_CATALOGUE[0][2]:
        assert act.loc[tf, "E116"] >= 0.75
    assert act.loc["HNF4A", "E116"] <= 0.15 and act.loc["HNF4A", "E118"] >= 0.75


def test_cell_expression_follows_sites(layout: WorldLayout) -> None:
    expr = layout.cell_expression
    assert list(expr.index) == [g.gene_id for g in layout.genes]
    assert (expr.to_numpy() > 0).all()
    # genes with active LCL-specific sites are higher in E116 than in HepG2-like E118.
    lcl_tfs = set(CELL_TYPE_CATALOGUE[0][2])
    with_lcl = {s.element_id for s in layout.sites if s.region == "promoter" and s.tf in lcl_tfs}
    ratio = np.log2(expr["E116"] / expr["E118"])
    assert ratio[list(with_lcl)].mean() > ratio.drop(list(with_lcl)).mean() + 0.3


def test_cpg_island_promoters_are_higher_and_never_silent() -> None:
    layout = lay_out_world(SIZES["demo"], np.random.default_rng(3))
    island = np.array([g.cpg_island for g in layout.genes])
    assert 0.6 < island.mean() < 0.9
    level = np.log2(layout.cell_expression.to_numpy()).mean(axis=1)
    assert level[island].mean() > level[~island].mean() + 1.5
    assert level[island].min() > -5
    assert level[~island].min() < level[island].min() - 1


def test_occupancy_and_weights_known_values() -> None:
    assert site_occupancy(6.5, 10.0) == pytest.approx(0.5)
    assert site_occupancy(8.0, 10.0) == pytest.approx(1 / (1 + np.exp(-3)))
    assert site_occupancy(5.0, 10.0) == pytest.approx(1 / (1 + np.exp(3)))
    assert site_weight("promoter") == 1.0
    assert site_weight("enhancer", 3.0) == 0.5
    assert site_weight("enhancer", 12.0) == 1.0
    with pytest.raises(ValueError, match="interaction score"):
        site_weight("enhancer")


def test_same_seed_same_layout() -> None:
    a = lay_out_world(TINY, np.random.default_rng(3))
    b = lay_out_world(TINY, np.random.default_rng(3))
    c = lay_out_world(TINY, np.random.default_rng(4))
    assert a.genes == b.genes and a.sites == b.sites and a.enhancers == b.enhancers
    assert a.cell_expression.equals(b.cell_expression)
    assert a.genes != c.genes


def test_bad_sizes_are_refused() -> None:
    crowded = dataclasses.replace(TINY, genes_per_chrom=20)
    with pytest.raises(ValueError, match="need ≥ 25000"):
        lay_out_world(crowded, np.random.default_rng(0))
    many_cells = dataclasses.replace(TINY, n_cell_types=len(CELL_TYPE_CATALOGUE) + 1)
    with pytest.raises(ValueError, match="cell types are catalogued"):
        lay_out_world(many_cells, np.random.default_rng(0))
