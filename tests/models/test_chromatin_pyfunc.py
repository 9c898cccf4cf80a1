"""The chromatin ensemble pyfunc: the mean of its fold models, and 400s for bad requests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from exprflow.data.chromatin_dataset import ChromatinFeatures
from exprflow.models.chromatin_pyfunc import ChromatinEnsembleModel, input_arrays, save_fold_models
from exprflow.models.chromexpress import ChromExpress, ChromExpressConfig
from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import Chromoformer
from exprflow.serving.validation import RequestError

N_GENES = 5
_RES = (2000, 500, 100)


def _features(n_marks: int = 2) -> ChromatinFeatures:
    rng = np.random.default_rng(0)
    return ChromatinFeatures(
        eid="E116",
        gene_id=np.array([f"G{i}" for i in range(N_GENES)]),
        marks=("H3K4me3", "H3K27ac")[:n_marks],
        promoter={r: rng.random((N_GENES, 40_000 // r, n_marks), np.float32) for r in _RES},
        pcre={r: rng.random((N_GENES, 8, 40_000 // r, n_marks), np.float32) for r in _RES},
        pcre_length=np.tile(np.array([1200, 5000, 0, 0, 0, 0, 0, 0], np.int32), (N_GENES, 1)),
        pcre_score=np.tile(np.array([2.0, 1.6, 0, 0, 0, 0, 0, 0], np.float32), (N_GENES, 1)),
    )  # fmt: skip


def _ensemble(tmp_path: Path, architecture: str, task: str) -> tuple[ChromatinEnsembleModel, list]:
    torch.manual_seed(0)
    if architecture == "cnn":
        models = [ChromExpress(ChromExpressConfig.tiny(2, task)).eval() for _ in range(2)]
    else:
        models = [Chromoformer(ChromoformerConfig.tiny(2, task)).eval() for _ in range(2)]
    folder = save_fold_models(
        tmp_path / "model", dict(enumerate(models, 1)), ("H3K4me3", "H3K27ac"), task, architecture
    )
    return ChromatinEnsembleModel(max_rows=4).load(folder), models


@pytest.mark.parametrize(
    ("architecture", "task"), [("cnn", "regression"), ("chromoformer", "classification")]
)
def test_the_prediction_is_the_mean_of_the_fold_models(
    tmp_path: Path, architecture: str, task: str
) -> None:
    ensemble, models = _ensemble(tmp_path, architecture, task)
    arrays = input_arrays(_features(), np.arange(3))
    request = {name: arrays[name] for name in ensemble.shapes}
    batch = {k: torch.from_numpy(v) for k, v in request.items()}
    if "pcre_length" in batch:
        batch["pcre_length"] = batch["pcre_length"].long()
    with torch.no_grad():
        outputs = torch.stack([m(batch) for m in models])
    if task == "regression":
        expected = outputs[..., 0].mean(0).numpy()
        column = "log2_rpkm"
    else:
        expected = torch.softmax(outputs, -1)[..., 1].mean(0).numpy()
        column = "p_expressed"
    predicted = ensemble.predict(None, request)
    assert list(predicted.columns) == [column]
    np.testing.assert_allclose(predicted[column], expected, rtol=1e-5, atol=1e-6)


def test_bad_requests_name_the_array_and_the_fix(tmp_path: Path) -> None:
    ensemble, _ = _ensemble(tmp_path, "chromoformer", "regression")
    arrays = input_arrays(_features(), np.arange(N_GENES))
    request = {name: arrays[name][:3] for name in ensemble.shapes}
    with pytest.raises(RequestError, match="expected named arrays"):
        ensemble.predict(None, [1, 2, 3])
    with pytest.raises(RequestError, match="lacks array 'pcre_score'"):
        ensemble.predict(None, {k: v for k, v in request.items() if k != "pcre_score"})
    with pytest.raises(RequestError, match=r"'promoter_500' has shape \(3, 80, 1\)"):
        ensemble.predict(None, request | {"promoter_500": request["promoter_500"][..., :1]})
    with pytest.raises(RequestError, match="disagree on the gene count"):
        ensemble.predict(None, request | {"pcre_score": arrays["pcre_score"][:2]})
    with pytest.raises(RequestError, match="more than the limit of 4"):
        ensemble.predict(None, {name: arrays[name] for name in ensemble.shapes})
