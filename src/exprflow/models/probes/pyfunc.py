"""A trained probe head as an MLflow pyfunc model: Basenji2 embeddings in, tracks out.

Input: a float array ``(regions, channels, bins)`` — each region's embedding as
``embed_basenji2`` writes it, ``(bins, channels)``, transposed (published 1536 × 896; the
demo's 64 × 896). Served, ``{"inputs": [[[...], ...], ...]}``; float16 is accepted and
cast. Output: float32 ``(regions, tracks)`` for the single-bin heads or ``(regions,
tracks, bins)`` for the 128 bp linear probe, in label units, tracks in the order of the
model's ``tracks`` metadata.

At most ``max_rows`` regions per call (model configuration, default
:data:`MAX_ROWS`); a wrong shape or too many regions raises
:class:`~exprflow.serving.validation.RequestError` (HTTP 400 when served).

The model is the folder of :mod:`exprflow.models.probes.saved` as one artifact, read with
``torch.load(weights_only=True)``; no pickled module. Like the ExPecto model it imports the
installed ``exprflow`` (no ``code_paths``).
"""

from __future__ import annotations

import os
from typing import Any, Final

import numpy as np
import torch
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import Schema, TensorSpec

from exprflow.data.probe_data import SINGLE_BIN
from exprflow.models.probes.saved import SavedProbe, load_probe
from exprflow.serving.log_model import log_pyfunc_model
from exprflow.serving.validation import MAX_ROWS_KEY, RequestError, configured_max_rows

__all__ = ["MAX_ROWS", "PROBE_ARTIFACT", "ProbeModel", "log_probe_model"]

#: Artifact key of the saved head folder.
PROBE_ARTIFACT: Final = "probe"
#: Default cap on regions per call (a published region is 5.5 MB of float32).
MAX_ROWS: Final = 64


def _check_input(model_input: object, channels: int, max_rows: int | None) -> np.ndarray:
    """The input as float32 ``(regions, channels, bins)``, or a RequestError naming the fix."""
    source = "probe model input"
    fix = f"send float embeddings shaped (regions, {channels}, bins): each region's transposed."
    try:
        array = np.asarray(model_input, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise RequestError(source, f"is not a numeric array ({exc}).", fix=fix) from None
    if array.ndim != 3 or array.shape[1] != channels or array.shape[2] < 1:
        raise RequestError(source, f"has shape {array.shape}.", fix=fix)
    if max_rows is not None and len(array) > max_rows:
        raise RequestError(
            source,
            f"has {len(array)} regions, more than max_rows {max_rows}.",
            fix=f"split the request, or raise the model configuration's {MAX_ROWS_KEY}.",
        )
    if not np.isfinite(array).all():
        raise RequestError(source, "holds NaN or infinite values.", fix=fix)
    return array


class ProbeModel(PythonModel):
    """Pyfunc wrapper of a saved probe head (see the module docstring).

    Parameters
    ----------
    max_rows : int or None, optional
        Regions per call when the model configuration sets none. Default :data:`MAX_ROWS`.
    """

    def __init__(self, max_rows: int | None = MAX_ROWS) -> None:
        self.default_max_rows = max_rows
        self.max_rows = max_rows
        self.probe: SavedProbe | None = None

    def load(self, folder: str | os.PathLike[str]) -> ProbeModel:
        """Load the head from a saved folder (also used before logging)."""
        self.probe = load_probe(folder)
        return self

    def load_context(self, context: PythonModelContext) -> None:
        """Load the head from the model's artifact; read ``max_rows``."""
        self.max_rows = configured_max_rows(context, self.default_max_rows)
        self.load(context.artifacts[PROBE_ARTIFACT])

    @torch.no_grad()
    def predict(
        self,
        context: PythonModelContext | None,
        model_input: np.ndarray,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Predict every region's tracks (label units), float32."""
        if self.probe is None:
            raise RuntimeError("ProbeModel.predict before load_context")
        array = _check_input(model_input, self.probe.config.channels, self.max_rows)
        out: torch.Tensor = self.probe.module(torch.from_numpy(array))
        return out.numpy().astype(np.float32, copy=False)


def log_probe_model(
    folder: str | os.PathLike[str],
    *,
    name: str = "model",
    registered_model_name: str | None = None,
    input_example: np.ndarray | None = None,
    max_rows: int | None = MAX_ROWS,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log a saved head to the active run as a pyfunc model with signature and example.

    The head is loaded and run on the example first: the prediction gives the signature,
    so an unreadable folder fails before anything is logged.

    Parameters
    ----------
    folder : str or PathLike
        Written by :func:`~exprflow.models.probes.saved.save_probe`.
    name : str, optional
        Name of the logged model. Default "model".
    registered_model_name : str, optional
        Also register the model under this name (e.g. ``basenji2-probe-linear_probe``).
    input_example : numpy.ndarray, optional
        ``(regions, channels, bins)``, e.g. a test region's embedding; default one region
        of zeros over the head's bins (896 where any number is taken).
    max_rows : int or None, optional
        Regions per call, logged as the model configuration. Default :data:`MAX_ROWS`.
    metadata : dict, optional
        More model metadata (e.g. the embeddings' model and the test metrics).

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    local = ProbeModel(max_rows).load(folder)
    assert local.probe is not None
    config = local.probe.config
    example = (
        np.zeros((1, config.channels, getattr(config, "bins", 896)), np.float32)
        if input_example is None
        else np.asarray(input_example, np.float32)
    )
    # Heads that take any number of bins (all but the conv perceptron) leave that axis free.
    bins = getattr(config, "bins", -1)
    outputs = (-1, config.tracks) if local.probe.target == SINGLE_BIN else (-1, config.tracks, bins)
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, config.channels, bins))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), outputs)]),
    )
    local.predict(None, example)  # fails here, before logging, if the head cannot run
    return log_pyfunc_model(
        ProbeModel(max_rows),
        name=name,
        artifacts={PROBE_ARTIFACT: str(folder)},
        signature=signature,
        input_example=example,
        max_rows=max_rows,
        registered_model_name=registered_model_name,
        metadata={
            "head": local.probe.head,
            "target": local.probe.target,
            "tracks": local.probe.tracks,
            **(metadata or {}),
        },
    )
