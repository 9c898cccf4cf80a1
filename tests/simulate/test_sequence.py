from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest

from exprflow.simulate.config import SIZES
from exprflow.simulate.genes import lay_out_world
from exprflow.simulate.layout import WorldLayout
from exprflow.simulate.sequence import (
    LINE_WIDTH,
    cpg_observed_expected,
    gc_fraction,
    write_genome,
)


@pytest.fixture(scope="module")
def layout() -> WorldLayout:
    return lay_out_world(SIZES["tiny"], np.random.default_rng(11))


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory, layout: WorldLayout) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("genome") / "genome.fa"
    edits = [("chr2", 1_000, "ACGTACGTAC")]
    truth = write_genome(path, layout, np.random.default_rng(5), edits=edits)
    return path, truth


def test_known_composition_values() -> None:
    assert gc_fraction("GGCCAATT") == 0.5
    assert gc_fraction("acgN") == pytest.approx(2 / 3)
    assert cpg_observed_expected("CGCG") == pytest.approx(2 * 4 / (2 * 2))
    assert cpg_observed_expected("CCGG") == pytest.approx(1 * 4 / (2 * 2))
    assert cpg_observed_expected("AAAA") == 0.0


def test_fasta_layout_and_index(genome: tuple[Path, dict], layout: WorldLayout) -> None:
    path, _ = genome
    assert Path(f"{path}.fai").is_file()
    lines = path.read_text().splitlines()
    assert lines[0] == ">chr1"
    headers = [i for i, line in enumerate(lines) if line.startswith(">")]
    for first, nxt in zip(headers, [*headers[1:], len(lines)], strict=True):
        record = lines[first + 1 : nxt]
        assert {len(line) for line in record[:-1]} == {LINE_WIDTH}
        assert 0 < len(record[-1]) <= LINE_WIDTH
    with pysam.FastaFile(str(path)) as fa:
        assert dict(zip(fa.references, fa.lengths, strict=True)) == layout.contigs
        seq = fa.fetch("chr1")
    assert set(seq) == set("ACGT")


def test_background_composition_is_human_like(genome: tuple[Path, dict]) -> None:
    path, truth = genome
    parts = []
    with pysam.FastaFile(str(path)) as fa:
        for chrom in fa.references:
            seq = np.frombuffer(fa.fetch(chrom).encode(), dtype=np.uint8).copy()
            for c, s, e, _ in truth["cpg_islands"]:
                if c == chrom:
                    seq[s:e] = ord("N")
            background = seq[seq != ord("N")].tobytes()
            assert 0.36 <= gc_fraction(background) <= 0.46  # isochores vary
            assert 0.15 <= cpg_observed_expected(background) <= 0.28
            parts.append(background)
    assert 0.39 <= gc_fraction(b"".join(parts)) <= 0.43


def test_promoter_cpg_islands(genome: tuple[Path, dict], layout: WorldLayout) -> None:
    path, truth = genome
    islands = truth["cpg_islands"]
    assert {gene_id for *_, gene_id in islands} == {g.gene_id for g in layout.genes if g.cpg_island}
    genes = {g.gene_id: g for g in layout.genes}
    with pysam.FastaFile(str(path)) as fa:
        for chrom, start, end, gene_id in islands:
            assert 800 <= end - start <= 1500
            assert start <= genes[gene_id].tss < end
            seq = fa.fetch(chrom, start, end)
            assert gc_fraction(seq) > 0.58
            assert cpg_observed_expected(seq) > 0.6


def test_sites_and_edits_are_written(genome: tuple[Path, dict], layout: WorldLayout) -> None:
    path, _ = genome
    with pysam.FastaFile(str(path)) as fa:
        for site in layout.sites:
            assert (
                fa.fetch(site.chrom, site.start, site.start + len(site.sequence)) == site.sequence
            )
        assert fa.fetch("chr2", 1_000, 1_010) == "ACGTACGTAC"


def test_same_seed_same_bytes(
    tmp_path: Path, genome: tuple[Path, dict], layout: WorldLayout
) -> None:
    path, _ = genome
    again = tmp_path / "again.fa"
    write_genome(again, layout, np.random.default_rng(5), edits=[("chr2", 1_000, "ACGTACGTAC")])
    assert again.read_bytes() == path.read_bytes()
    assert Path(f"{again}.fai").read_bytes() == Path(f"{path}.fai").read_bytes()
    other = tmp_path / "other.fa"
    write_genome(other, layout, np.random.default_rng(6))
    assert other.read_bytes() != path.read_bytes()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
