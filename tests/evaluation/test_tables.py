from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.evaluation.tables import (
    combine_haplotypes,
    read_eqtl_genes,
    read_personalized_predictions,
    read_reference_predictions,
    read_truth,
)
from exprflow.scoring.merge import merge_shards
from exprflow.scoring.store import GenePredictions, row_labels, write_gene
from exprflow.simulate.world import load_manifest


def _long(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["gene_id", "sample", "haplotype", "E116"])
    table["E123"] = 0.0
    table.attrs["path"] = "personalized.tsv.gz"
    return table


def test_reads_a_reference_table(tmp_path: Path) -> None:
    path = tmp_path / "reference_predictions.tsv"
    path.write_text("gene_id\tchrom\ttss\tstrand\tE116\tE123\nG1\tchr1\t10\t+\t1.5\t-2\n")
    table = read_reference_predictions(path)
    assert table.attrs["path"] == str(path)
    assert table["E116"].dtype == np.float64 and table.loc[0, "E123"] == -2.0
    assert table.loc[0, "gene_id"] == "G1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gene_id\ttss\tE116\nG1\t10\t1\n", r"header: missing column\(s\) \['chrom'\]"),
        ("gene_id\tchrom\ttss\tstrand\nG1\t1\t10\t+\n", "header: has no tissue columns"),
        (
            "gene_id\tchrom\tE116\nG1\t1\t1\nG2\t1\tx\n",
            r"line 3 \(gene G2\): value 'x' in column E116 is not a finite number",
        ),
        ("gene_id\tchrom\tE116\nG1\t1\tnan\n", "line 2 .* 'nan' in column E116"),
    ],
)
def test_bad_reference_tables_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "reference_predictions.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_reference_predictions(path)


def test_reads_personalized_tables_as_tsv_gz_and_parquet(tmp_path: Path) -> None:
    table = _long([("G1", "ref", 0, 1.0), ("G1", "S1", 1, 2.0), ("G1", "S1", 2, 3.0)])
    table.to_csv(tmp_path / "p.tsv.gz", sep="\t", index=False)
    table.to_parquet(tmp_path / "p.parquet", index=False)
    for name in ("p.tsv.gz", "p.parquet"):
        read = read_personalized_predictions(tmp_path / name)
        assert read.attrs["path"] == str(tmp_path / name)
        assert list(read["haplotype"]) == [0, 1, 2] and read["E116"].dtype == np.float64
        assert list(read["sample"]) == ["ref", "S1", "S1"]


def test_reads_what_merge_shards_writes(tmp_path: Path) -> None:
    samples = ["S1", "S2"]
    for i, gene_id in enumerate(["G1", "G2"]):
        predictions = np.arange(10, dtype=np.float32).reshape(5, 2) + i
        gene = GenePredictions(
            gene_id,
            "chr1",
            100,
            "+",
            False,
            row_labels(samples),
            ["E116", "E123"],
            predictions,
            None,
        )
        write_gene(tmp_path / "scores", gene)
    merge_shards(tmp_path / "scores", tmp_path / "personalized_predictions.tsv.gz")
    table = read_personalized_predictions(tmp_path / "personalized_predictions.tsv.gz")
    combined = combine_haplotypes(table, "E123", how="meanlog")
    # rows ref, S1|1, S1|2, S2|1, S2|2 hold E123 values 1, 3, 5, 7, 9 (+ 1 for G2)
    assert combined.loc["G1"].tolist() == [4.0, 8.0] and combined.loc["G2"].tolist() == [5.0, 9.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gene_id\tsample\tE116\nG1\tref\t1\n", r"missing column\(s\) \['haplotype'\]"),
        ("gene_id\tsample\thaplotype\tE116\nG1\tS1\tone\t1\n", "line 2: haplotype 'one'"),
        ("gene_id\tsample\thaplotype\tE116\nG1\tS1\t1\t\n", "line 2 .* value '' in column E116"),
    ],
)
def test_bad_personalized_tables_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "personalized_predictions.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_personalized_predictions(path)


def test_unreadable_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.tsv: cannot read the table"):
        read_reference_predictions(tmp_path / "missing.tsv")


def test_additive_and_meanlog_haplotype_combination() -> None:
    table = _long(
        [
            ("G1", "ref", 0, 9.0),  # the reference row is ignored
            ("G1", "S1", 1, np.log(1.0)),
            ("G1", "S1", 2, np.log(3.0)),
            ("G1", "S2", 1, 0.7),
            ("G1", "S2", 2, 0.7),
            ("G2", "S1", 1, np.log(10.0)),
            ("G2", "S1", 2, np.log(30.0)),
        ]
    )
    additive = combine_haplotypes(table, "E116")
    assert list(additive.columns) == ["S1", "S2"] and list(additive.index) == ["G1", "G2"]
    assert additive.loc["G1", "S1"] == pytest.approx(np.log(2.0))  # mean of 1 and 3
    assert additive.loc["G1", "S2"] == pytest.approx(0.7)  # homozygous: unchanged
    assert additive.loc["G2", "S1"] == pytest.approx(np.log(20.0))
    assert np.isnan(additive.loc["G2", "S2"])  # not scored
    assert additive.attrs["path"] == "personalized.tsv.gz"
    meanlog = combine_haplotypes(table, "E116", how="meanlog")
    assert meanlog.loc["G1", "S1"] == pytest.approx(np.log(3.0) / 2)
    with pytest.raises(ValueError, match="how must be one of"):
        combine_haplotypes(table, "E116", how="max")


@pytest.mark.parametrize(
    ("rows", "tissue", "message"),
    [
        ([("G1", "S1", 1, 0.0), ("G1", "S1", 2, 0.0)], "E118", r"no tissue column 'E118'.*E116"),
        ([("G1", "ref", 0, 0.0)], "E116", "no individuals' rows"),
        ([("G1", "S1", 1, 0.0)], "E116", "G1 S1: an individual has one haplotype only"),
        ([("G1", "S1", 3, 0.0), ("G1", "S1", 2, 0.0)], "E116", "G1 S1: haplotype 3 .* not 1 or 2"),
        (
            [("G1", "S1", 1, 0.0), ("G1", "S1", 1, 0.0), ("G1", "S1", 2, 0.0)],
            "E116",
            "G1 S1 haplotype 1: row appears twice",
        ),
    ],
)
def test_bad_haplotype_tables_are_refused(
    rows: list[tuple[str, str, int, float]], tissue: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        combine_haplotypes(_long(rows), tissue)


def test_reads_the_tiny_world_truth_and_eqtl_genes(tiny_world: Path) -> None:
    manifest = load_manifest(tiny_world)
    truth = read_truth(manifest.path("truth"))
    raw = json.loads(manifest.path("truth").read_text())
    assert truth.lcl_cell_type == raw["lcl_cell_type"] == "E116"
    expected = {v["gene_id"].split(".")[0] for v in raw["causal_variants"]}
    assert truth.causal_genes == expected and len(expected) > 0
    eqtl_genes = read_eqtl_genes(manifest.path("eqtls"))
    assert eqtl_genes and all("." not in gene for gene in eqtl_genes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "cannot read the truth document"),
        ("[]", "is not a JSON object"),
        ('{"causal_variants": []}', "lcl_cell_type: has no 'lcl_cell_type'"),
        ('{"lcl_cell_type": "E116", "causal_variants": [{}]}', r"causal_variants\[0\]"),
    ],
)
def test_bad_truth_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "truth.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_truth(path)
