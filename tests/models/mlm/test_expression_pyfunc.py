"""The fine-tuned expression model's folder and its pyfunc: genotype strings in, expression out."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.mlm.config import mlm_config
from exprflow.models.mlm.expression import (
    WEIGHTS_FILE,
    EmbeddingReadout,
    ExpressionModel,
    load_expression_model,
    save_expression_model,
)
from exprflow.models.mlm.model import build_mlm
from exprflow.models.mlm.pyfunc import MlmExpressionModel, log_expression_model
from exprflow.serving.validation import RequestError
from exprflow.training.mlm_masking import one_hot

GENES = pd.DataFrame(
    {"segment": [0, 1], "n_snps": [12, 9], "mean": [1.0, -2.0], "sd": [2.0, 0.5]},
    index=pd.Index(["G1", "G2"], name="gene_id"),
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = ExpressionModel(build_mlm(mlm_config("tiny", 2)), 2, trainable_layers=1, max_snps=12)
    torch.nn.init.normal_(model.snp_weight.weight)
    return save_expression_model(tmp_path / "model", model.eval(), GENES, "log2 units")


def test_round_trip_predicts_the_same(folder: Path) -> None:
    saved = load_expression_model(folder)
    assert saved.units == "log2 units"
    assert saved.genes.loc["G2", "n_snps"] == 9
    again = load_expression_model(folder)
    x = torch.from_numpy(one_hot(np.random.default_rng(0).integers(0, 3, (3, 12))))
    gene = torch.tensor([0, 1, 0])
    with torch.no_grad():
        assert torch.equal(saved.model(x, gene), again.model(x, gene))


def test_pyfunc_predicts_in_units_and_sums_haplotypes(folder: Path) -> None:
    model = MlmExpressionModel().load(folder)
    frame = pd.DataFrame({"gene_id": ["G1", "G2"], "genotypes": ["RFMBNRRRFFMB", "rfmbrrrbb"]})
    out = model.predict(None, frame)
    assert list(out.columns) == ["standardised", "expression"]
    np.testing.assert_allclose(out["expression"], out["standardised"] * [2.0, 0.5] + [1.0, -2.0])
    saved = load_expression_model(folder)
    father = torch.from_numpy(one_hot(np.array([[0, 1, 0, 1, 2, 0, 0, 0, 1, 1, 0, 1]])))
    mother = torch.from_numpy(one_hot(np.array([[0, 0, 1, 1, 2, 0, 0, 0, 0, 0, 1, 1]])))
    with torch.no_grad():
        expected = saved.model(father, torch.tensor([0])) + saved.model(mother, torch.tensor([0]))
    assert out["standardised"][0] == pytest.approx(float(expected[0]), abs=1e-5)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"gene_id": ["G9"], "genotypes": ["R" * 12]}), "unknown gene 'G9'"),
        (pd.DataFrame({"gene_id": ["G1"], "genotypes": ["R" * 11]}), "11 SNPs, expected 12"),
        (pd.DataFrame({"gene_id": ["G2"], "genotypes": ["RRRRXRRRR"]}), "'X' at index 4"),
        (pd.DataFrame({"gene": ["G1"]}), "lacks column"),
    ],
)
def test_pyfunc_refuses_bad_rows(folder: Path, frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        MlmExpressionModel().load(folder).predict(None, frame)


def test_pyfunc_caps_rows(folder: Path) -> None:
    frame = pd.DataFrame({"gene_id": ["G1"] * 3, "genotypes": ["R" * 12] * 3})
    with pytest.raises(RequestError, match="more than the limit of 2"):
        MlmExpressionModel(max_rows=2).load(folder).predict(None, frame)


def test_load_refuses_broken_folders(folder: Path) -> None:
    torch.save({"weight.weight": torch.zeros(1)}, folder / WEIGHTS_FILE)
    with pytest.raises(InputError, match="does not fit"):
        load_expression_model(folder)
    (folder / "expression.json").write_text("{}")
    with pytest.raises(InputError, match="not an expression model description"):
        load_expression_model(folder)


def test_logged_model_has_signature_and_loads(folder: Path, tracking: str) -> None:
    example = pd.DataFrame({"gene_id": ["G2"], "genotypes": ["RFMBRRRBB"]})
    with mlflow.start_run():
        info = log_expression_model(folder, example, registered_model_name="mlm-expression")
    assert [c.name for c in info.signature.inputs] == ["gene_id", "genotypes"]
    loaded = mlflow.pyfunc.load_model(f"models:/mlm-expression/{info.registered_model_version}")
    direct = MlmExpressionModel().load(folder).predict(None, example)
    pd.testing.assert_frame_equal(loaded.predict(example), direct)


def test_embedding_readout_is_the_linear_model_on_pooled_vectors() -> None:
    torch.manual_seed(1)
    mlm = build_mlm(mlm_config("tiny", 2)).eval()
    weights = torch.randn(2, 32)
    readout = EmbeddingReadout(mlm, weights)
    x = torch.from_numpy(one_hot(np.random.default_rng(3).integers(0, 2, (3, 15))))
    gene = torch.tensor([1, 0, 1])
    with torch.no_grad():
        _, emb = mlm(x, gene)
        expected = (emb.mean(dim=2) * weights[gene]).sum(dim=1)
        assert torch.allclose(readout(x, gene), expected, atol=1e-5)
