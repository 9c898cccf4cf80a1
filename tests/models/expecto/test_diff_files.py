from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.variant import Variant
from exprflow.models.expecto.diff_files import (
    closest_genes,
    open_diff_files,
    read_chromatin_diffs,
    read_closest_genes,
    write_closest_genes,
)
from exprflow.simulate.world import load_manifest


@pytest.fixture(scope="module")
def genes(tiny_world: Path) -> pd.DataFrame:
    return read_genes(load_manifest(tiny_world).path("gene_list"))


def test_closest_genes_against_brute_force(genes: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    extra = pd.DataFrame(  # a tie at equal distance (left wins) and two genes sharing a TSS
        {
            "gene_id": ["TIE_L", "TIE_R", "SAME_A", "SAME_B"],
            "chrom": ["3", "3", "4", "4"],
            "tss": [100_000, 100_020, 200_000, 200_000],
            "strand": ["+", "-", "-", "+"],
        }
    )
    table = pd.concat([genes, extra], ignore_index=True)
    positions = [("chr3", 100_010), ("chr4", 200_000), ("chr4", 199_990)]
    positions += [(f"chr{rng.integers(1, 5)}", int(rng.integers(0, 400_000))) for _ in range(200)]
    variants = [Variant(c, p, "N", "A") for c, p in positions]
    found = closest_genes(variants, table)
    for row, v in zip(found.itertuples(), variants, strict=True):
        on = table[table["chrom"] == v.chrom.removeprefix("chr")]
        d = on["tss"].to_numpy() - v.pos0
        best = min(range(len(on)), key=lambda j: (abs(d[j]), d[j], j))
        assert (row.gene, row.distance) == (on["gene_id"].iloc[best], d[best])
        assert (row.tss_start, row.start, row.end) == (v.pos0 + d[best], v.pos0, v.pos0 + 1)
        assert row.strand == on["strand"].iloc[best] and row.chrom == v.chrom
    assert list(found["gene"][:3]) == ["TIE_L", "SAME_A", "SAME_A"]
    with pytest.raises(InputError, match=r"chr9:11 \.: no gene of <gene table> .* chr9"):
        closest_genes([Variant("chr9", 10, "A", "C", source="v.vcf")], genes)


def test_diff_files_are_all_or_nothing(tmp_path: Path) -> None:
    with (
        pytest.raises(OSError, match="disk full"),
        open_diff_files(tmp_path / "v", [0, 200], 2) as rows,
    ):
        rows.write(0, np.ones((2, 1, 3), dtype=np.float32))
        raise OSError("disk full")
    with (
        pytest.raises(ValueError, match="1 of 2 variants written"),
        open_diff_files(tmp_path / "v", [0, 200], 2) as rows,
    ):
        rows.write(0, np.ones((2, 1, 3), dtype=np.float32))
    assert list(tmp_path.iterdir()) == []
    with open_diff_files(tmp_path / "v", [0, 200], 2) as rows:
        rows.write(0, np.full((2, 2, 3), 0.5, dtype=np.float32))
    with h5py.File(tmp_path / "v.shift_200.diff.h5") as h5:
        np.testing.assert_array_equal(h5["pred"], np.full((4, 3), 0.5, dtype=np.float32))


def test_closest_gene_file_round_trip(example: Path, tmp_path: Path) -> None:
    published = example / "example.vcf.bed.sorted.bed.closestgene"
    table = read_closest_genes(published)
    assert table["distance"][0] == table["tss_start"][0] - table["start"][0] == 1506
    copy = write_closest_genes(table, tmp_path / "copy.closestgene")
    assert copy.read_text() == published.read_text()


def test_written_diffs_read_back(tmp_path: Path) -> None:
    diffs = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 7
    with open_diff_files(tmp_path / "v", [0, -200], 3) as rows:
        rows.write(0, diffs[:, :2])
        rows.write(2, diffs[:, 2:])
    back = read_chromatin_diffs(str(tmp_path / "v.shift_SHIFT.diff.h5"), [0, -200])
    np.testing.assert_array_equal(back, diffs.astype(np.float64))
    with (
        pytest.raises(ValueError, match="do not fit 2 shifts"),
        open_diff_files(tmp_path / "w", [0, -200], 3) as rows,
    ):
        rows.write(2, diffs)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1\t9\t10\tA\tG\t1\t9\t10\t+\tG0", "10 columns, expected 11"),
        ("1\t9\t10\tA\tG\t1\t9\t10\t.\tG0\t0", r"line 1: strand '\.' is not \+ or -"),
        ("1\tnine\t10\tA\tG\t1\t9\t10\t+\tG0\t0", "line 1: start is not an integer"),
    ],
)
def test_bad_closest_gene_rows(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "bad.closestgene"
    path.write_text(row + "\n")
    with pytest.raises(InputError, match=message):
        read_closest_genes(path)
