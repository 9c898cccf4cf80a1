"""The max-pool perceptron: 1×1 conv, GELU, max over all bins, one linear layer (head 3).

Tensor contract: embeddings ``(batch, channels, bins)`` float, any number of bins
(published 1536 × 896) → ``(batch, tracks)``, one value per track for the whole region (the
``single_bin`` target, stored ``(regions, 1, tracks)``: drop axis 1). Trained with the mean
squared error.

The module tree is the published one plus a weightless dropout: ``layers`` = ``conv1x1``
(Conv1d channels → hidden, kernel 1), ``gelu1`` (exact, erf GELU), ``dropout1`` (p 0 as
published; searched when training), ``maxpool1`` (the maximum over all bins; published
as ``MaxPool1d(896)``, the same thing on 896 bins), ``flatten``, ``fc1`` (Linear hidden →
tracks). So the released ``cs282a_maxpool_perceptron.pt`` — ``layers.conv1x1.weight``
(500, 1536, 1), ``layers.conv1x1.bias`` (500), ``layers.fc1.weight`` (18, 500),
``layers.fc1.bias`` (18); 768,500 + 9,018 = 777,518 parameters — loads strictly with
:func:`load_published`, and the head computes ``fc1(max_bins(gelu(conv1x1(x))))``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import ClassVar

import torch
from torch import nn

from exprflow.models.probes.base import ProbeConfig, check_embeddings, dims, load_checked

__all__ = ["MaxPoolPerceptron", "MaxPoolPerceptronConfig", "load_published"]

_FIX = (
    "give a plain state dict of a max-pool perceptron (keys layers.conv1x1.weight (hidden, "
    "channels, 1), layers.conv1x1.bias, layers.fc1.weight (tracks, hidden), layers.fc1.bias), "
    "such as cs282a_maxpool_perceptron.pt."
)


@dataclass(frozen=True)
class MaxPoolPerceptronConfig(ProbeConfig):
    """Sizes of a max-pool perceptron; the defaults are the published head.

    Parameters
    ----------
    channels : int, optional
        Embedding channels. Default 1536.
    tracks : int, optional
        Predicted tracks. Default 18.
    hidden : int, optional
        Channels of the 1×1 convolution. Default 500.
    dropout : float, optional
        Dropout after the GELU while training. Default 0.0 (none, as published; it has no
        weights, so published state dicts load whatever its value).
    """

    model_type: ClassVar[str] = "maxpool_perceptron"

    hidden: int = 500
    dropout: float = 0.0

    @classmethod
    def tiny(
        cls, channels: int = 64, tracks: int = 18, hidden: int = 16
    ) -> MaxPoolPerceptronConfig:
        """Return a perceptron for the demo's tiny trunk.

        Parameters
        ----------
        channels : int, optional
            Embedding channels. Default 64 (the tiny Basenji2 trunk).
        tracks : int, optional
            Predicted tracks. Default 18.
        hidden : int, optional
            Channels of the 1×1 convolution. Default 16.

        Returns
        -------
        MaxPoolPerceptronConfig
        """
        return cls(channels=channels, tracks=tracks, hidden=hidden)


class MaxPoolPerceptron(nn.Module):
    """``Linear(max over bins of gelu(Conv1d(channels → hidden, kernel 1)))`` → tracks.

    Parameters
    ----------
    config : MaxPoolPerceptronConfig
        Sizes.
    """

    def __init__(self, config: MaxPoolPerceptronConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.Sequential(
            OrderedDict(
                [
                    ("conv1x1", nn.Conv1d(config.channels, config.hidden, kernel_size=1)),
                    ("gelu1", nn.GELU()),
                    ("dropout1", nn.Dropout(config.dropout)),
                    ("maxpool1", nn.AdaptiveMaxPool1d(1)),
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(config.hidden, config.tracks)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict one value per track for each region.

        Parameters
        ----------
        x : torch.Tensor
            Embeddings ``(batch, channels, bins)``, float.

        Returns
        -------
        torch.Tensor
            ``(batch, tracks)``.
        """
        check_embeddings(x, self.config.channels)
        out: torch.Tensor = self.layers(x)
        return out


def _infer(state: Mapping[str, torch.Tensor], source: str, fix: str) -> MaxPoolPerceptronConfig:
    """Sizes from ``layers.conv1x1.weight`` (hidden, channels, 1) and ``layers.fc1.weight``."""
    hidden, channels, _ = dims(state, "layers.conv1x1.weight", 3, source, fix)
    tracks, _ = dims(state, "layers.fc1.weight", 2, source, fix)
    return MaxPoolPerceptronConfig(channels=channels, tracks=tracks, hidden=hidden)


def load_published(path: str | PathLike[str]) -> MaxPoolPerceptron:
    """Load a max-pool perceptron from a plain state dict (``cs282a_maxpool_perceptron.pt``).

    Channels, hidden and tracks are read from the weights; the file must hold exactly the
    head's four tensors with consistent shapes.

    Parameters
    ----------
    path : str or PathLike
        The ``.pt``/``.pth`` file.

    Returns
    -------
    MaxPoolPerceptron
        In eval mode on the CPU, float32.

    Raises
    ------
    InputError
        Naming the file and the missing or unexpected keys, or the mismatched tensor.
    """
    return load_checked(
        path,
        build=MaxPoolPerceptron,
        infer=_infer,
        published=MaxPoolPerceptronConfig(),
        fix=_FIX,
    )
