"""The linear probe: one 1×1 convolution and a softplus, per 128 bp bin (CS282A head 1).

Tensor contract: embeddings ``(batch, channels, bins)`` float (published 1536 × 896) →
rates ``(batch, tracks, bins)``, non-negative, one per 128 bp bin (the ``128bp_bins``
target, whose label file stores ``(regions, bins, tracks)``: transpose it). Trained with a
Poisson negative log-likelihood on the rates (``PoissonNLLLoss(log_input=False)``).

The module tree is the published one (``conv_layer``, ``activation``), so the released
``cs282a_linear_probe.pth`` — ``conv_layer.weight`` (18, 1536, 1) and ``conv_layer.bias``
(18), 27,666 parameters — loads strictly with :func:`load_published`; the head then
computes ``softplus(W x + b)`` at every bin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import ClassVar, cast

import torch
from torch import nn

from exprflow.models.probes.base import ProbeConfig, check_embeddings, dims, load_checked

__all__ = ["LinearProbe", "LinearProbeConfig", "load_published"]

_FIX = (
    "give a plain state dict of a linear probe (keys conv_layer.weight (tracks, channels, 1) "
    "and conv_layer.bias (tracks)), such as cs282a_linear_probe.pth."
)


@dataclass(frozen=True)
class LinearProbeConfig(ProbeConfig):
    """Sizes of a linear probe; the defaults are the published head (1536 → 18).

    Parameters
    ----------
    channels : int, optional
        Embedding channels. Default 1536.
    tracks : int, optional
        Predicted tracks. Default 18.

    Notes
    -----
    ``LinearProbeConfig.tiny(channels=64, tracks=18)`` (inherited) fits the demo's trunk.
    """

    model_type: ClassVar[str] = "linear_probe"


class LinearProbe(nn.Module):
    """``softplus(Conv1d(channels → tracks, kernel 1))`` over every bin.

    Parameters
    ----------
    config : LinearProbeConfig
        Sizes.

    Notes
    -----
    Initialised as published: Kaiming-normal weights (ReLU gain), zero bias.
    """

    def __init__(self, config: LinearProbeConfig) -> None:
        super().__init__()
        self.config = config
        self.conv_layer = nn.Conv1d(config.channels, config.tracks, kernel_size=1)
        nn.init.kaiming_normal_(self.conv_layer.weight, nonlinearity="relu")
        nn.init.zeros_(cast(torch.Tensor, self.conv_layer.bias))  # Conv1d has a bias
        self.activation = nn.Softplus()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict per-bin rates.

        Parameters
        ----------
        x : torch.Tensor
            Embeddings ``(batch, channels, bins)``, float.

        Returns
        -------
        torch.Tensor
            Rates ``(batch, tracks, bins)``, ≥ 0.
        """
        check_embeddings(x, self.config.channels)
        return self.activation(self.conv_layer(x))


def _infer(state: Mapping[str, torch.Tensor], source: str, fix: str) -> LinearProbeConfig:
    """Sizes from ``conv_layer.weight`` (tracks, channels, 1)."""
    tracks, channels, _ = dims(state, "conv_layer.weight", 3, source, fix)
    return LinearProbeConfig(channels=channels, tracks=tracks)


def load_published(path: str | PathLike[str]) -> LinearProbe:
    """Load a linear probe from a plain state dict (the published ``cs282a_linear_probe.pth``).

    Channels and tracks are read from ``conv_layer.weight``; the file must hold exactly
    the probe's two tensors with consistent shapes.

    Parameters
    ----------
    path : str or PathLike
        The ``.pth``/``.pt`` file.

    Returns
    -------
    LinearProbe
        In eval mode on the CPU, float32.

    Raises
    ------
    InputError
        Naming the file and the missing or unexpected keys, or the mismatched tensor.
    """
    return load_checked(
        path, build=LinearProbe, infer=_infer, published=LinearProbeConfig(), fix=_FIX
    )
