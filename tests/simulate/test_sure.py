from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from exprflow.errors import InputError
from exprflow.simulate._genomic_activity import site_table
from exprflow.simulate.causal import CausalPlan, plan_causal
from exprflow.simulate.genes import lay_out_world
from exprflow.simulate.layout import WorldLayout
from exprflow.simulate.population import simulate_population
from exprflow.simulate.sure import SURE_COLUMNS, sure_path, write_sure
from exprflow.simulate.world import WorldManifest, component_rng

SAMPLES = ["HG00096", "HG00097", "HG00098", "HG00099"]


@pytest.fixture(scope="module")
def inputs(world: WorldManifest) -> tuple[WorldLayout, CausalPlan]:
    """The layout and causal plan of ``world``, recomputed as the world builder does."""
    size, seed = world.size, world.seed
    layout = lay_out_world(size, component_rng(seed, "layout"))
    haps = simulate_population(
        layout.contigs, size.n_individuals, component_rng(seed, "population")
    )
    plan = plan_causal(layout, haps, size.causal_fraction, component_rng(seed, "causal"))
    return layout, plan


@pytest.fixture(scope="module")
def truth(world: WorldManifest) -> dict:
    return json.loads(world.path("truth").read_text())["components"]["sure"]


@pytest.fixture(scope="module")
def tables(world: WorldManifest) -> dict[str, pd.DataFrame]:
    return {
        s: pd.read_csv(
            world.root / sure_path(s),
            sep="\t",
            dtype={"snp_pos": str, "snp_alt": str},
            keep_default_na=False,
        )
        for s in SAMPLES
    }


def _classes(x: pd.Series) -> np.ndarray:
    return np.minimum(np.ceil(x.to_numpy() / 10), 4).astype(int)


def test_table_layout(world: WorldManifest, truth: dict, tables: dict[str, pd.DataFrame]) -> None:
    assert truth["samples"] == SAMPLES and truth["cells"] == {"K562": "E123", "HepG2": "E118"}
    assert sorted(p.name for p in world.path("sure").iterdir()) == [
        f"SuRE_{s}.txt.gz" for s in SAMPLES
    ]
    order = {c: i for i, c in enumerate(("chr1", "chr2", "chr3", "chr4"))}
    for sample, table in tables.items():
        assert tuple(table.columns) == SURE_COLUMNS
        assert len(table) == world.size.sure_fragments == len(truth["genomes"][sample]["region"])
        for column in ("start", "end"):
            assert table[column].dtype == np.int64
        for column in ("K562", "HepG2"):
            assert table[column].dtype == np.float64 and (table[column] >= 0).all()
        assert (table["end"] - table["start"]).between(150, 500).all()
        assert set(table["strand"]) == {"+", "-"}
        key = list(zip(table["chrom"].map(order), table["start"], table["end"], strict=True))
        assert key == sorted(key)
        n_pos = table["snp_pos"].map(lambda v: len(v.split(",")) if v else 0)
        n_alt = table["snp_alt"].map(lambda v: len(v.split(",")) if v else 0)
        assert (n_pos == n_alt).all() and n_pos.sum() >= 5
        assert table["snp_alt"].str.fullmatch(r"([ACGT](,[ACGT])*)?").all()


def test_expression_classes_are_all_populated(tables: dict[str, pd.DataFrame]) -> None:
    for cell in ("K562", "HepG2"):
        pooled = pd.concat([t[cell] for t in tables.values()])
        counts = np.bincount(_classes(pooled), minlength=5)
        assert (counts >= 20).all(), (cell, counts)
        assert counts[0] > len(pooled) / 3 and pooled.max() < 80


