from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from exprflow.errors import InputError
from exprflow.models.beluga.load import load_checkpoint
from exprflow.steps.train_chromatin import TrainChromatinParams, run


def test_trains_on_the_world_tracks_and_logs_a_checkpoint(tracking: str, tiny_world: Path) -> None:
    outputs = run(TrainChromatinParams(world=str(tiny_world), n_background=400))
    uri = outputs["chromatin_model"]
    assert uri.startswith("runs:/") and uri.endswith("/chromatin_model/beluga.pt")
    checkpoint = load_checkpoint(mlflow.artifacts.download_artifacts(uri))
    names = checkpoint.data_params["feature_names"]
    assert len(names) == 3 * 4 and "E116|H3K4me3" in names
    assert checkpoint.data_params["held_out_chroms"] == ["chr4"]
    run_id = uri.split("/")[1]
    client = mlflow.MlflowClient()
    auroc = client.get_metric_history(run_id, "val_auroc")
    assert [m.step for m in auroc] == [1, 2, 3, 4]
    assert auroc[-1].value > 0.8
    finished = client.get_run(run_id)
    assert {d.dataset.name for d in finished.inputs.dataset_inputs} == {"fasta", "tracks", "genes"}


def test_unknown_track_is_named(tracking: str, tiny_world: Path) -> None:
    with pytest.raises(InputError, match=r"no bigWig for track\(s\) \['H3K4me2'\]"):
        run(TrainChromatinParams(world=str(tiny_world), track_names="H3K4me3,H3K4me2"))


def test_unknown_model_size_is_refused(tracking: str, tiny_world: Path) -> None:
    with pytest.raises(InputError, match="model_size='demo'"):
        run(TrainChromatinParams(world=str(tiny_world), model_size="demo", n_background=50))
