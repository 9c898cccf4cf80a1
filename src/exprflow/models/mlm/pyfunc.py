"""The fine-tuned expression model as an MLflow pyfunc: genotype strings in, expression out.

Input: a DataFrame with ``gene_id`` (one of the model's genes) and ``genotypes`` — the
individual's genotype string over that gene's SNPs, one letter per SNP in ``meta.csv.gz``
order, coded as in ``dataset.parquet`` (``R`` 0|0, ``F`` 0|1, ``M`` 1|0, ``B`` 1|1, ``N``
unknown). Output: a DataFrame with ``standardised`` (the model's output, SDs from the
training individuals' mean) and ``expression`` (in the model's ``units``).

At most ``max_rows`` rows per call; an unknown gene, a string of the wrong length or with
other letters raises :class:`~exprflow.serving.validation.RequestError` (HTTP 400 when
served). The model is the folder of :mod:`exprflow.models.mlm.expression`, read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from typing import Any, Final

import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import ColSpec, Schema

from exprflow.data.mlm_haplotypes import haplotype_tokens
from exprflow.models.mlm.expression import SavedExpressionModel, load_expression_model
from exprflow.serving.log_model import log_pyfunc_model
from exprflow.serving.validation import (
    RequestError,
    check_frame,
    configured_max_rows,
    sequence_problem,
)
from exprflow.training.mlm_masking import one_hot

__all__ = ["COLUMNS", "MAX_ROWS", "MODEL_ARTIFACT", "MlmExpressionModel", "log_expression_model"]

#: Artifact key of the saved model folder.
MODEL_ARTIFACT: Final = "expression_model"
#: Input columns.
COLUMNS: Final = ("gene_id", "genotypes")
#: Default cap on rows per call.
MAX_ROWS: Final = 1024
_SOURCE = "MLM expression model input"


class MlmExpressionModel(PythonModel):
    """Pyfunc wrapper of a saved expression model (see the module docstring).

    Parameters
    ----------
    max_rows : int or None, optional
        Rows per call when the model configuration sets none. Default :data:`MAX_ROWS`.
    """

    def __init__(self, max_rows: int | None = MAX_ROWS) -> None:
        self.default_max_rows = max_rows
        self.max_rows = max_rows
        self.saved: SavedExpressionModel | None = None

    def load(self, folder: str | os.PathLike[str]) -> MlmExpressionModel:
        """Load the model from a saved folder (also used before logging)."""
        self.saved = load_expression_model(folder)
        return self

    def load_context(self, context: PythonModelContext) -> None:
        """Load the model from its artifact; read ``max_rows``."""
        self.max_rows = configured_max_rows(context, self.default_max_rows)
        self.load(context.artifacts[MODEL_ARTIFACT])

    def _tokens(self, frame: pd.DataFrame) -> tuple[list[np.ndarray], list[str]]:
        """Check every row; return one haplotype-token array per row and the genes."""
        assert self.saved is not None
        genes = self.saved.genes
        tokens, gene_ids = [], []
        for i, (gene_id, text) in enumerate(zip(frame["gene_id"], frame["genotypes"], strict=True)):
            record = f"row {i} (gene {gene_id!r})"
            if gene_id not in genes.index:
                raise RequestError(
                    _SOURCE,
                    f"unknown gene {gene_id!r}.",
                    record=record,
                    fix=f"use one of the model's {len(genes)} genes, e.g. {genes.index[0]!r}.",
                )
            n_snps = int(genes.at[gene_id, "n_snps"])
            problem = sequence_problem(text, length=n_snps, alphabet="RFMBN")
            if problem is not None:
                problem = problem.replace("bases", "SNPs")
                fix = f"send {n_snps} letters of R, F, M, B, N in the gene's meta.csv.gz order."
                raise RequestError(_SOURCE, problem, record=record, fix=fix)
            tokens.append(haplotype_tokens(str(text).upper()))
            gene_ids.append(str(gene_id))
        return tokens, gene_ids

    @torch.no_grad()
    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Predict each row's expression."""
        if self.saved is None:
            raise RuntimeError("MlmExpressionModel.predict before load_context")
        frame = check_frame(model_input, COLUMNS, source=_SOURCE, max_rows=self.max_rows)
        tokens, gene_ids = self._tokens(frame)
        genes = self.saved.genes
        out = np.zeros(len(tokens))
        for i, (pair, gene_id) in enumerate(zip(tokens, gene_ids, strict=True)):
            x = torch.from_numpy(one_hot(pair))
            segment = torch.full((1,), int(genes.at[gene_id, "segment"]))
            out[i] = float(self.saved.model.individual(x[:1], x[1:], segment)[0])
        mean = genes.loc[gene_ids, "mean"].to_numpy(float)
        sd = genes.loc[gene_ids, "sd"].to_numpy(float)
        return pd.DataFrame({"standardised": out, "expression": out * sd + mean})


def log_expression_model(
    folder: str | os.PathLike[str],
    input_example: pd.DataFrame,
    *,
    name: str = "model",
    registered_model_name: str | None = None,
    max_rows: int | None = MAX_ROWS,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log a saved expression model to the active run as a pyfunc with signature and example.

    The model is loaded and run on the example first, so a broken folder fails before
    anything is logged.

    Parameters
    ----------
    folder : str or PathLike
        Written by :func:`~exprflow.models.mlm.expression.save_expression_model`.
    input_example : pd.DataFrame
        ``gene_id``, ``genotypes`` rows (e.g. a test individual's).
    name : str, optional
        Name of the logged model. Default "model".
    registered_model_name : str, optional
        Also register the model under this name.
    max_rows : int or None, optional
        Rows per call, logged as the model configuration. Default :data:`MAX_ROWS`.
    metadata : dict, optional
        More model metadata (e.g. test metrics).

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    local = MlmExpressionModel(max_rows).load(folder)
    assert local.saved is not None
    local.predict(None, input_example)
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", c) for c in COLUMNS]),
        outputs=Schema([ColSpec("double", "standardised"), ColSpec("double", "expression")]),
    )
    return log_pyfunc_model(
        MlmExpressionModel(max_rows),
        name=name,
        artifacts={MODEL_ARTIFACT: str(folder)},
        signature=signature,
        input_example=input_example,
        max_rows=max_rows,
        registered_model_name=registered_model_name,
        metadata={
            "units": local.saved.units,
            "genes": list(local.saved.genes.index),
            **(metadata or {}),
        },
    )
