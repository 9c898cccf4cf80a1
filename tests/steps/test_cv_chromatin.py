"""The ``cv_chromatin`` step on the tiny world: nested fold runs, report, registry, resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from exprflow.data.chromatin_dataset import build_chromatin_dataset, read_chromatin_features
from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.models.chromatin_pyfunc import input_arrays
from exprflow.simulate.world import load_manifest
from exprflow.steps.cv_chromatin import CvChromatinParams, registered_name, run

pytestmark = pytest.mark.integration

_CELL = "E116"


@pytest.fixture(scope="module")
def chromatin(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world's chromatin dataset, one cell type (24 genes on 4 chromosomes)."""
    manifest = load_manifest(tiny_world)
    out = tmp_path_factory.mktemp("chromatin") / "chromatin"
    build_chromatin_dataset(
        manifest.path("tracks"),
        read_genes(manifest.path("gtf")),
        manifest.path("roadmap_rpkm"),
        manifest.path("interactions"),
        out,
        cells=[_CELL],
    )
    return out


def _params(chromatin: Path, **changes: object) -> CvChromatinParams:
    base = CvChromatinParams(
        chromatin=str(chromatin),
        tasks="regression,classification",
        mark_sets="all",
        max_epochs=4,
        patience=2,
        batch_size=8,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _children(parent_id: str) -> list[mlflow.entities.Run]:
    return MlflowClient().search_runs(
        [mlflow.get_run(parent_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
    )


def test_the_grid_is_nested_reported_registered_and_resumed(chromatin: Path, tracking: str) -> None:
    outputs = run(_params(chromatin))
    assert set(outputs) == {
        "report", "activity", "cnn_regression_model", "cnn_classification_model",
        "chromoformer_regression_model", "chromoformer_classification_model",
    }  # fmt: skip
    step = mlflow.get_run(outputs["report"].split("/")[1])
    configs = _children(step.info.run_id)
    kinds = [c.data.tags["exprflow.model"] + "/" + c.data.tags["exprflow.cv_task"] for c in configs]
    assert sorted(kinds) == [
        "chromoformer/classification", "chromoformer/regression",
        "cnn/classification", "cnn/regression",
    ]  # fmt: skip
    for config in configs:
        folds = _children(config.info.run_id)
        assert sorted(f.data.tags["exprflow.fold"] for f in folds) == ["1", "2", "3", "4"]
        assert "pooled_pearson" in config.data.metrics or "pooled_auroc" in config.data.metrics
        history = MlflowClient().get_metric_history(folds[0].info.run_id, "val_loss")
        assert 1 <= len(history) <= 4
        n = sum(f.data.metrics["test_n_test"] for f in folds)
        assert n == 24 - sum(f.data.metrics["test_n_val"] for f in folds)
    client = MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(step.info.run_id, "cv")}
    assert {"cv/summary.csv", "cv/summary.md", "cv/heatmap_cnn_regression.png"} <= artifacts
    assert "activity/activity_summary.csv" in {
        a.path for a in client.list_artifacts(step.info.run_id, "activity")
    }
    assert np.isfinite(step.data.metrics["cnn_regression_pearson_all"])

    (version,) = client.search_model_versions(f"name='{registered_name('cnn', 'regression')}'")
    model = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    features = read_chromatin_features(chromatin, _CELL)
    arrays = input_arrays(features, np.arange(3))
    predicted = model.predict({"promoter_cnn": arrays["promoter_cnn"]})
    assert list(predicted.columns) == ["log2_rpkm"] and len(predicted) == 3
    with pytest.raises(Exception, match="promoter_cnn"):
        model.predict({"promoter_cnn": arrays["promoter_cnn"][:, :10]})
    distal = mlflow.pyfunc.load_model(outputs["chromoformer_classification_model"])
    p = distal.predict({k: v for k, v in arrays.items() if k != "promoter_cnn"})["p_expressed"]
    assert ((p >= 0) & (p <= 1)).all()

    again = run(_params(chromatin, models="cnn", tasks="regression", register="false"))
    latest = mlflow.get_run(again["report"].split("/")[1])
    (config,) = _children(latest.info.run_id)
    reused = [f.data.tags.get("exprflow.reused_fold") for f in _children(config.info.run_id)]
    assert reused == ["true"] * 4


def test_bad_settings_are_refused(chromatin: Path, tracking: str) -> None:
    with pytest.raises(InputError, match="no cell type E999"):
        run(_params(chromatin, cells="E999"))
    with pytest.raises(InputError, match="folds"):
        run(_params(chromatin, folds="1,5"))
    with pytest.raises(InputError, match="mark_sets"):
        run(_params(chromatin, mark_sets="triples"))
