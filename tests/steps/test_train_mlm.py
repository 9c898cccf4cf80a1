"""The ``train_mlm`` step on the tiny world: every stage through MLflow, and bad inputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from exprflow.data.mlm_dataset import build_mlm_dataset
from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.simulate.world import load_manifest
from exprflow.steps.train_mlm import REGISTERED_NAME, TrainMlmParams, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dataset(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three genes of the tiny world, 60 SNPs each; the EUR individuals are the test split."""
    manifest = load_manifest(tiny_world)
    samples = pd.read_csv(manifest.path("samples"), sep="\t")
    out = tmp_path_factory.mktemp("mlm")
    build_mlm_dataset(
        manifest.path("vcf"),
        read_genes(manifest.path("gtf")),
        manifest.path("eqtls"),
        samples.loc[samples["super_pop"] == "EUR", "sample"].tolist(),
        out,
        n_genes=3,
        max_snps=60,
        eqtl_pvalue=1e-3,
    )
    return out


def _params(tiny_world: Path, dataset: Path, **changes: object) -> TrainMlmParams:
    base = TrainMlmParams(
        mlm=str(dataset),
        world=str(tiny_world),
        max_epochs=2,
        batch_size=8,
        folds=4,
        stride=7,
        cv_folds=3,
        finetune_epochs=2,
        top_k=5,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_every_stage_is_tracked_and_the_model_registered(
    tiny_world: Path, dataset: Path, tracking: str
) -> None:
    outputs = run(_params(tiny_world, dataset))
    assert set(outputs) == {"mlm_model", "embeddings", "expression_model"}
    (step,) = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.`exprflow.step` = 'train_mlm'",
        output_format="list",
    )  # fmt: skip
    metrics = step.data.metrics
    for name in (
        "best_valid_masked_accuracy", "best_valid_iqs", "impute_test_masked_accuracy",
        "impute_test_iqs", "impute_test_genotype_iqs", "impute_valid_phased_iqs",
        "embed_haplotypes_per_second", "expr_ridge_sum_median_r", "impute_major_allele_accuracy",
        "expr_finetuned_predictions_median_r",
        "attr_ridge_precision_at_1", "attr_ridge_recall_at_5", "attr_finetuned_recall_at_5",
        "attr_ridge_enrichment_E116_H3K27ac", "attr_finetuned_enrichment_E116_DNase",
    ):  # fmt: skip
        assert name in metrics, name
    assert 0.0 <= metrics["impute_test_masked_accuracy"] <= 1.0
    assert metrics["n_genes"] == 3 and metrics["n_snps"] == 180
    client = MlflowClient()
    history = client.get_metric_history(step.info.run_id, "valid_masked_accuracy")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(step.info.run_id)}
    assert {"mlm", "embeddings", "expression", "attribution"} <= artifacts
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=step.info.run_id, artifact_path="expression/expression_comparison.csv"
        )
    )
    assert {"ridge", "lasso", "svr", "best_eqtl_snp", "elastic_net", "finetuned"} <= set(
        table["method"]
    )
    assert set(table.loc[table["method"] == "ridge", "features"]) == {"sum", "mean", "concat"}
    (version,) = client.search_model_versions(f"name = '{REGISTERED_NAME}'")
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_NAME}/{version.version}")
    example = model.input_example
    assert list(model.predict(example).columns) == ["standardised", "expression"]


def test_embedding_from_a_saved_model(tiny_world: Path, dataset: Path, tracking: str) -> None:
    first = run(_params(tiny_world, dataset, stages="pretrain", max_epochs=1))
    outputs = run(_params(tiny_world, dataset, stages="embed", model=first["mlm_model"]))
    assert outputs["mlm_model"] and outputs["embeddings"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stages": "pretrain,train"}, "unknown stage"),
        ({"stages": "expression"}, "is empty and the pretrain stage is not run"),
        ({"stages": "pretrain,expression"}, "run embed and expression together"),
        ({"stages": "pretrain,embed,attribute"}, "run expression and attribute together"),
        ({"stride": 0}, "stride=0"),
        ({"mlm": ""}, "pass -P mlm"),
    ],
)
def test_bad_settings_fail_before_any_work(
    tiny_world: Path, dataset: Path, tracking: str, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        run(_params(tiny_world, dataset, **changes))


def test_a_model_of_other_genes_is_refused(
    tiny_world: Path, dataset: Path, tmp_path: Path, tracking: str
) -> None:
    from exprflow.models.mlm.config import mlm_config
    from exprflow.models.mlm.model import build_mlm
    from exprflow.models.mlm.saved import save_mlm

    config = mlm_config("tiny", 7)
    save_mlm(tmp_path / "other", build_mlm(config), config)
    with pytest.raises(InputError, match="trained on 7 genes; the dataset has 3"):
        run(_params(tiny_world, dataset, stages="embed", model=str(tmp_path / "other")))
