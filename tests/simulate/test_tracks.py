from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pysam
import pytest
from scipy.stats import spearmanr
from tests.simulate._layout_fixture import cpg_island_genes, make_layout, write_fasta

from exprflow.errors import InputError
from exprflow.simulate.config import SIZES
from exprflow.simulate.layout import MARKS, WorldLayout
from exprflow.simulate.tracks import CELL_TYPES_FILE, EXPRESSION_FILE, TRACKS, write_tracks

SIZE = SIZES["tiny"]
RES = SIZE.track_resolution


@pytest.fixture(scope="module")
def layout() -> WorldLayout:
    return make_layout()


@pytest.fixture(scope="module")
def fasta(layout: WorldLayout, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fasta(tmp_path_factory.mktemp("genome") / "genome.fa", layout)


@pytest.fixture(scope="module")
def written(layout: WorldLayout, fasta: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("world")
    truth = write_tracks(out, layout, fasta, SIZE, np.random.default_rng(7))
    return out, truth


def _tss_means(out: Path, layout: WorldLayout, eid: str, track: str, half: int) -> np.ndarray:
    with pyBigWig.open(str(out / f"tracks/{eid}/{track}.bigWig")) as bw:
        return np.array(
            [
                bw.stats(g.chrom, max(g.tss - half, 0), g.tss + half, exact=True)[0]
                for g in layout.genes
            ],
            dtype=float,
        )


def test_every_file_reopens(written, layout: WorldLayout) -> None:
    out, truth = written
    for cell in layout.cell_types:
        for track in TRACKS:
            path = out / truth["files"][f"{cell.eid}/{track}"]
            with pyBigWig.open(str(path)) as bw:
                assert bw.isBigWig()
                assert bw.chroms() == layout.contigs
                intervals = bw.intervals("chr1", 0, 10 * RES)
                if track != "CpG_methylation":
                    assert [(s, e) for s, e, _ in intervals] == [
                        (i * RES, (i + 1) * RES) for i in range(10)
                    ]
                values = np.array([v for c in layout.contigs for *_, v in bw.intervals(c)])
                if track in (*MARKS, "DNase"):
                    assert values.min() >= 0 and np.allclose(values, np.round(values))
                if track == "CpG_methylation":
                    assert values.min() >= 0 and values.max() <= 1
        with pysam.TabixFile(str(out / truth["files"][f"{cell.eid}/LADs"])) as lads:
            rows = [r.split("\t") for c in lads.contigs for r in lads.fetch(c)]
        assert rows and all(len(r) == 9 and r[3][:2] in ("T1", "T2") for r in rows)
        assert all(0 <= int(r[1]) < int(r[2]) <= layout.contigs[r[0]] for r in rows)
    cells = pd.read_csv(out / CELL_TYPES_FILE, sep="\t")
    assert list(cells.columns) == ["eid", "name", "marks"]
    assert cells["eid"].tolist() == [c.eid for c in layout.cell_types]
    assert cells["marks"][0].split(",") == list(TRACKS)


def test_expression_table_is_roadmap_style(written, layout: WorldLayout) -> None:
    out, _ = written
    with gzip.open(out / EXPRESSION_FILE, "rt") as handle:
        header = handle.readline().rstrip("\n").split("\t")
    assert header == ["gene_id", *(c.eid for c in layout.cell_types)]
    table = pd.read_csv(out / EXPRESSION_FILE, sep="\t", index_col="gene_id")
    assert list(table.index) == sorted(table.index)
    expected = layout.cell_expression.rename(index=lambda g: g.split(".")[0])
    pd.testing.assert_frame_equal(
        table, expected.loc[table.index, table.columns], atol=5e-4, check_names=False
    )


def test_same_seed_gives_identical_bytes(written, layout, fasta, tmp_path: Path) -> None:
    out, truth = written
    again = write_tracks(tmp_path, layout, fasta, SIZE, np.random.default_rng(7))
    assert again == truth
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    other = tmp_path / "other"
    write_tracks(other, layout, fasta, SIZE, np.random.default_rng(8))
    assert (other / "tracks/E116/H3K4me3.bigWig").read_bytes() != (
        out / "tracks/E116/H3K4me3.bigWig"
    ).read_bytes()


def test_marks_follow_expression(written, layout: WorldLayout) -> None:
    out, _ = written
    for cell in layout.cell_types:
        log_expr = layout.log_expression(cell.eid)
        for track, sign in (("H3K4me3", 1), ("H3K27ac", 1), ("H3K9ac", 1), ("H3K27me3", -1)):
            rho = spearmanr(log_expr, _tss_means(out, layout, cell.eid, track, 1000))[0]
            assert sign * rho > 0.5, (cell.eid, track, rho)
        with pyBigWig.open(str(out / f"tracks/{cell.eid}/H3K36me3.bigWig")) as bw:
            body = [bw.stats(g.chrom, g.start, g.end, exact=True)[0] for g in layout.genes]
        assert spearmanr(log_expr, body)[0] > 0.5


def test_enhancer_marks_follow_target_activity(written, layout: WorldLayout) -> None:
    out, _ = written
    for cell in layout.cell_types:
        expr = layout.cell_expression[cell.eid]
        with pyBigWig.open(str(out / f"tracks/{cell.eid}/H3K4me1.bigWig")) as bw:
            signal = np.array(
                [bw.stats(e.chrom, e.start, e.end, exact=True)[0] for e in layout.enhancers]
            )
        active = np.array([expr[e.gene_id] > 10 for e in layout.enhancers])
        assert signal[active].mean() > 3 * signal[~active].mean()


def test_methylation_low_at_active_cpg_island_promoters(written, layout: WorldLayout) -> None:
    out, truth = written
    assert set(truth["cpg_island_genes"]) == cpg_island_genes(layout)
    island = np.array([g.gene_id in cpg_island_genes(layout) for g in layout.genes])
    for cell in layout.cell_types:
        active = layout.cell_expression.loc[[g.gene_id for g in layout.genes], cell.eid] > 10
        methylation = _tss_means(out, layout, cell.eid, "CpG_methylation", 500)
        with pyBigWig.open(str(out / f"tracks/{cell.eid}/CpG_methylation.bigWig")) as bw:
            background = np.mean([v for *_, v in bw.intervals("chr2")])
        assert 0.65 <= background <= 0.85
        assert methylation[island & active].mean() < 0.3
        assert methylation[island & active].max() < methylation[island & ~active].mean()


def test_lamina_avoids_active_genes(written, layout: WorldLayout) -> None:
    out, truth = written
    for cell in layout.cell_types:
        active = (
            layout.cell_expression.loc[[g.gene_id for g in layout.genes], cell.eid] > 10
        ).to_numpy()
        lamina = _tss_means(out, layout, cell.eid, "lamina", 5000)
        assert lamina[active].mean() < 0 and lamina[active].mean() < lamina[~active].mean()
        assert 0 < truth["lads"][cell.eid]["fraction"] < 0.6
        with (
            pysam.TabixFile(str(out / truth["files"][f"{cell.eid}/LADs"])) as lads,
            pyBigWig.open(str(out / f"tracks/{cell.eid}/lamina.bigWig")) as bw,
            pyBigWig.open(str(out / f"tracks/{cell.eid}/H3K9me3.bigWig")) as k9,
        ):
            for row in (r.split("\t") for c in lads.contigs for r in lads.fetch(c)):
                chrom, start, end = row[0], int(row[1]), int(row[2])
                assert bw.stats(chrom, start, end, exact=True)[0] > 0
                assert k9.stats(chrom, start, end, exact=True)[0] > 1.0


def test_fasta_of_another_world_is_refused(layout: WorldLayout, tmp_path: Path) -> None:
    other = make_layout(contig_length=150_000)
    fasta = write_fasta(tmp_path / "other.fa", other)
    with pytest.raises(InputError, match=r"other\.fa: chr1: contig length 150000 != layout"):
        write_tracks(tmp_path / "w", layout, fasta, SIZE, np.random.default_rng(0))
    with pytest.raises(InputError, match=r"missing\.fa: FASTA not found"):
        write_tracks(
            tmp_path / "w", layout, tmp_path / "missing.fa", SIZE, np.random.default_rng(0)
        )


def test_bad_layouts_are_refused(layout: WorldLayout, fasta: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    no_column = dataclasses.replace(layout, cell_expression=layout.cell_expression.iloc[:, :1])
    with pytest.raises(InputError, match=r"cell_expression: missing genes \[\] / cell types"):
        write_tracks(tmp_path, no_column, fasta, SIZE, rng)
    negative = dataclasses.replace(layout, cell_expression=-layout.cell_expression)
    with pytest.raises(InputError, match="finite and >= 0"):
        write_tracks(tmp_path, negative, fasta, SIZE, rng)
    stray = dataclasses.replace(layout.enhancers[0], gene_id="ENSG_missing")
    orphan = dataclasses.replace(layout, enhancers=[stray, *layout.enhancers[1:]])
    with pytest.raises(InputError, match="ENH1_0: enhancer targets unknown gene"):
        write_tracks(tmp_path, orphan, fasta, SIZE, rng)
    outside = dataclasses.replace(layout.genes[0], end=10**7)
    too_long = dataclasses.replace(layout, genes=[outside, *layout.genes[1:]])
    with pytest.raises(InputError, match="is not inside a contig"):
        write_tracks(tmp_path, too_long, fasta, SIZE, rng)
    with pytest.raises(InputError, match="no cell types"):
        write_tracks(tmp_path, dataclasses.replace(layout, cell_types=[]), fasta, SIZE, rng)
    assert not list(tmp_path.rglob("*.bigWig"))
