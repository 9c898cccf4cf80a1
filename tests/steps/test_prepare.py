from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.simulate.world import load_manifest
from exprflow.steps.prepare import PrepareParams, run


def test_prepare_validates_the_world_and_builds_the_tables(tracking: str, tiny_world: Path) -> None:
    outputs = run(PrepareParams(world=str(tiny_world)))
    manifest = load_manifest(tiny_world)
    assert outputs["fasta"] == str(manifest.path("fasta"))
    assert outputs["vcf"] == str(manifest.path("vcf"))
    run_id = outputs["prepared"].split("/")[1]
    finished = mlflow.get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert {d.dataset.name for d in finished.inputs.dataset_inputs} == {
        "fasta",
        "vcf",
        "genes",
        "expression",
        "samples",
    }
    local = Path(mlflow.artifacts.download_artifacts(outputs["prepared"]))
    genes = pd.read_csv(local / "genes.tsv", sep="\t")
    samples = pd.read_csv(local / "samples.tsv", sep="\t")
    expression = pd.read_csv(local / "expression.tsv.gz", sep="\t", index_col=0)
    summary = json.loads((local / "summary.json").read_text())
    assert len(genes) == summary["genes"] == 4 * 6
    assert samples["in_vcf"].all() and "split" in samples.columns
    assert expression.shape == (summary["genes_with_expression"], summary["samples_both"])
    assert summary["variants"] == sum(summary["variants_per_contig"].values()) > 0
    assert finished.data.metrics["n_samples_both"] == summary["samples_both"] == 40


def test_inputs_are_required_without_a_world(tracking: str) -> None:
    with pytest.raises(InputError, match="no fasta, vcf, genes, expression given"):
        run(PrepareParams())
    (failed,) = mlflow.search_runs(output_format="list")
    assert failed.info.status == "FAILED"
    assert "no fasta" in failed.data.tags["exprflow.error"]


def test_gene_on_a_contig_the_fasta_lacks_is_named(
    tracking: str, tiny_world: Path, tmp_path: Path
) -> None:
    gene_list = tmp_path / "gene_list.csv"
    original = load_manifest(tiny_world).path("gene_list").read_text()
    gene_list.write_text(original + "ENSG99999999999,99,5000,LOST,+\n")
    with pytest.raises(InputError, match=r"gene_list\.csv: ENSG99999999999: gene on contig '99'"):
        run(PrepareParams(world=str(tiny_world), genes=str(gene_list)))


def test_expression_without_genotyped_samples_is_refused(
    tracking: str, tiny_world: Path, tmp_path: Path
) -> None:
    source = load_manifest(tiny_world).path("expression")
    with gzip.open(source, "rt") as handle:
        header, *rows = handle.read().splitlines()
    renamed = "\t".join(c if i < 4 else "NA" + c for i, c in enumerate(header.split("\t")))
    other = tmp_path / "GD660.GeneQuantRPKM.txt.gz"
    with gzip.open(other, "wt") as handle:
        handle.write("\n".join([renamed, *rows]) + "\n")
    with pytest.raises(InputError, match="no sample has both genotypes"):
        run(PrepareParams(world=str(tiny_world), expression=str(other)))


def test_wrong_ref_in_the_vcf_fails_naming_the_record(
    tracking: str, tiny_world: Path, tmp_path: Path
) -> None:
    fasta = tmp_path / "genome.fa"
    shutil.copy(load_manifest(tiny_world).path("fasta"), fasta)
    lines = fasta.read_text().splitlines()
    lines[1:] = [line.translate(str.maketrans("ACGT", "CATG")) for line in lines[1:]]
    fasta.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"population\.vcf\.gz: chr1:\d+ rs\d+: REF"):
        run(PrepareParams(world=str(tiny_world), fasta=str(fasta)))
