from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from exprflow.data.geuvadis import EQTL_COLUMNS, read_eqtls, read_expression
from exprflow.errors import InputError

_HEADER = "TargetID\tGene_Symbol\tChr\tCoord\tHG00096.1.M_111124_6\tHG00097.1.M_1\tHG00096.2.M_2\n"


def _write(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path


def test_replicate_libraries_are_averaged_per_sample(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "GD660.GeneQuantRPKM.txt.gz",
        _HEADER + "ENSG1.1\tENSG1.1\t1\t100\t2.0\t5.0\t4.0\nENSG2.3\tENSG2.3\t2\t7\t0\t1\t0\n",
    )
    table = read_expression(path)
    assert list(table.columns) == ["HG00096", "HG00097"]
    assert table.loc["ENSG1.1", "HG00096"] == pytest.approx(3.0)
    assert table.loc["ENSG2.3", "HG00097"] == pytest.approx(1.0)
    assert table.index.name == "gene_id"


def test_missing_id_columns_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.txt.gz", "gene\tHG00096.1\nENSG1\t2\n")
    with pytest.raises(InputError, match=r"bad\.txt\.gz: header: missing column\(s\) \['TargetID'"):
        read_expression(path)


def test_duplicated_gene_and_text_values_are_refused(tmp_path: Path) -> None:
    dup = _write(tmp_path / "dup.txt.gz", _HEADER + "G\tG\t1\t1\t1\t1\t1\nG\tG\t1\t1\t1\t1\t1\n")
    with pytest.raises(InputError, match=r"dup\.txt\.gz: G: gene listed twice"):
        read_expression(dup)
    text = _write(tmp_path / "text.txt.gz", _HEADER + "G\tG\t1\t1\tNA?\t1\t1\n")
    with pytest.raises(InputError, match=r"column HG00096\.1\.M_111124_6: non-numeric"):
        read_expression(text)


def test_eqtl_table_columns_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "EUR373.gene.cis.FDR5.all.rs137.txt.gz"
    row = ["rs1", "-", "ENSG1.1", "ENSG1.1", 1, 1, 500, 1000, 500, 0.4, 1e-6, 6.0]
    pd.DataFrame([row], columns=list(EQTL_COLUMNS)).to_csv(good, sep="\t", index=False)
    assert read_eqtls(good).loc[0, "SNPpos"] == 500
    bad = tmp_path / "bad.txt"
    bad.write_text("SNP_ID\tGENE_ID\nrs1\tG\n")
    with pytest.raises(InputError, match="GEUVADIS EUR373"):
        read_eqtls(bad)
