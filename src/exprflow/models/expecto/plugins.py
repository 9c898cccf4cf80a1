"""ExPecto as the three plug-ins of the scoring engine: Beluga, spatial transform, tissue heads.

Tensor contract (the plug-in types of :mod:`exprflow.scoring.engine`):

* :class:`BelugaChromatin`: one-hot windows ``(N, 4, 2000)`` float32, ``A, G, C, T``
  → float32 ``(N, F)``, the chromatin model's outputs averaged over the forward and
  reverse-complement strands (:func:`~exprflow.models.beluga.predict.predict_windows`);
* :class:`SpatialReduce`: ``(G, 200, F)`` in shift order → float32 ``(G, 10 F)``,
  ExPecto's spatial decay features in the exprflow (basis-major) layout
  (:func:`~exprflow.models.expecto.features.spatial_features`);
* :class:`TissueHeads`: ``(G, 10 F)`` → float32 ``(G, T)``, one column per tissue model,
  in ``ln(RPKM + pseudocount)`` (the pseudocount each model was trained with);
  ``.tissues`` names the columns.

:func:`expecto_plugins` builds all three from a Beluga checkpoint (file or URI, see
:func:`~exprflow.models.beluga.load.load_checkpoint`) and tissue models (a model list, a
``.save`` or ``.json`` model, or loaded models), checking that the tissue models take
10 × the chromatin model's outputs. Reads those files; writes none.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from exprflow.errors import InputError
from exprflow.models.beluga.load import load_checkpoint
from exprflow.models.beluga.predict import predict_windows
from exprflow.models.expecto.features import N_BASES, from_legacy_layout, spatial_features
from exprflow.models.expecto.tissue import LinearTissueModel, load_tissue_models

__all__ = [
    "BelugaChromatin",
    "ExpectoPlugins",
    "SpatialReduce",
    "TissueHeads",
    "expecto_plugins",
    "to_exprflow_layout",
]


class BelugaChromatin:
    """Chromatin plug-in: a Beluga network run forward and reverse-complemented, averaged.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~exprflow.models.beluga.model.Beluga` (any module mapping
        ``(B, 4, 2000)`` to ``(B, F)`` probabilities).
    batch_size : int, default 1024
        Windows per forward pass (the model sees twice as many with the reverse strand).
    device : str or torch.device, optional
        Where to run. Default None: CUDA when available, else the CPU. The model is moved
        there once, here, so that batches do not move it back and forth.
    dtype : {"fp32", "bf16"}, optional
        ``"bf16"``: bfloat16 autocast on CUDA. Default None (float32).
    feature_names : sequence of str, optional
        Names of the ``F`` outputs (the checkpoint's ``feature_names``). Default None.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        batch_size: int = 1024,
        device: str | torch.device | None = None,
        dtype: Literal["fp32", "bf16"] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device if device is not None else _default_device())
        self.model = model.to(self.device)
        self.batch_size = batch_size
        self.dtype = dtype
        self.feature_names = list(feature_names) if feature_names is not None else None

    def __call__(self, onehot: np.ndarray) -> np.ndarray:
        """Predict chromatin features of one-hot windows.

        Parameters
        ----------
        onehot : numpy.ndarray
            float32 ``(N, 4, L)``, channels ``A, G, C, T``.

        Returns
        -------
        numpy.ndarray
            float32 ``(N, F)``.
        """
        if onehot.ndim != 3 or onehot.shape[1] != 4:
            raise ValueError(f"onehot must have shape (N, 4, L), got {onehot.shape}")
        return predict_windows(
            self.model, onehot, batch_size=self.batch_size, dtype=self.dtype
        ).astype(np.float32, copy=False)


def _default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


class SpatialReduce:
    """Reduce plug-in: ExPecto's 10 exponential-decay sums over the 200 windows.

    Output columns are basis-major (``b·F + f``), the exprflow layout of the tissue models.
    """

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Collapse per-window features.

        Parameters
        ----------
        windows : numpy.ndarray
            ``(G, 200, F)``, windows in shift order (``-20000 … 19800``).

        Returns
        -------
        numpy.ndarray
            float32 ``(G, 10 F)``.
        """
        return spatial_features(windows).astype(np.float32)


def to_exprflow_layout(model: LinearTissueModel) -> LinearTissueModel:
    """Return a tissue model in the exprflow layout (legacy models lose their zero columns).

    The legacy layout's extra column (one per basis block) always holds 0, so dropping
    its weight leaves every prediction unchanged.

    Parameters
    ----------
    model : LinearTissueModel
        Either layout.

    Returns
    -------
    LinearTissueModel
        ``model`` itself when already in the exprflow layout; else a copy with
        ``10 F`` weights.

    Raises
    ------
    InputError
        When a legacy model's width is not a multiple of 10.
    """
    if model.feature_layout == "exprflow":
        return model
    blocks, rest = divmod(model.n_features, N_BASES)
    if rest or blocks < 2:
        raise InputError(
            _label(model),
            f"legacy model has {model.n_features} weights, not 10 × (F + 1) for some F >= 1.",
            record=_record(model),
            fix="give an ExPecto tissue model (20,030 weights for Beluga's 2,002 features).",
        )
    weights = from_legacy_layout(model.weights, blocks - 1)
    return replace(model, weights=weights, feature_layout="exprflow")


def _label(model: LinearTissueModel) -> str:
    """Where a model came from, for messages."""
    return model.source or f"model {model.tissue or model.name or '<unnamed>'}"


def _record(model: LinearTissueModel) -> str | None:
    """The model's tissue as an error record, when :func:`_label` does not name it already."""
    return (model.tissue or model.name or None) if model.source else None


class TissueHeads:
    """Heads plug-in: one linear ExPecto tissue model per output column.

    Parameters
    ----------
    models : sequence of LinearTissueModel
        At least one; legacy-layout models are converted (:func:`to_exprflow_layout`).
        All must take the same number of features ``D``, and have distinct tissue names
        (``tissue``, else ``name``).

    Attributes
    ----------
    models : list of LinearTissueModel
        The models, in the exprflow layout.
    tissues : list of str
        Column names, in model order.
    n_features : int
        ``D``, the input width (``10 F``).
    """

    def __init__(self, models: Sequence[LinearTissueModel]) -> None:
        if not models:
            raise ValueError("TissueHeads needs at least one tissue model")
        self.models = [to_exprflow_layout(model) for model in models]
        first = self.models[0]
        odd = next((m for m in self.models if m.n_features != first.n_features), None)
        if odd is not None:
            raise InputError(
                _label(odd),
                f"takes {odd.n_features} features but {_label(first)} takes "
                f"{first.n_features} (exprflow layout); every tissue model must fit the "
                "same chromatin model.",
                record=_record(odd),
                fix="use tissue models trained on one chromatin model's features.",
            )
        self.tissues = [model.tissue or model.name for model in self.models]
        repeated = sorted({t for t in self.tissues if not t or self.tissues.count(t) > 1})
        if repeated:
            raise InputError(
                _label(self.models[self.tissues.index(repeated[0])]),
                f"tissue names {repeated} are empty or repeated.",
                fix="give every tissue model a distinct tissue name.",
            )
        self.n_features = first.n_features
        self._weights = np.stack([model.weights for model in self.models], axis=1)
        self._intercepts = np.array([model.base_score + model.bias for model in self.models])

    def __call__(self, features: ArrayLike) -> np.ndarray:
        """Predict every tissue's ``ln(RPKM + pseudocount)``.

        Parameters
        ----------
        features : array-like
            ``(G, D)`` spatial features, exprflow layout.

        Returns
        -------
        numpy.ndarray
            float32 ``(G, T)``, computed in float64.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"features must have shape (G, {self.n_features}), got {x.shape}")
        return (x @ self._weights + self._intercepts).astype(np.float32)


class ExpectoPlugins(NamedTuple):
    """The three scoring plug-ins of an ExPecto model."""

    chromatin: BelugaChromatin
    reduce: SpatialReduce
    heads: TissueHeads


def expecto_plugins(
    checkpoint_uri: str | os.PathLike[str],
    tissue_models: str | os.PathLike[str] | Sequence[LinearTissueModel],
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    dtype: Literal["fp32", "bf16"] | None = None,
) -> ExpectoPlugins:
    """Build ExPecto's chromatin, reduce and heads plug-ins, checking that they fit.

    Parameters
    ----------
    checkpoint_uri : str or PathLike
        Beluga weights: an exprflow checkpoint or a released state dict; path or URI.
    tissue_models : str, PathLike or sequence of LinearTissueModel
        An ExPecto model list, one ``.save``/``.json`` model, or loaded models.
    batch_size : int, default 1024
        Windows per chromatin forward pass.
    device : str or torch.device, optional
        Default None: CUDA when available, else the CPU.
    dtype : {"fp32", "bf16"}, optional
        Default None (float32).

    Returns
    -------
    ExpectoPlugins
        ``(chromatin, reduce, heads)``, ready for
        :func:`~exprflow.scoring.engine.score_genes`.

    Raises
    ------
    InputError
        When a file cannot be read, or the tissue models do not take 10 × the chromatin
        model's outputs (naming both numbers and both files).
    """
    checkpoint = load_checkpoint(checkpoint_uri)
    if isinstance(tissue_models, str | os.PathLike):
        models = load_tissue_models(Path(tissue_models))
    else:
        models = list(tissue_models)
    heads = TissueHeads(models)
    n_outputs = checkpoint.config.n_outputs
    if heads.n_features != N_BASES * n_outputs:
        raise InputError(
            _label(heads.models[0]),
            f"the tissue models take {heads.n_features} features (exprflow layout), but the "
            f"chromatin model {checkpoint_uri} has {n_outputs} outputs, so its spatial "
            f"features number {N_BASES} × {n_outputs} = {N_BASES * n_outputs}.",
            record=_record(heads.models[0]),
            fix="use tissue models trained on this chromatin model's features.",
        )
    chromatin = BelugaChromatin(
        checkpoint.model,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        feature_names=checkpoint.data_params.get("feature_names"),
    )
    return ExpectoPlugins(chromatin, SpatialReduce(), heads)
