"""The convolutional perceptron: 1×1 conv, GELU, flatten all bins, one linear layer (head 2).

Tensor contract: embeddings ``(batch, channels, bins)`` float with exactly
``config.bins`` bins (published 1536 × 896) → ``(batch, tracks)``, one value per track for
the whole region (the ``single_bin`` target, stored ``(regions, 1, tracks)``: drop axis 1).
Trained with the mean squared error.

The module tree is the published one plus a weightless dropout: ``layers`` = ``conv1x1``
(Conv1d channels → hidden, kernel 1), ``gelu1`` (exact, erf GELU), ``dropout1`` (p 0 as
published; searched when training), ``flatten`` (channel-major: feature
``c * bins + b``), ``fc1`` (Linear hidden × bins → tracks). Published sizes 1536 → 500 →
448,000 → 18: 768,500 + 8,064,018 = 8,832,518 parameters, nearly all in ``fc1``. No trained
weights were released.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from exprflow.models.probes.base import ProbeConfig, check_embeddings

__all__ = ["ConvPerceptron", "ConvPerceptronConfig"]


@dataclass(frozen=True)
class ConvPerceptronConfig(ProbeConfig):
    """Sizes of a convolutional perceptron; the defaults are the published head.

    Parameters
    ----------
    channels : int, optional
        Embedding channels. Default 1536.
    tracks : int, optional
        Predicted tracks. Default 18.
    bins : int, optional
        Bins per region; the linear layer sees all of them. Default 896.
    hidden : int, optional
        Channels of the 1×1 convolution. Default 500.
    dropout : float, optional
        Dropout after the GELU while training. Default 0.0 (none, as published; it has no
        weights, so published state dicts load whatever its value).
    """

    model_type: ClassVar[str] = "conv_perceptron"

    bins: int = 896
    hidden: int = 500
    dropout: float = 0.0

    @classmethod
    def tiny(
        cls, channels: int = 64, tracks: int = 18, bins: int = 896, hidden: int = 16
    ) -> ConvPerceptronConfig:
        """Return a perceptron for the demo's tiny trunk.

        Parameters
        ----------
        channels : int, optional
            Embedding channels. Default 64 (the tiny Basenji2 trunk).
        tracks : int, optional
            Predicted tracks. Default 18.
        bins : int, optional
            Bins per region. Default 896.
        hidden : int, optional
            Channels of the 1×1 convolution. Default 16.

        Returns
        -------
        ConvPerceptronConfig
        """
        return cls(channels=channels, tracks=tracks, bins=bins, hidden=hidden)


class ConvPerceptron(nn.Module):
    """``Linear(flatten(gelu(Conv1d(channels → hidden, kernel 1))))`` → tracks.

    Parameters
    ----------
    config : ConvPerceptronConfig
        Sizes.
    """

    def __init__(self, config: ConvPerceptronConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.Sequential(
            OrderedDict(
                [
                    ("conv1x1", nn.Conv1d(config.channels, config.hidden, kernel_size=1)),
                    ("gelu1", nn.GELU()),
                    ("dropout1", nn.Dropout(config.dropout)),
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(config.hidden * config.bins, config.tracks)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict one value per track for each region.

        Parameters
        ----------
        x : torch.Tensor
            Embeddings ``(batch, channels, bins)``, float, ``bins == config.bins``.

        Returns
        -------
        torch.Tensor
            ``(batch, tracks)``.
        """
        check_embeddings(x, self.config.channels, self.config.bins)
        out: torch.Tensor = self.layers(x)
        return out
