from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from exprflow.data.basenji_labels import read_labels
from exprflow.data.chromatin_dataset import read_chromatin_features
from exprflow.data.chromatin_meta import read_chromatin_meta
from exprflow.data.mlm_dataset import read_meta, read_mlm_dataset
from exprflow.data.promoter_tasks import read_tasks
from exprflow.errors import InputError
from exprflow.simulate.world import load_manifest
from exprflow.steps.prepare import PrepareParams, mlm_test_samples, run
from exprflow.tracking.store import data_root


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
        "regions",
        "eqtls",
        "tracks",
        "roadmap_rpkm",
        "interactions",
        "mpra",
        "chip",
        "sharpr",
        "sure",
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


def test_world_regions_get_labels_reused_for_the_same_key(tracking: str, tiny_world: Path) -> None:
    first = run(PrepareParams(world=str(tiny_world)))
    assert first["regions"] == str(load_manifest(tiny_world).path("sequences_bed"))
    labels = Path(first["labels"])
    assert labels.parent.parent == data_root() / "prepare" and labels.name == "labels.h5"
    with read_labels(labels) as opened:
        assert opened.bins.shape == (16, 896, 10) and opened.single_bin.shape == (16, 1, 10)
        assert opened.track_names[-1] == "CpG_count"
    run_id = first["prepared"].split("/")[1]
    metrics = mlflow.get_run(run_id).data.metrics
    assert (metrics["n_regions"], metrics["n_label_tracks"], metrics["labels_reused"]) == (
        16,
        10,
        0,
    )
    table = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/labels/label_targets.txt")
    assert Path(table).read_text().startswith("index\tgenome\tidentifier\tfile")
    written = labels.stat().st_mtime_ns
    again = run(PrepareParams(world=str(tiny_world)))
    assert again["labels"] == first["labels"] and labels.stat().st_mtime_ns == written
    assert mlflow.get_run(again["prepared"].split("/")[1]).data.metrics["labels_reused"] == 1


@pytest.mark.parametrize("with_regions", [False, True])
def test_no_labels_unless_asked(tracking: str, tiny_world: Path, with_regions: bool) -> None:
    manifest = load_manifest(tiny_world)
    inputs = {k: str(manifest.path(v)) for k, v in [("fasta", "fasta"), ("vcf", "vcf")]}
    inputs |= {"genes": str(manifest.path("gtf")), "expression": str(manifest.path("expression"))}
    regions = str(manifest.path("sequences_bed")) if with_regions else ""
    outputs = run(PrepareParams(**inputs, regions=regions))
    assert "labels" not in outputs
    assert outputs.get("regions") == (regions or None)


def test_label_targets_need_regions(tracking: str, tmp_path: Path) -> None:
    table = tmp_path / "targets.txt"
    table.write_text("identifier\tfile\tclip\tscale\tsum_stat\n")
    inputs = dict.fromkeys(("fasta", "vcf", "genes", "expression"), "x")
    with pytest.raises(InputError, match="label targets given without regions"):
        run(PrepareParams(**inputs, label_targets=str(table)))


def test_region_off_the_genome_fails_before_the_vcf_is_read(
    tracking: str, tiny_world: Path, tmp_path: Path
) -> None:
    regions = tmp_path / "sequences.bed"
    regions.write_text("chr1\t0\t131072\ttrain\nchr9\t0\t131072\ttest\n")
    with pytest.raises(InputError, match=r"sequences\.bed: chr9: contig 'chr9' is not in"):
        run(PrepareParams(world=str(tiny_world), regions=str(regions)))


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


def test_mlm_dataset_of_the_top_genes(tracking: str, tiny_world: Path) -> None:
    params = PrepareParams(
        world=str(tiny_world), mlm_genes=3, mlm_max_snps=50, mlm_eqtl_pvalue=1e-3
    )
    outputs = run(params)
    folder = Path(mlflow.artifacts.download_artifacts(outputs["mlm"]))
    meta = read_meta(folder / "meta.csv.gz")
    table = read_mlm_dataset(folder / "dataset.parquet", meta)
    summary = json.loads((folder / "summary.json").read_text())
    assert meta["GENE_ID"].unique().tolist() == summary["genes"] and len(summary["genes"]) == 3
    assert meta.groupby("GENE_ID").size().eq(50).all()
    samples = pd.read_csv(load_manifest(tiny_world).path("samples"), sep="\t")
    eur = set(samples.loc[samples["super_pop"] == "EUR", "sample"])
    assert set(table.loc[table["split"] == "test", "sample"]) == eur
    metrics = mlflow.get_run(outputs["mlm"].split("/")[1]).data.metrics
    assert metrics["n_mlm_snps"] == 150 and metrics["n_mlm_test"] == len(eur)
    assert metrics["n_mlm_train"] + metrics["n_mlm_test"] == 40


