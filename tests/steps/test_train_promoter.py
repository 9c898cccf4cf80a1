"""The ``train_promoter`` step on the tiny world: nested runs, reports, registry, resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from exprflow.data.promoter_dataset import PromoterInputs, build_promoter_datasets
from exprflow.errors import InputError
from exprflow.simulate.world import load_manifest
from exprflow.steps.train_promoter import TrainPromoterParams, run

pytestmark = pytest.mark.integration

_STRATEGIES = "single_task,pretrain+linear_probing,pretrain+finetune,joint"


@pytest.fixture(scope="module")
def promoter(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world's fluorescence and Sharpr task files (300 promoters, 600 tiles)."""
    manifest = load_manifest(tiny_world)
    out = tmp_path_factory.mktemp("promoter") / "promoter"
    inputs = PromoterInputs(fluorescence=manifest.path("mpra"), sharpr=manifest.path("sharpr"))
    return build_promoter_datasets(inputs, out).folder


def _params(folder: Path, **changes: object) -> TrainPromoterParams:
    base = TrainPromoterParams(
        promoter=str(folder),
        size="tiny",
        strategies=_STRATEGIES,
        task_sets="Sharpr_MPRA",
        splits="0",
        seeds="0",
        lr=1e-3,
        pretrain_lr=1e-3,
        max_epochs=2,
        pretrain_max_epochs=1,
        motif_names="GATA1,SPI1",
        n_insertions=1,
        insertion_sequences=10,
        threads=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _children(parent_id: str) -> list[mlflow.entities.Run]:
    return MlflowClient().search_runs(
        [mlflow.get_run(parent_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
    )


def test_the_strategies_are_nested_reported_registered_and_resumed(
    promoter: Path, tracking: str
) -> None:
    outputs = run(_params(promoter))
    assert set(outputs) == {"summary", "transfer", "motifs", "model"}
    step_id = outputs["summary"].split("/")[1]
    children = {c.info.run_name: c for c in _children(step_id)}
    assert set(children) == {
        "pretrain-MTLucifer-Sharpr_MPRA", "MTLucifer-single_task",
        "MTLucifer-pretrain+linear_probing-Sharpr_MPRA",
        "MTLucifer-pretrain+finetune-Sharpr_MPRA", "MTLucifer-joint-Sharpr_MPRA",
    }  # fmt: skip
    pretrain = children.pop("pretrain-MTLucifer-Sharpr_MPRA")
    assert np.isfinite(pretrain.data.metrics["zero_shot_K562_Sharpr_MPRA_k562_minp_avg_pearson"])
    assert pretrain.data.tags["exprflow.reused"] == "False"
    for name, config in children.items():
        (one,) = _children(config.info.run_id)
        assert one.data.tags["exprflow.strategy"] == config.data.tags["exprflow.strategy"]
        for cell in ("JURKAT", "K562", "THP1"):
            assert f"test_{cell}_spearman" in one.data.metrics
            assert f"mean_test_{cell}_r2" in config.data.metrics
        history = MlflowClient().get_metric_history(one.info.run_id, "train_loss")
        assert 1 <= len(history) <= 2, name

    summary = Path(mlflow.artifacts.download_artifacts(outputs["summary"]))
    table = pd.read_csv(summary / "summary.csv")
    assert set(table["strategy"]) == set(_STRATEGIES.split(","))
    assert {"pearson_mean", "spearman_sd", "r2_mean"} <= set(table.columns)
    assert (summary / "summary.md").is_file() and (summary / "ranking.csv").is_file()
    motifs = pd.read_csv(
        Path(mlflow.artifacts.download_artifacts(outputs["motifs"])) / "motif_insertion.csv"
    )
    assert sorted(motifs["cell"].unique()) == ["JURKAT", "K562", "THP1"] and len(motifs) == 6

    model = mlflow.pyfunc.load_model("models:/promoter-fluorescence/1")
    frame = pd.DataFrame({"sequence": ["ACGT" * 62 + "AC", "N" * 250]})
    predicted = model.predict(frame)
    assert list(predicted.columns) == ["JURKAT", "K562", "THP1"] and predicted.shape == (2, 3)
    assert np.isfinite(predicted.to_numpy()).all()

    again = run(_params(promoter, motif_names="GATA1", n_insertions=2))  # same fits
    step_id = again["summary"].split("/")[1]
    rerun = {c.info.run_name: c for c in _children(step_id)}
    assert rerun["pretrain-MTLucifer-Sharpr_MPRA"].data.tags["exprflow.reused"] == "True"
    (one,) = _children(rerun["MTLucifer-single_task"].info.run_id)
    assert one.data.tags["exprflow.reused_run"] == "true"


def test_sequence_and_motif_count_models_share_one_grid(promoter: Path, tracking: str) -> None:
    outputs = run(
        _params(
            promoter,
            models="PureCNN,MotifBasedFCN",
            strategies="single_task,pretrain+finetune",
            max_epochs=1,
            insertion_sequences=5,
        )
    )
    step_id = outputs["summary"].split("/")[1]
    names = sorted(c.info.run_name for c in _children(step_id))
    assert names == [
        "MotifBasedFCN-pretrain+finetune-Sharpr_MPRA", "MotifBasedFCN-single_task",
        "PureCNN-pretrain+finetune-Sharpr_MPRA", "PureCNN-single_task",
        "pretrain-MotifBasedFCN-Sharpr_MPRA", "pretrain-PureCNN-Sharpr_MPRA",
    ]  # fmt: skip
    served = mlflow.pyfunc.load_model(outputs["model"])
    predicted = served.predict(pd.DataFrame({"sequence": ["ACGT" * 62 + "AC"]}))
    assert predicted.shape == (1, 3) and np.isfinite(predicted.to_numpy()).all()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"models": "Basenji"}, "unknown value"),
        ({"splits": "7"}, "split seeds 0..4"),
        ({"strategies": "joint", "task_sets": ""}, "need tasks"),
        ({"task_sets": "SuRE_classification"}, "SuRE_classification"),
        ({"task": "RNASeq"}, "is not one of"),
        ({"motif_names": "NOPE1"}, "no motif named NOPE1"),
        ({"promoter": ""}, "is empty"),
    ],
)
def test_bad_settings_are_named(
    promoter: Path, tracking: str, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        run(_params(promoter, **changes))


def test_task_sets_are_comma_separated_and_joined_with_plus() -> None:
    from exprflow.steps._promoter_grid import task_sets

    text = "SuRE_classification+Sharpr_MPRA, RNASeq,RNASeq,,Sharpr_MPRA+Sharpr_MPRA"
    assert task_sets(text) == [
        ("SuRE_classification", "Sharpr_MPRA"),
        ("RNASeq",),
        ("Sharpr_MPRA",),
    ]
