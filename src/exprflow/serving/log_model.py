"""Logging an exprflow pyfunc model: the ``mlflow.pyfunc.log_model`` call every model shares.

Every logged exprflow model carries the same serving contract: pinned pip requirements
of the packages it imports (:func:`~exprflow.serving.requirements.pinned_requirements`;
exprflow itself is installed in the image), the row cap as the model configuration key
:data:`~exprflow.serving.validation.MAX_ROWS_KEY`, and the code version
(``exprflow_code_version``) in the model metadata beside the model's own entries.
:func:`log_pyfunc_model` fills those in; callers give the model, its artifacts, signature
and input example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import mlflow
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel

from exprflow.serving.requirements import pinned_requirements
from exprflow.serving.validation import MAX_ROWS_KEY
from exprflow.tracking.fingerprint import code_version

__all__ = ["CODE_VERSION_KEY", "SERVING_PACKAGES", "log_pyfunc_model"]

#: Packages a torch pyfunc model imports at serving time (pinned to the installed versions).
SERVING_PACKAGES: Final = ("mlflow", "torch", "numpy", "pandas")
#: Model-metadata key of the exprflow code version.
CODE_VERSION_KEY: Final = "exprflow_code_version"


def log_pyfunc_model(
    python_model: PythonModel,
    *,
    name: str,
    artifacts: Mapping[str, str],
    signature: ModelSignature,
    input_example: Any,
    max_rows: int | None,
    registered_model_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    packages: Sequence[str] = SERVING_PACKAGES,
) -> ModelInfo:
    """Log ``python_model`` to the active run with exprflow's serving contract.

    Parameters
    ----------
    python_model : mlflow.pyfunc.PythonModel
        The wrapper to pickle (its state is restored from ``artifacts`` at load).
    name : str
        Name of the logged model.
    artifacts : mapping of str to str
        Artifact key → local file or folder, copied into the model.
    signature : mlflow.models.ModelSignature
        Input (and output) schema.
    input_example : object
        Example request, stored with the model.
    max_rows : int or None
        Rows per request, logged as the model configuration's ``max_rows`` (None: no cap).
    registered_model_name : str, optional
        Also register the model under this name. Default None: not registered.
    metadata : mapping of str to object, optional
        The model's own metadata entries (JSON-serialisable); the code version is added.
    packages : sequence of str, optional
        Distributions pinned as pip requirements. Default :data:`SERVING_PACKAGES`.

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=python_model,
        artifacts=dict(artifacts),
        signature=signature,
        input_example=input_example,
        pip_requirements=pinned_requirements(packages),
        registered_model_name=registered_model_name,
        model_config={MAX_ROWS_KEY: max_rows},
        metadata={CODE_VERSION_KEY: code_version(), **(metadata or {})},
    )