@pytest.mark.parametrize("mlm_genes", [0, 2])
def test_mlm_genes_without_eqtls_follow_the_gene_table(
    tracking: str, tiny_world: Path, mlm_genes: int
) -> None:
    manifest = load_manifest(tiny_world)
    inputs = {k: str(manifest.path(v)) for k, v in [("fasta", "fasta"), ("vcf", "vcf")]}
    inputs |= {"genes": str(manifest.path("gtf")), "expression": str(manifest.path("expression"))}
    outputs = run(PrepareParams(**inputs, mlm_genes=mlm_genes, mlm_max_snps=20))
    if not mlm_genes:
        assert "mlm" not in outputs
        return
    meta = read_meta(Path(mlflow.artifacts.download_artifacts(outputs["mlm"])) / "meta.csv.gz")
    prepared = Path(mlflow.artifacts.download_artifacts(outputs["prepared"]))
    genes = pd.read_csv(prepared / "genes.tsv", sep="\t")
    assert meta["GENE_ID"].unique().tolist() == genes["gene_id"].head(2).tolist()
    metrics = mlflow.get_run(outputs["mlm"].split("/")[1]).data.metrics
    assert (metrics["n_mlm_test"], metrics["n_mlm_train"]) == (40, 0)  # no super_pop: all


def test_mlm_test_rules() -> None:
    samples = pd.DataFrame(
        {
            "sample": ["A", "B", "C", "D"],
            "in_vcf": [True, True, True, False],
            "in_expression": [True, True, False, True],
            "super_pop": ["EUR", "AFR", "EUR", "EUR"],
        }
    )
    assert mlm_test_samples(samples, "expressed_eur") == ["A"]
    assert mlm_test_samples(samples, "expressed") == ["A", "B"]
    assert mlm_test_samples(samples.drop(columns="super_pop"), "expressed_eur") == ["A", "B"]
    with pytest.raises(InputError, match="mlm_test is 'eur', expected one of expressed_eur"):
        mlm_test_samples(samples, "eur")


def test_chromatin_dataset_from_the_world_and_none_without_its_inputs(
    tracking: str, tiny_world: Path
) -> None:
    outputs = run(PrepareParams(world=str(tiny_world), mlm_genes=0, chromatin_marks="H3K4me3"))
    folder = Path(mlflow.artifacts.download_artifacts(outputs["chromatin"]))
    meta = read_chromatin_meta(folder / "train.csv")
    cells = pd.read_csv(load_manifest(tiny_world).path("tracks") / "cell_types.tsv", sep="\t")
    assert sorted(meta["eid"].unique()) == sorted(cells["eid"])
    features = read_chromatin_features(folder, "E116")
    assert features.marks == ("H3K4me3",) and features.promoter[100].shape == (24, 400, 1)
    assert sorted(meta["split"].unique()) == [1, 2, 3, 4]
    metrics = mlflow.get_run(outputs["chromatin"].split("/")[1]).data.metrics
    assert (metrics["n_chromatin_genes"], metrics["n_chromatin_marks"]) == (24, 1)

    manifest = load_manifest(tiny_world)
    inputs = {k: str(manifest.path(v)) for k, v in [("fasta", "fasta"), ("vcf", "vcf")]}
    inputs |= {"genes": str(manifest.path("gtf")), "expression": str(manifest.path("expression"))}
    assert "chromatin" not in run(PrepareParams(**inputs, mlm_genes=0))


def test_promoter_tasks_from_the_world_and_none_without_their_inputs(
    tracking: str, tiny_world: Path
) -> None:
    outputs = run(PrepareParams(world=str(tiny_world), mlm_genes=0, chromatin_marks="H3K4me3"))
    folder = Path(mlflow.artifacts.download_artifacts(outputs["promoter"]))
    names = (
        "FluorescenceData",
        "FluorescenceData_classification",
        "RNASeq",
        "ENCODETFChIPSeq",
        "Sharpr_MPRA",
        "SuRE_classification",
    )
    tasks = read_tasks(folder, names)
    assert tasks["FluorescenceData"].spec.outputs == ("JURKAT", "K562", "THP1")
    assert tasks["FluorescenceData"].splits.shape[1] == 5
    assert tasks["RNASeq"].spec.outputs == ("E116", "E123", "E118")
    assert tasks["SuRE_classification"].spec.n_logits == 40
    assert (folder / "fluorescence" / "merged.tsv").is_file()
    summary = json.loads((folder / "summary.json").read_text())
    metrics = mlflow.get_run(outputs["promoter"].split("/")[1]).data.metrics
    for name in names:
        rows = summary["rows"][name]
        assert (
            metrics[f"n_promoter_{name}_train"]
            == rows["train"]
            == tasks[name].indices("train").size
        )

    manifest = load_manifest(tiny_world)
    inputs = {k: str(manifest.path(v)) for k, v in [("fasta", "fasta"), ("vcf", "vcf")]}
    inputs |= {"genes": str(manifest.path("gtf")), "expression": str(manifest.path("expression"))}
    only = run(PrepareParams(**inputs, mlm_genes=0, sharpr=str(manifest.path("sharpr"))))
    built = Path(mlflow.artifacts.download_artifacts(only["promoter"]))
    assert sorted(p.name for p in built.glob("*.h5")) == ["Sharpr_MPRA.h5"]
