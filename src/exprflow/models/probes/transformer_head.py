"""The transformer head: one self-attention layer over the bins, then a mean (CS282A head 4).

Tensor contract: embeddings ``(batch, channels, bins)`` float, any number of bins
(published 1536 × 896) → ``(batch, tracks)``, one value per track for the whole region (the
``single_bin`` target, stored ``(regions, 1, tracks)``: drop axis 1). Trained with the mean
squared error. :meth:`TransformerHead.bin_outputs` gives the per-bin values
``(batch, tracks, bins)`` before the mean.

Layers, in the published order and with the published names (``attention``, ``norm1``,
``feed_forward`` = Linear/ReLU/Dropout/Linear, ``norm2``, ``dropout``,
``output_transform``)::

    q   = dropout(norm1(x + attention(x, x, x)))
    out = dropout(norm2(q + feed_forward(q)))        # channels → 2·channels → channels
    y   = mean over bins of output_transform(out)    # channels → tracks

Published sizes: 1536 channels, 6 heads, dropout 0.2 (in the attention, the feed-forward
and after each norm): 18,918,930 parameters.

**Fixed published bug.** The published layer was ``nn.MultiheadAttention`` without
``batch_first=True`` while it was fed ``(batch, 896, 1536)``: PyTorch then reads axis 0 as
the sequence, so each bin attended to the same bin of the *other regions in the batch* and
never to the other bins of its own region (and a region's prediction depended on its batch
mates). Here the attention is ``batch_first=True`` on ``(batch, bins, channels)``: every bin
attends to the bins of its own region only. A published state dict still fits this module
(same names and shapes), but its weights were trained under the bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from exprflow.models.probes.base import ProbeConfig, check_embeddings

__all__ = ["TransformerHead", "TransformerHeadConfig"]


@dataclass(frozen=True)
class TransformerHeadConfig(ProbeConfig):
    """Sizes of a transformer head; the defaults are the published head.

    Parameters
    ----------
    channels : int, optional
        Embedding channels, the attention's model width. Default 1536.
    tracks : int, optional
        Predicted tracks. Default 18.
    heads : int, optional
        Attention heads; must divide ``channels``. Default 6.
    expansion : int, optional
        Feed-forward width as a multiple of ``channels``. Default 2.
    dropout : float, optional
        Dropout probability (attention weights, feed-forward, after each norm). Default 0.2.

    Raises
    ------
    ValueError
        On a non-positive size, a dropout outside [0, 1), or ``heads`` not dividing
        ``channels``.
    """

    model_type: ClassVar[str] = "transformer"

    heads: int = 6
    expansion: int = 2
    dropout: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.channels % self.heads:
            raise ValueError(
                f"heads={self.heads} must divide channels={self.channels} "
                f"(each head gets channels / heads dimensions)"
            )

    @classmethod
    def tiny(
        cls, channels: int = 64, tracks: int = 18, heads: int = 4, dropout: float = 0.2
    ) -> TransformerHeadConfig:
        """Return a transformer head for the demo's tiny trunk.

        Parameters
        ----------
        channels : int, optional
            Embedding channels. Default 64 (the tiny Basenji2 trunk).
        tracks : int, optional
            Predicted tracks. Default 18.
        heads : int, optional
            Attention heads, dividing ``channels``. Default 4.
        dropout : float, optional
            Dropout probability. Default 0.2.

        Returns
        -------
        TransformerHeadConfig
        """
        return cls(channels=channels, tracks=tracks, heads=heads, dropout=dropout)


class TransformerHead(nn.Module):
    """Post-norm self-attention block over the bins, a linear map to tracks, a bin mean.

    Parameters
    ----------
    config : TransformerHeadConfig
        Sizes.
    """

    def __init__(self, config: TransformerHeadConfig) -> None:
        super().__init__()
        self.config = config
        width = config.channels
        self.attention = nn.MultiheadAttention(
            width, config.heads, dropout=config.dropout, batch_first=True
        )
        self.norm1 = nn.LayerNorm(width)
        self.norm2 = nn.LayerNorm(width)
        self.feed_forward = nn.Sequential(
            nn.Linear(width, config.expansion * width),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.expansion * width, width),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output_transform = nn.Linear(width, config.tracks)

    def bin_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Per-bin predictions before the mean over bins.

        Parameters
        ----------
        x : torch.Tensor
            Embeddings ``(batch, channels, bins)``, float.

        Returns
        -------
        torch.Tensor
            ``(batch, tracks, bins)``.
        """
        check_embeddings(x, self.config.channels)
        tokens = x.transpose(1, 2)  # (batch, bins, channels): attention runs over bins
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        query = self.dropout(self.norm1(attended + tokens))
        out = self.dropout(self.norm2(self.feed_forward(query) + query))
        return self.output_transform(out).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict one value per track for each region (the mean of :meth:`bin_outputs`).

        Parameters
        ----------
        x : torch.Tensor
            Embeddings ``(batch, channels, bins)``, float.

        Returns
        -------
        torch.Tensor
            ``(batch, tracks)``.
        """
        return self.bin_outputs(x).mean(dim=-1)
