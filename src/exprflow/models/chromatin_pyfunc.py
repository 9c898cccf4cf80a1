"""A cross-validated chromatin model as an MLflow pyfunc: binned histone marks in, expression out.

The model is the ensemble of one configuration's fold models (ChromExpress or
Chromoformer, the same marks and task): its prediction is their mean. Saved folder:
``ensemble.json`` (architecture, task, marks, folds) and one saved model folder per fold
(``fold<k>/``, each read with ``torch.load(weights_only=True)``).

Input: a dict of float arrays named as the batch keys of
:mod:`exprflow.data.chromatin_torch` — for ChromExpress ``promoter_cnn`` ``(n, 60, M)``;
for Chromoformer ``promoter_{2000,500,100}`` ``(n, 40000 / r, M)``, ``pcre_{r}``
``(n, 8, 40000 / r, M)``, ``pcre_length`` ``(n, 8)`` (bp, 0 = none) and ``pcre_score``
``(n, 8)``; values ln(mean depth + 1), marks in the model's order (metadata ``marks``),
promoters flipped for minus-strand genes (:mod:`exprflow.data.chromatin_dataset`).
Output: a DataFrame with ``log2_rpkm`` (regression: log2(RPKM + 1)) or ``p_expressed``
(classification: probability of expression at or above the cell's median).
A wrong name, shape or row count raises
:class:`~exprflow.serving.validation.RequestError` (HTTP 400 when served).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import ColSpec, Schema, TensorSpec
from torch import nn

from exprflow.data.chromatin_dataset import ChromatinFeatures, cnn_window
from exprflow.models.chromexpress import load_chromexpress, save_chromexpress
from exprflow.models.chromoformer.saved import load_chromoformer, save_chromoformer
from exprflow.serving.log_model import log_pyfunc_model
from exprflow.serving.validation import MAX_ROWS_KEY, RequestError, configured_max_rows

__all__ = [
    "MAX_ROWS",
    "ChromatinEnsembleModel",
    "input_arrays",
    "load_fold_models",
    "log_chromatin_model",
    "save_fold_models",
]

MAX_ROWS: Final = 512
_ARTIFACT: Final = "chromatin_model"
_SOURCE = "chromatin model input"
_RESOLUTIONS = (2000, 500, 100)
_SAVE: dict[str, Callable[[Any, Path], Path]] = {
    "cnn": save_chromexpress,
    "chromoformer": save_chromoformer,
}
_LOAD: dict[str, Callable[[Path], nn.Module]] = {
    "cnn": load_chromexpress,
    "chromoformer": load_chromoformer,
}


def _input_names(architecture: str) -> tuple[str, ...]:
    if architecture == "cnn":
        return ("promoter_cnn",)
    return (
        *(f"promoter_{r}" for r in _RESOLUTIONS),
        *(f"pcre_{r}" for r in _RESOLUTIONS),
        "pcre_length",
        "pcre_score",
    )


def save_fold_models(
    folder: str | os.PathLike[str],
    models: Mapping[int, nn.Module],
    marks: tuple[str, ...],
    task: str,
    architecture: str,
) -> Path:
    """Write the fold models of one configuration as an ensemble folder; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for fold, model in sorted(models.items()):
        _SAVE[architecture](model, folder / f"fold{fold}")
    manifest = {
        "architecture": architecture,
        "task": task,
        "marks": list(marks),
        "folds": sorted(models),
    }
    (folder / "ensemble.json").write_text(json.dumps(manifest, indent=1))
    return folder


def load_fold_models(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], list[nn.Module]]:
    """Read an ensemble folder: its manifest and the fold models (eval mode, CPU)."""
    folder = Path(folder)
    manifest = json.loads((folder / "ensemble.json").read_text())
    loader = _LOAD[manifest["architecture"]]
    models = [loader(folder / f"fold{fold}").eval() for fold in manifest["folds"]]
    return manifest, models


