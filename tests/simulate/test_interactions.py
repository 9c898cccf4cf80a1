from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.simulate._layout_fixture import make_layout

from exprflow.errors import InputError
from exprflow.simulate.interactions import (
    COLUMNS,
    INTERACTIONS_FILE,
    SCORE_THRESHOLD,
    write_interactions,
)
from exprflow.simulate.layout import WorldLayout


@pytest.fixture(scope="module")
def layout() -> WorldLayout:
    return make_layout()


@pytest.fixture(scope="module")
def written(layout: WorldLayout, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("world")
    truth = write_interactions(out, layout, np.random.default_rng(3))
    table = pd.read_csv(out / INTERACTIONS_FILE, sep="\t")
    return out, truth, table


def test_table_layout(written, layout: WorldLayout) -> None:
    out, truth, table = written
    assert truth["files"] == {"pchic": INTERACTIONS_FILE}
    assert (out / INTERACTIONS_FILE).read_text().splitlines()[0].split("\t") == list(COLUMNS)
    assert list(table.columns) == list(COLUMNS)
    lengths = table["bait_chrom"].map(layout.contigs)
    assert (table["bait_start"] >= 0).all() and (table["bait_end"] <= lengths).all()
    assert (table["bait_start"] < table["bait_end"]).all()
    assert (table["other_start"] < table["other_end"]).all()
    assert (table["other_end"] <= table["other_chrom"].map(layout.contigs)).all()
    genes = {g.gene_id: g for g in layout.genes}
    tss = table["bait_gene_id"].map(lambda g: genes[g].tss)
    assert ((table["bait_start"] <= tss) & (tss < table["bait_end"])).all()
    assert set(table["cell_type"]) == {c.eid for c in layout.cell_types}
    assert len(table) == truth["planted"] * len(layout.cell_types) + sum(
        truth["background"].values()
    )


def test_every_planted_enhancer_is_a_real_contact(written, layout: WorldLayout) -> None:
    _, _, table = written
    strong = table[table["score"] > SCORE_THRESHOLD]
    for cell in layout.cell_types:
        rows = strong[strong["cell_type"] == cell.eid]
        found = {
            (r.bait_gene_id, r.other_chrom, r.other_start, r.other_end): r.score
            for r in rows.itertuples()
        }
        assert len(found) == len(layout.enhancers) == len(rows)
        for enh in layout.enhancers:
            key = (enh.gene_id, enh.chrom, enh.start, enh.end)
            assert found[key] == pytest.approx(enh.score, rel=1e-5)


def test_background_contacts_stay_below_threshold(written) -> None:
    _, truth, table = written
    weak = table[table["score"] <= SCORE_THRESHOLD]
    assert len(weak) == sum(truth["background"].values()) > 0
    assert weak["score"].min() > 0


def test_rows_are_sorted(written, layout: WorldLayout) -> None:
    _, _, table = written
    cell_rank = table["cell_type"].map({c.eid: i for i, c in enumerate(layout.cell_types)})
    keys = pd.DataFrame(
        {
            "cell": cell_rank,
            "chrom": table["bait_chrom"].map({c: i for i, c in enumerate(layout.contigs)}),
            "start": table["bait_start"],
        }
    )
    assert keys.equals(keys.sort_values(["cell", "chrom", "start"], kind="stable"))


def test_same_seed_gives_identical_bytes(written, layout: WorldLayout, tmp_path: Path) -> None:
    out, truth, _ = written
    assert write_interactions(tmp_path, layout, np.random.default_rng(3)) == truth
    assert (tmp_path / INTERACTIONS_FILE).read_bytes() == (out / INTERACTIONS_FILE).read_bytes()


def test_bad_enhancers_are_refused(layout: WorldLayout, tmp_path: Path) -> None:
    orphan = dataclasses.replace(layout.enhancers[1], gene_id="ENSG_nowhere")
    bad = dataclasses.replace(layout, enhancers=[layout.enhancers[0], orphan])
    with pytest.raises(InputError, match=r"ENH1_1: enhancer .* targets an unknown gene"):
        write_interactions(tmp_path, bad, np.random.default_rng(0))
    outside = dataclasses.replace(layout.enhancers[0], start=10**7, end=10**7 + 10)
    with pytest.raises(InputError, match="ENH1_0: enhancer chr1:10000000-10000010"):
        write_interactions(
            tmp_path, dataclasses.replace(layout, enhancers=[outside]), np.random.default_rng(0)
        )
    assert not (tmp_path / INTERACTIONS_FILE).exists()
