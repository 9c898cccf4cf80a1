from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.simulate.annotation_io import exon_structure, write_gene_list, write_gtf
from exprflow.simulate.config import SIZES
from exprflow.simulate.genes import lay_out_world
from exprflow.simulate.layout import Gene, WorldLayout

ATTRIBUTE = re.compile(r'(\w+) (?:"([^"]*)"|(\d+));')


@pytest.fixture(scope="module")
def layout() -> WorldLayout:
    return lay_out_world(SIZES["tiny"], np.random.default_rng(2))


@pytest.fixture(scope="module")
def gtf(tmp_path_factory: pytest.TempPathFactory, layout: WorldLayout) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("annotation") / "genes.gtf"
    write_gtf(path, layout, np.random.default_rng(0))
    return read_gtf(path)


def read_gtf(path: Path) -> pd.DataFrame:
    names = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attributes"]
    table = pd.read_csv(path, sep="\t", comment="#", header=None, names=names)
    table["attrs"] = [
        {k: s if s else int(n) for k, s, n in ATTRIBUTE.findall(a)} for a in table["attributes"]
    ]
    return table


def test_gtf_records_per_gene(gtf: pd.DataFrame, layout: WorldLayout) -> None:
    counts = gtf["feature"].value_counts()
    assert counts["gene"] == counts["transcript"] == len(layout.genes)
    assert counts["exon"] >= len(layout.genes)
    assert set(gtf["score"]) == {"."} and set(gtf["frame"]) == {"."}
    order = [
        (int(c.removeprefix("chr")), s) for c, s in zip(gtf["chrom"], gtf["start"], strict=True)
    ]
    assert order == sorted(order)


def test_gtf_is_one_based_and_matches_layout(gtf: pd.DataFrame, layout: WorldLayout) -> None:
    genes = gtf[gtf["feature"] == "gene"]
    by_id = {a["gene_id"]: row for a, row in zip(genes["attrs"], genes.itertuples(), strict=True)}
    for g in layout.genes:
        row = by_id[g.gene_id]
        assert (row.chrom, row.start, row.end, row.strand) == (
            g.chrom,
            g.start + 1,
            g.end,
            g.strand,
        )
        assert row.attrs["gene_name"] == g.symbol and row.attrs["gene_type"] == "protein_coding"


def test_exons_tile_the_transcript_from_the_tss(gtf: pd.DataFrame, layout: WorldLayout) -> None:
    exons = gtf[gtf["feature"] == "exon"]
    for g in layout.genes:
        mine = exons[[a["gene_id"] == g.gene_id for a in exons["attrs"]]]
        numbers = [a["exon_number"] for a in mine["attrs"]]
        first = mine.iloc[int(np.argmin(numbers))]
        tss_1based = g.tss + 1
        assert (first.start if g.strand == "+" else first.end) == tss_1based
        assert mine["start"].min() == g.start + 1 and mine["end"].max() == g.end
        spans = sorted(zip(mine["start"], mine["end"], strict=True))
        assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))
        assert {a["transcript_id"] for a in mine["attrs"]} == {
            a["transcript_id"] for a in mine["attrs"][:1]
        }


def test_exon_structure_of_a_short_gene() -> None:
    gene = Gene("ENSG90000000001.1", "SIM1", "chr1", 1000, "+", 1000, 1500)
    assert exon_structure(gene, np.random.default_rng(0)) == [(1000, 1500)]


def test_attributes_follow_gencode(gtf: pd.DataFrame, real_dir: Path) -> None:
    real = read_gtf(real_dir / "annotation" / "genes.gtf")
    ours = set().union(*gtf.loc[gtf["feature"] == "exon", "attrs"].map(set))
    theirs = set().union(*real["attrs"].map(set))
    assert {"gene_id", "transcript_id", "gene_type", "gene_name", "exon_number"} <= ours & theirs


def test_gene_list_matches_benchmark_layout(
    tmp_path: Path, layout: WorldLayout, real_dir: Path
) -> None:
    write_gene_list(tmp_path / "gene_list.csv", layout)
    ours = pd.read_csv(tmp_path / "gene_list.csv", header=None)
    real = pd.read_csv(real_dir / "benchmark" / "gene_list.csv", header=None)
    assert ours.shape[1] == real.shape[1] == 5
    assert [str(t) for t in ours.dtypes] == [str(t) for t in real.dtypes]
    assert ours.iloc[0].tolist() == [
        layout.genes[0].gene_id.split(".")[0],
        1,
        layout.genes[0].tss + 1,
        layout.genes[0].symbol,
        layout.genes[0].strand,
    ]
    assert len(ours) == len(layout.genes)
