from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from exprflow.errors import InputError
from exprflow.tracking.fingerprint import fingerprint
from exprflow.tracking.step import step_run


def test_step_run_records_params_tags_inputs_outputs(tracking: str, tmp_path: Path) -> None:
    source = tmp_path / "genome.fa"
    source.write_text(">chr1\nACGT\n")
    with step_run("demo", family="foundation", task="world", params={"size": "tiny"}) as ctx:
        local = ctx.log_input("fasta", str(source))
        assert local == source
        ctx.log_output("world", tmp_path)
    run = mlflow.get_run(ctx.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"size": "tiny"}
    tags = run.data.tags
    assert tags["exprflow.family"] == "foundation"
    assert tags["exprflow.task"] == "world"
    assert tags["exprflow.step"] == "demo"
    assert "+" in tags["exprflow.code_version"]
    assert tags["exprflow.input.fasta"] == str(source.resolve())
    assert tags["exprflow.output.world"] == str(tmp_path.resolve())
    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "fasta"
    assert dataset_input.dataset.digest == fingerprint(source)[:32]
    assert str(source.resolve()) in dataset_input.dataset.source


def test_failed_step_ends_failed_with_the_error(tracking: str) -> None:
    with (
        pytest.raises(InputError, match=r"broken\.vcf"),
        step_run("demo", family="f", task="t", params={}) as ctx,
    ):
        raise InputError("broken.vcf", "REF does not match.", record="chr1:5 rs1")
    run = mlflow.get_run(ctx.run_id)
    assert run.info.status == "FAILED"
    assert "broken.vcf: chr1:5 rs1: REF does not match." in run.data.tags["exprflow.error"]
    error_text = mlflow.artifacts.load_text(f"runs:/{ctx.run_id}/error.txt")
    assert "Traceback" in error_text


def test_missing_input_names_the_uri(tracking: str, tmp_path: Path) -> None:
    with (
        pytest.raises(InputError, match=r"absent\.bw: does not exist"),
        step_run("demo", family="f", task="t", params={}) as ctx,
    ):
        ctx.log_input("track", str(tmp_path / "absent.bw"))


def test_run_artifacts_are_inputs_by_their_runs_uri(tracking: str, tmp_path: Path) -> None:
    table = tmp_path / "genes.tsv"
    table.write_text("gene_id\nENSG1\n")
    with step_run("producer", family="f", task="t", params={}) as producer:
        uri = producer.log_artifact_output("prepared", table, "prepared")
    assert uri == f"runs:/{producer.run_id}/prepared/genes.tsv"
    with step_run("consumer", family="f", task="t", params={}) as consumer:
        local = consumer.log_input("prepared", uri)
        assert local.read_text() == "gene_id\nENSG1\n"
    (dataset_input,) = mlflow.get_run(consumer.run_id).inputs.dataset_inputs
    assert dataset_input.dataset.source_type == "mlflow_uri"
    assert uri in dataset_input.dataset.source