def test_alleles_are_the_individuals_alt_alleles(
    world: WorldManifest, truth: dict, tables: dict[str, pd.DataFrame]
) -> None:
    for sample, table in tables.items():
        with pysam.VariantFile(str(world.path("vcf"))) as vcf:
            haplotypes = truth["genomes"][sample]["haplotype"]
            for i, row in enumerate(table.itertuples()):
                expected = [
                    (str(rec.pos), rec.alts[0])
                    for rec in vcf.fetch(row.chrom, row.start, row.end)
                    if rec.start >= row.start
                    and len(rec.ref) == len(rec.alts[0]) == 1
                    and rec.samples[sample]["GT"][haplotypes[i]] == 1
                ]
                got = list(
                    zip(row.snp_pos.split(","), row.snp_alt.split(","), strict=True)
                    if row.snp_pos
                    else []
                )
                assert got == expected, (sample, i)


def test_expression_tracks_the_planted_sites(
    truth: dict, tables: dict[str, pd.DataFrame], inputs: tuple[WorldLayout, CausalPlan]
) -> None:
    layout, _ = inputs
    active = {tf for tf, a in layout.tf_activity["E123"].items() if a >= 0.6}
    sites = [(s.chrom, s.start, s.start + len(s.sequence)) for s in layout.sites if s.tf in active]
    with_site, without = [], []
    for table in tables.values():
        for row in table.itertuples():
            holds = any(c == row.chrom and row.start <= a and b <= row.end for c, a, b in sites)
            (with_site if holds else without).append(row.K562)
    assert len(with_site) > 100 and len(without) > 100
    assert np.mean(with_site) > np.mean(without) + 10
    latent = np.concatenate([truth["genomes"][s]["activity"]["K562"] for s in SAMPLES])
    measured = pd.concat([t["K562"] for t in tables.values()]).to_numpy()
    assert np.corrcoef(latent, measured)[0, 1] > 0.85


def test_same_seed_gives_identical_files(
    tmp_path: Path, world: WorldManifest, truth: dict, inputs: tuple[WorldLayout, CausalPlan]
) -> None:
    layout, plan = inputs
    rng = component_rng(world.seed, "sure")
    again = write_sure(tmp_path, layout, plan, world.path("fasta"), world.size, rng)
    assert json.loads(json.dumps(again)) == truth
    for rel in truth["files"].values():
        assert (tmp_path / rel).read_bytes() == (world.root / rel).read_bytes(), rel


def test_too_few_individuals(
    tmp_path: Path, world: WorldManifest, inputs: tuple[WorldLayout, CausalPlan]
) -> None:
    layout, plan = inputs
    haps = dataclasses.replace(plan.haplotypes, samples=plan.haplotypes.samples.head(3))
    three = dataclasses.replace(plan, haplotypes=haps)
    with pytest.raises(InputError, match="3 individual"):
        write_sure(
            tmp_path, layout, three, world.path("fasta"), world.size, np.random.default_rng(0)
        )


def test_carried_causal_alleles_shift_the_activity(
    truth: dict, tables: dict[str, pd.DataFrame], inputs: tuple[WorldLayout, CausalPlan]
) -> None:
    layout, plan = inputs
    sites = site_table(layout)
    n_shifted = 0
    for sample, table in tables.items():
        chrom, start, end = (table[c].to_numpy() for c in ("chrom", "start", "end"))
        base = sites.interval_activity("E123", chrom.astype(object), start, end)
        carried = table["snp_pos"].str.split(",")
        expected = np.zeros(len(table))
        for v in plan.variants:
            holds = (chrom == v.chrom) & (start <= v.site_start)
            holds &= v.site_start + len(v.ref_site) <= end
            has_alt = carried.map(lambda p, v=v: str(v.pos + 1) in p).to_numpy()
            delta = layout.tf_activity.at[v.tf, "E123"] * (v.occupancy_alt - v.occupancy_ref)
            expected += np.where(holds & has_alt, delta, 0.0)
        latent = np.asarray(truth["genomes"][sample]["activity"]["K562"])
        assert np.allclose(latent - base, expected, atol=1e-5)
        n_shifted += int((np.abs(expected) > 0.1).sum())
    assert n_shifted >= 5
