from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException

from exprflow.errors import InputError
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.load import load_checkpoint, save_checkpoint
from exprflow.models.beluga.model import Beluga
from exprflow.models.expecto.pyfunc import SEQUENCE_LENGTH
from exprflow.simulate.world import load_manifest
from exprflow.steps.train_tissue import STEP, TrainTissueParams, _register, run

TISSUES = ["E116", "E123", "E118"]
#: Two genes per training chromosome and three on the held-out chr4 (of the 24), to be fast.
GENES = [1, 4, 7, 8, 13, 15, 19, 20, 21]


def _genes(tiny_world: Path, tmp_path: Path) -> Path:
    lines = load_manifest(tiny_world).path("gene_list").read_text().splitlines()
    path = tmp_path / "gene_list.csv"
    path.write_text("".join(f"{lines[i - 1]}\n" for i in GENES))
    return path


def _params(tiny_world: Path, tiny_expecto, tmp_path: Path, **changes: Any) -> TrainTissueParams:
    params = TrainTissueParams(
        world=str(tiny_world),
        genes=str(_genes(tiny_world, tmp_path)),
        chromatin_model=str(tiny_expecto.checkpoint),
    )
    return replace(params, **changes)


def test_step_spec() -> None:
    assert (STEP.name, STEP.family, STEP.task) == ("train_tissue", "expecto", "expression")
    assert STEP.upstream["chromatin_model"] == ("train_chromatin", "chromatin_model")
    assert STEP.defaults()["registered_model"] == "expecto"


def test_trains_logs_and_registers_the_expecto_model(
    tracking: str, tiny_world: Path, tiny_expecto, tmp_path: Path
) -> None:
    outputs = run(_params(tiny_world, tiny_expecto, tmp_path))
    assert outputs["model"] == "models:/expecto/1"
    folder = Path(mlflow.artifacts.download_artifacts(outputs["tissue_models"]))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["modellist", "metrics.tsv", *(f"{t}.json" for t in TISSUES)]
    )

    client = mlflow.MlflowClient()
    version = client.get_model_version("expecto", "1")
    run_id = outputs["tissue_models"].split("/")[1]
    finished = client.get_run(run_id)
    assert finished.info.status == "FINISHED"
    metrics = finished.data.metrics
    assert (metrics["n_train"], metrics["n_test"]) == (6, 3)
    for name in ("test_spearman", "test_pearson"):
        assert -1 <= metrics[name] <= 1
    for tissue in TISSUES:
        for name in ("test_spearman", "test_pearson", "train_spearman"):
            assert math.isfinite(metrics[f"{name}_{tissue}"])
    assert version.tags["run_id"] == run_id
    assert float(version.tags["test_spearman"]) == pytest.approx(metrics["test_spearman"], 1e-5)
    assert finished.inputs is not None
    assert {d.dataset.name for d in finished.inputs.dataset_inputs} == {
        "fasta", "genes", "expression", "chromatin_model",
    }  # fmt: skip

    # The registered model loads and predicts its own input example: the first chr4 gene.
    model = mlflow.pyfunc.load_model(outputs["model"])
    example = model.input_example
    assert len(example["sequence"].iloc[0]) == SEQUENCE_LENGTH
    assert list(example["strand"]) == ["+"]  # ENSG90000000019, chr4, + strand
    predicted = model.predict(example)
    assert list(predicted.columns) == TISSUES and predicted.notna().all().all()


def _run_states() -> list[str]:
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    return [r.info.status for r in runs]


def test_bad_inputs_fail_before_anything_is_registered(
    tracking: str, tiny_world: Path, tiny_expecto, tmp_path: Path
) -> None:
    # A chromatin model that does not read ExPecto's 2,000 bp windows.
    other = Beluga(BelugaConfig.tiny(12, seq_len=1000)).eval()
    data = {**load_checkpoint(tiny_expecto.checkpoint).data_params, "seq_len": 1000}
    short = save_checkpoint(tmp_path / "short.pt", other, other.config, {}, data)
    with pytest.raises(InputError, match="reads 1000 bp windows, but ExPecto feeds it 2000"):
        run(_params(tiny_world, tiny_expecto, tmp_path, chromatin_model=str(short)))

    # A state dict of some other network.
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="is not a Beluga state dict"):
        run(_params(tiny_world, tiny_expecto, tmp_path, chromatin_model=str(tmp_path / "other.pt")))

    # An expression table of other genes.
    rpkm = pd.read_csv(load_manifest(tiny_world).path("roadmap_rpkm"), sep="\t")
    rpkm["gene_id"] = rpkm["gene_id"].str.replace("ENSG9", "ENSG8")
    other_genes = tmp_path / "rpkm.tsv"
    rpkm.to_csv(other_genes, sep="\t", index=False)
    with pytest.raises(InputError, match=r"holds none of the 9 genes .*\(e.g. ENSG90000000001\)"):
        run(_params(tiny_world, tiny_expecto, tmp_path, expression=str(other_genes)))

    # A held-out contig without genes.
    with pytest.raises(InputError, match="held_out='chr9' leaves 9 training and 0 test genes"):
        run(_params(tiny_world, tiny_expecto, tmp_path, held_out="chr9"))

    assert _run_states() == ["FAILED"] * 4
    assert mlflow.MlflowClient().search_registered_models() == []

    # A registration that fails half-way leaves no empty registered model behind.
    with pytest.raises(MlflowException):
        _register("models:/m-0123456789abcdef", "expecto", {"run_id": "r"})
    assert mlflow.MlflowClient().search_registered_models() == []
