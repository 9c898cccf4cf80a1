"""Hand-made pyfunc model versions for the promotion tests (logged in well under a second)."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature

#: A valid input of the toy model, and one it refuses.
GOOD = pd.DataFrame({"x": [1.0, 2.0]})
BAD = pd.DataFrame({"x": [-1.0]})


class Doubler(mlflow.pyfunc.PythonModel):
    """Doubles column ``x``; refuses negative values (so a bad input example fails)."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        if (model_input["x"] < 0).any():
            raise ValueError("x must be >= 0")
        return model_input[["x"]] * 2


def log_toy(kind: str = "good", metrics: dict[str, float] | None = None) -> str:
    """Log the toy model in a new run; return its model URI.

    ``good``: signature and a valid input example; ``unsigned``: neither; ``bad_example``:
    a signature and an input example the model refuses. ``metrics`` go on the run.
    """
    signature = infer_signature(GOOD, GOOD * 2) if kind != "unsigned" else None
    example = {"good": GOOD, "unsigned": None, "bad_example": BAD}[kind]
    with mlflow.start_run():
        if metrics:
            mlflow.log_metrics(metrics)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Doubler(),
            signature=signature,
            input_example=example,
            pip_requirements=["mlflow"],
        )
    return info.model_uri


def register(name: str, source: str, **tags: object) -> str:
    """Register ``source`` as a new version of ``name`` with ``tags``; return the version."""
    version = mlflow.register_model(source, name, tags={k: str(v) for k, v in tags.items()})
    return str(version.version)
