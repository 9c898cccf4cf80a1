"""Pretraining the haplotype MLM: folds as published, learning planted LD, metrics to MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from tests.training._mlm_tables import block_table

from exprflow.evaluation.mlm_imputation import evaluate_imputation
from exprflow.models.mlm.config import mlm_config
from exprflow.training.mlm_masking import MaskSettings
from exprflow.training.mlm_pretrain import PretrainSettings, pretrain_mlm, validation_samples


def test_validation_samples_as_published() -> None:
    samples = ["a", "b", "a", "c", "d", "e", "b", "f"]
    assert validation_samples(samples, 3, 0) == ["a", "d"]
    assert validation_samples(samples, 3, 2) == ["c", "f"]
    with pytest.raises(ValueError, match="fold 3 outside"):
        validation_samples(samples, 3, 3)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        PretrainSettings(batch_size=0)


def test_learns_planted_linkage(tmp_path: Path, tracking: str) -> None:
    """Blocks of SNPs in perfect LD: a masked SNP is its block's allele."""
    table, _ = block_table(48, 64)
    gene_index = {"G1": 0, "G2": 1}
    mask = MaskSettings(frame=4)
    settings = PretrainSettings(lr=3e-3, batch_size=8, max_epochs=12, patience=12, mask=mask)
    valid = validation_samples(table["sample"].tolist(), 4, 0)
    with mlflow.start_run() as run:
        fit = pretrain_mlm(
            table, gene_index, mlm_config("tiny", 2), settings, valid, tmp_path / "ck"
        )
    held = table.loc[table["sample"].isin(valid)]
    metrics = evaluate_imputation(fit.model, held, gene_index, mask)
    assert metrics["masked_accuracy"] > 0.9
    assert metrics["iqs"] > 0.8
    assert metrics["genotype_iqs"] > 0.7
    assert 1 <= fit.best_epoch <= len(fit.history) == 12
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "valid_masked_accuracy")
    assert [m.step for m in history] == list(range(1, 13))
    assert not fit.model.training


def test_refuses_empty_folds(tmp_path: Path) -> None:
    table, _ = block_table(4, 40)
    with pytest.raises(ValueError, match="both folds need individuals"):
        pretrain_mlm(
            table, {"G1": 0, "G2": 1}, mlm_config("tiny", 2), PretrainSettings(), [], tmp_path
        )
