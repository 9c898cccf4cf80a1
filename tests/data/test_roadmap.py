from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from exprflow.data.roadmap import read_roadmap_rpkm, strip_version
from exprflow.errors import InputError
from exprflow.simulate.world import load_manifest

GOOD = "gene_id\tE003\tE116\nENSG00000000005\t0.5\t12\nENSG00000000003\t0\t1.25e1\n"


def _write(tmp_path: Path, text: str, name: str = "rpkm.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_values_ids_and_order(tmp_path: Path) -> None:
    table = read_roadmap_rpkm(_write(tmp_path, GOOD))
    assert table.index.name == "gene_id"
    assert table.index.tolist() == ["ENSG00000000005", "ENSG00000000003"]
    assert table.columns.tolist() == ["E003", "E116"]
    assert table.dtypes.tolist() == [np.float64, np.float64]
    np.testing.assert_array_equal(table.to_numpy(), [[0.5, 12.0], [0.0, 12.5]])


def test_gzip_and_versioned_ids_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "rpkm.txt.gz"
    path.write_bytes(gzip.compress(GOOD.replace("5\t0.5", "5.7\t0.5").encode()))
    assert read_roadmap_rpkm(path).equals(read_roadmap_rpkm(_write(tmp_path, GOOD)))


def test_reads_the_world_table(tiny_world: Path) -> None:
    path = load_manifest(tiny_world).path("roadmap_rpkm")
    table = read_roadmap_rpkm(path)
    assert table.shape == (24, 3)
    assert table.columns.tolist() == ["E116", "E123", "E118"]
    with gzip.open(path, "rt") as text:
        first = text.read().splitlines()[1].split("\t")
    assert table.loc[first[0]].tolist() == [float(v) for v in first[1:]]


def test_strip_version() -> None:
    assert strip_version("ENSG00000000003.14") == "ENSG00000000003"
    assert strip_version("ENSG00000000003") == "ENSG00000000003"
    assert strip_version(["ENSG1.2", "ENSG00000182378.14_PAR_Y", "SIM1", "a.b"]) == [
        "ENSG1",
        "ENSG00000182378_PAR_Y",
        "SIM1",
        "a.b",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gene\tE003\nENSG1\t1\n", r"rpkm.txt: header: has no 'gene_id' column"),
        ("gene_id\nENSG1\n", "has no epigenome"),
        ("gene_id\tE003\tE003\nENSG1\t1\t2\n", r"column\(s\) \['E003'\] appear twice"),
        ("gene_id\tE003\nENSG1.1\t1\nENSG1.2\t2\n", r"line 3: gene ENSG1 appears twice"),
        ("gene_id\tE003\n\t1\n", "line 2: empty gene id"),
        ("gene_id\tE003\nENSG1\t1\nENSG2\tabc\n", r"line 3: RPKM 'abc' of gene ENSG2 in column "),
        ("gene_id\tE003\nENSG1\t\n", "line 2: RPKM '' of gene ENSG1 .* is not a number"),
        ("gene_id\tE003\nENSG1\tinf\n", "is not finite"),
        ("gene_id\tE003\tE004\nENSG1\t1\t-0.5\n", r"'-0.5' of gene ENSG1 in column E004 is neg"),
        ("", "cannot read the RPKM table"),
    ],
)
def test_bad_tables(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_roadmap_rpkm(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent\.txt: cannot read"):
        read_roadmap_rpkm(tmp_path / "absent.txt")