def input_arrays(features: ChromatinFeatures, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The pyfunc input of ``rows`` of ``features`` (both architectures' keys)."""
    arrays = {f"promoter_{r}": features.promoter[r][rows] for r in _RESOLUTIONS}
    arrays |= {f"pcre_{r}": features.pcre[r][rows] for r in _RESOLUTIONS}
    arrays["pcre_length"] = features.pcre_length[rows].astype(np.float32)
    arrays["pcre_score"] = features.pcre_score[rows].astype(np.float32)
    arrays["promoter_cnn"] = cnn_window(features.promoter[100][rows])
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}


class ChromatinEnsembleModel(PythonModel):
    """Pyfunc wrapper of an ensemble folder (see the module docstring)."""

    def __init__(self, max_rows: int | None = MAX_ROWS) -> None:
        self.default_max_rows = max_rows
        self.max_rows = max_rows
        self.manifest: dict[str, Any] = {}
        self.models: list[nn.Module] = []
        self.shapes: dict[str, tuple[int, ...]] = {}

    def load(self, folder: str | os.PathLike[str]) -> ChromatinEnsembleModel:
        """Load the fold models from an ensemble folder (also used before logging)."""
        self.manifest, self.models = load_fold_models(folder)
        n_marks = len(self.manifest["marks"])
        names = _input_names(self.manifest["architecture"])
        self.shapes = {name: _shape(name, n_marks) for name in names}
        return self

    def load_context(self, context: PythonModelContext) -> None:
        """Load the ensemble from its artifact; read ``max_rows``."""
        self.max_rows = configured_max_rows(context, self.default_max_rows)
        self.load(context.artifacts[_ARTIFACT])

    def _batch(self, model_input: object) -> dict[str, torch.Tensor]:
        if not isinstance(model_input, Mapping):
            raise RequestError(
                _SOURCE,
                f"is a {type(model_input).__name__}, expected named arrays.",
                fix=f"send {{'inputs': {{name: array}}}} with names {list(self.shapes)}.",
            )
        batch, rows = {}, set()
        for name, shape in self.shapes.items():
            if name not in model_input:
                raise RequestError(
                    _SOURCE, f"lacks array {name!r}.", fix=f"send {list(self.shapes)}."
                )
            array = np.asarray(model_input[name], dtype=np.float32)
            if array.shape[1:] != shape:
                raise RequestError(
                    _SOURCE,
                    f"array {name!r} has shape {array.shape}, expected (n, *{shape}).",
                    record=name,
                    fix=f"bin as the training data (marks {self.manifest['marks']}).",
                )
            rows.add(array.shape[0])
            batch[name] = torch.from_numpy(array)
        if len(rows) != 1:
            raise RequestError(_SOURCE, f"arrays disagree on the gene count {sorted(rows)}.")
        (n,) = rows
        if self.max_rows is not None and n > self.max_rows:
            raise RequestError(
                _SOURCE,
                f"has {n} genes, more than the limit of {self.max_rows} per request.",
                fix=f"send at most {self.max_rows}, or raise the configuration's {MAX_ROWS_KEY!r}.",
            )
        if "pcre_length" in batch:
            batch["pcre_length"] = batch["pcre_length"].round().long()
        return batch

    @torch.no_grad()
    def predict(
        self,
        context: PythonModelContext | None,
        model_input: Any,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Predict each gene's expression (mean over the fold models)."""
        if not self.models:
            raise RuntimeError("ChromatinEnsembleModel.predict before load_context")
        batch = self._batch(model_input)
        outputs = torch.stack([model(batch).float() for model in self.models])
        if self.manifest["task"] == "regression":
            return pd.DataFrame({"log2_rpkm": outputs[..., 0].mean(0).numpy().astype(float)})
        probability = torch.softmax(outputs, dim=-1)[..., 1].mean(0)
        return pd.DataFrame({"p_expressed": probability.numpy().astype(float)})


def _shape(name: str, n_marks: int) -> tuple[int, ...]:
    if name == "promoter_cnn":
        return (60, n_marks)
    if name in ("pcre_length", "pcre_score"):
        return (8,)
    resolution = int(name.rsplit("_", 1)[1])
    bins = 40_000 // resolution
    return (bins, n_marks) if name.startswith("promoter") else (8, bins, n_marks)


def log_chromatin_model(
    folder: str | os.PathLike[str],
    features: ChromatinFeatures,
    *,
    name: str = "model",
    registered_model_name: str | None = None,
    max_rows: int | None = MAX_ROWS,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log an ensemble folder as a pyfunc with a tensor signature and an input example.

    Parameters
    ----------
    folder : str or PathLike
        Written by :func:`save_fold_models`.
    features : ChromatinFeatures
        Features of the model's marks; its first two genes are the input example.
    name, registered_model_name, max_rows, metadata
        As :func:`~exprflow.serving.log_model.log_pyfunc_model` (``max_rows`` as the model
        configuration).
    """
    local = ChromatinEnsembleModel(max_rows).load(folder)
    arrays = input_arrays(features, np.arange(min(2, len(features.gene_id))))
    example = {k: v for k, v in arrays.items() if k in local.shapes}
    output = local.predict(None, example)
    signature = ModelSignature(
        inputs=Schema(
            [TensorSpec(np.dtype(np.float32), (-1, *shape), n) for n, shape in local.shapes.items()]
        ),
        outputs=Schema([ColSpec("double", str(output.columns[0]))]),
    )
    return log_pyfunc_model(
        ChromatinEnsembleModel(max_rows),
        name=name,
        artifacts={_ARTIFACT: str(folder)},
        signature=signature,
        input_example=example,
        max_rows=max_rows,
        registered_model_name=registered_model_name,
        metadata={
            "marks": local.manifest["marks"],
            "architecture": local.manifest["architecture"],
            "task": local.manifest["task"],
            **(metadata or {}),
        },
    )
