from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pandas as pd
import pysam
import pytest

from exprflow.simulate import expression
from exprflow.simulate.causal import CausalPlan, plan_causal
from exprflow.simulate.config import SIZES
from exprflow.simulate.genes import lay_out_world
from exprflow.simulate.layout import WorldLayout
from exprflow.simulate.population import simulate_population
from exprflow.simulate.world import WorldManifest, component_rng

TINY = SIZES["tiny"]
LIBRARY = re.compile(r"(HG\d{5})\.([12])\.M_\d{6}_[1-8]")


@pytest.fixture(scope="module")
def table(world: WorldManifest) -> pd.DataFrame:
    return pd.read_csv(world.path("expression"), sep="\t")


@pytest.fixture(scope="module")
def layout_and_plan() -> tuple[WorldLayout, CausalPlan]:
    layout = lay_out_world(TINY, component_rng(0, "layout"))
    haps = simulate_population(layout.contigs, TINY.n_individuals, component_rng(0, "population"))
    return layout, plan_causal(layout, haps, TINY.causal_fraction, component_rng(0, "causal"))


def test_noise_free_expression_is_baseline_plus_effects(
    layout_and_plan: tuple[WorldLayout, CausalPlan], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, plan = layout_and_plan
    monkeypatch.setattr(expression, "INDIVIDUAL_NOISE", 0.0)
    values = expression.individual_log_expression(layout, plan, np.random.default_rng(0))
    expected = np.repeat(np.log2(layout.cell_expression["E116"].to_numpy())[:, None], 40, axis=1)
    rows = {g.gene_id: i for i, g in enumerate(layout.genes)}
    for v, i in zip(plan.variants, plan.index, strict=True):
        g = plan.haplotypes.genotypes[i]
        expected[rows[v.gene_id]] += v.effect * (g[0::2].astype(float) + g[1::2])
    np.testing.assert_allclose(values, expected, atol=1e-12)


def test_library_names_and_replicates() -> None:
    samples = [f"HG{i:05d}" for i in range(30)]
    names, owner = expression.library_names(samples, np.random.default_rng(1))
    assert all(LIBRARY.fullmatch(n) for n in names)
    assert [n.split(".")[0] for n in names] == [samples[i] for i in owner]
    assert len(names) == 33 and sorted(set(owner.tolist())) == list(range(30))


def test_geuvadis_layout(world: WorldManifest, table: pd.DataFrame) -> None:
    assert list(table.columns[:4]) == ["TargetID", "Gene_Symbol", "Chr", "Coord"]
    assert (table["TargetID"] == table["Gene_Symbol"]).all()
    genes = pd.read_csv(
        world.path("gene_list"), header=None, names=["id", "chr", "tss", "sym", "strand"]
    )
    assert table["TargetID"].str.split(".").str[0].tolist() == genes["id"].tolist()
    assert table["Chr"].astype(str).tolist() == genes["chr"].astype(str).tolist()
    assert table["Coord"].tolist() == genes["tss"].tolist()
    libraries = table.columns[4:]
    assert all(LIBRARY.fullmatch(c) for c in libraries)
    samples = pd.read_csv(world.path("samples"), sep="\t")["sample"]
    assert sorted({c.split(".")[0] for c in libraries}) == sorted(samples)
    assert len(libraries) == len(samples) + 4
    assert (table[libraries].to_numpy() > 0).all()


def test_gzip_is_reproducible(world: WorldManifest) -> None:
    raw = world.path("expression").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert raw[3] & 0x08 == 0  # no file name stored
    assert gzip.decompress(raw).startswith(b"TargetID\tGene_Symbol\tChr\tCoord\t")


def test_replicates_agree_and_effects_are_recoverable(
    world: WorldManifest, table: pd.DataFrame
) -> None:
    libraries = table.columns[4:]
    logs = np.log2(table[libraries].to_numpy())
    owner = [c.split(".")[0] for c in libraries]
    firsts = {}
    for j, s in enumerate(owner):
        if s in firsts:
            diff = logs[:, j] - logs[:, firsts[s]]
            assert np.std(diff) < 0.25
        firsts[s] = j
    truth = json.loads(world.path("truth").read_text())
    samples = pd.read_csv(world.path("samples"), sep="\t")["sample"].tolist()
    mean_log = pd.DataFrame(logs, columns=owner).T.groupby(level=0).mean().T[samples]
    mean_log.index = table["TargetID"]
    errors = []
    with pysam.VariantFile(str(world.path("vcf"))) as vcf:
        for v in truth["causal_variants"]:
            rec = next(r for r in vcf.fetch(v["chrom"], v["pos"] - 1, v["pos"]) if r.id == v["id"])
            dosage = np.array([sum(rec.samples[s]["GT"]) for s in samples], dtype=float)
            slope = np.polyfit(dosage, mean_log.loc[v["gene_id"]].to_numpy(), 1)[0]
            errors.append(slope - v["effect"])
    assert np.median(np.abs(errors)) < 0.2
