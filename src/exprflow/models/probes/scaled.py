"""A probe head whose outputs are multiplied by a fixed per-track scale.

Heads are trained on labels divided by each track's training mean (so that one loss
weighs tracks of very different ranges alike, see :mod:`exprflow.training.probe_loop`);
:class:`ScaledHead` keeps that scale as a buffer and multiplies it back, so the saved and
served module predicts in label units. Its state dict is the head's under ``head.`` plus
``scale``; a published head is a ``ScaledHead`` with scale 1.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ScaledHead"]


class ScaledHead(nn.Module):
    """``head(x) * scale``, the scale broadcast over the tracks axis (axis 1).

    Parameters
    ----------
    head : torch.nn.Module
        A probe head: ``(batch, channels, bins)`` → ``(batch, tracks[, bins])``.
    scale : torch.Tensor
        Positive ``(tracks,)``.

    Raises
    ------
    ValueError
        When ``scale`` is not 1-D or not all positive and finite.
    """

    scale: torch.Tensor

    def __init__(self, head: nn.Module, scale: torch.Tensor) -> None:
        super().__init__()
        scale = torch.as_tensor(scale, dtype=torch.float32)
        if scale.ndim != 1 or not bool(torch.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError(f"scale must be positive finite (tracks,), got {scale}")
        self.head = head
        self.register_buffer("scale", scale)

    def shaped_scale(self, ndim: int) -> torch.Tensor:
        """The scale shaped to broadcast over ``(batch, tracks[, bins])`` of ``ndim`` axes."""
        return self.scale.view(1, -1, *([1] * (ndim - 2)))

    def unscale(self, out: torch.Tensor) -> torch.Tensor:
        """Head outputs (scaled units) → label units."""
        return out * self.shaped_scale(out.ndim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict in label units.

        Parameters
        ----------
        x : torch.Tensor
            Embeddings ``(batch, channels, bins)``.

        Returns
        -------
        torch.Tensor
            ``(batch, tracks)`` or ``(batch, tracks, bins)``, float32.
        """
        return self.unscale(self.head(x).float())
