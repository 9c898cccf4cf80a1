"""The ``train_probe`` step: search, evaluation, logged and registered models, bad inputs."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from tests.training._probe_files import regions, write_embeddings, write_files, write_labels

from exprflow.errors import InputError
from exprflow.models.probes.registry import HEADS
from exprflow.steps.train_probe import STEP, TrainProbeParams, registered_name, run


def test_the_step_knows_every_head() -> None:
    # The step lists the heads itself (importing the registry would import torch).
    assert STEP.outputs == tuple(HEADS)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_files(tmp_path_factory.mktemp("train_probe"))


def _params(files: tuple[Path, Path], **changes: object) -> TrainProbeParams:
    base = {
        "embeddings": str(files[0]), "labels": str(files[1]), "head": "linear_probe",
        "n_trials": 2, "max_epochs": 4, "patience": 4, "cache_mb": 16,
    }  # fmt: skip
    return TrainProbeParams(**(base | changes))  # type: ignore[arg-type]


def _children(run_id: str) -> list[mlflow.entities.Run]:
    return mlflow.search_runs(  # type: ignore[no-any-return]
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
        output_format="list",
    )


def test_one_head_is_searched_evaluated_logged_and_registered(
    files: tuple[Path, Path], tracking: str
) -> None:
    outputs = run(_params(files))
    model_uri = outputs["linear_probe"]
    (step,) = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.`exprflow.step` = 'train_probe'",
        output_format="list",
    )  # fmt: skip
    trials = _children(step.info.run_id)
    assert len(trials) == 2 and all(r.data.tags["optuna.state"] == "COMPLETE" for r in trials)
    metrics, params = step.data.metrics, step.data.params
    assert {"best.lr", "best.weight_decay", "best.batch_size"} <= set(params)
    best = max(trials, key=lambda r: r.data.metrics["best_valid_pearson"])
    assert metrics["best_trial"] == float(best.data.tags["optuna.trial"])
    for fold in ("valid", "test"):
        assert metrics[f"{fold}_pearson"] > 0.5  # the planted map, in 4 epochs
        assert {f"{fold}_pearson.{t}" for t in ("lamina", "lads", "cpg")} <= set(metrics)
        assert f"{fold}_pooled_pearson" in metrics and f"{fold}_spearman" in metrics
    assert metrics["valid_pearson"] == pytest.approx(metrics["best_valid_pearson"], abs=1e-6)
    artifacts = {f.path for f in MlflowClient().list_artifacts(step.info.run_id, "evaluation")}
    assert {
        "evaluation/test_scatter.png", "evaluation/test_region.png", "evaluation/test_tracks.csv",
        "evaluation/valid_scatter.png",
    } <= artifacts  # fmt: skip
    (version,) = MlflowClient().search_model_versions(f"name='{registered_name('linear_probe')}'")
    assert version.run_id == step.info.run_id
    model = mlflow.pyfunc.load_model(model_uri)
    example = np.zeros((1, 8, 16), np.float32)
    assert model.predict(example).shape == (1, 3, 16)
    assert model.metadata.get_input_schema().inputs[0].shape == (-1, 8, -1)  # any bins
    assert model.predict(np.zeros((2, 8, 5), np.float32)).shape == (2, 3, 5)
    assert step.data.tags["exprflow.input.embeddings"] == str(files[0].resolve())
    # Rerun: the study already holds its trials, so no new trial run is made.
    run(_params(files))
    assert len(mlflow.search_runs(search_all_experiments=True, output_format="list")) == 4


def test_several_heads_get_a_child_run_each(files: tuple[Path, Path], tracking: str) -> None:
    outputs = run(_params(files, head="maxpool_perceptron,transformer", max_epochs=2))
    assert set(outputs) == {"maxpool_perceptron", "transformer"}
    runs = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.`exprflow.step` = 'train_probe'",
        output_format="list",
    )  # fmt: skip
    (step,) = [r for r in runs if "exprflow.head" not in r.data.tags]
    heads = {r.info.run_name: r for r in _children(step.info.run_id)}
    assert set(heads) == {"maxpool_perceptron", "transformer"}
    for name in heads:
        assert step.data.tags[f"exprflow.output.{name}"] == outputs[name]
    for name, head_run in heads.items():
        assert len(_children(head_run.info.run_id)) == 2
        assert np.isfinite(head_run.data.metrics["test_pooled_pearson"])
        versions = MlflowClient().search_model_versions(f"name='{registered_name(name)}'")
        assert [v.run_id for v in versions] == [head_run.info.run_id]


def test_bad_inputs_get_clear_errors(
    files: tuple[Path, Path], tracking: str, tmp_path: Path
) -> None:
    other = regions()
    other.loc[5, "start"] += 128
    other.loc[5, "end"] += 128
    moved = write_labels(tmp_path / "moved.h5", table=other)
    with pytest.raises(
        InputError,
        match=r"region 5 is chr1 100128 118560 train here but .*\(1 region\(s\) differ\)",
    ):
        run(_params(files, labels=str(moved)))
    with pytest.raises(InputError, match=r"has no track\(s\) \['LMNB1'\]"):
        run(_params(files, tracks="cpg,LMNB1"))
    with pytest.raises(InputError, match="unknown head"):
        run(_params(files, head="mlp"))
    with pytest.raises(InputError, match="has 8 channels; the published linear_probe takes 1536"):
        run(_params(files, model_size="published"))
    with pytest.raises(InputError, match="n_trials=0"):
        run(_params(files, n_trials=0))
    with pytest.raises(InputError, match="does not exist"):
        run(_params(files, embeddings=str(tmp_path / "none.h5")))
    fewer = write_embeddings(tmp_path / "fewer", table=regions(40))
    with pytest.raises(InputError, match=r"holds 64 regions, .* holds 40"):
        run(_params(files, embeddings=str(fewer)))
