"""MTLucifer: a CNN, then a CLS-token transformer over its positions (promoter_models v2).

Tensor contract (published sizes; ``L`` any length ≥ 7 bp, 250 for the fluorescence
promoters)::

    x (B, L, 4) one-hot → (B, 4, L)
      → 3 × ConvBlock [Conv1d k5 pad 1 → ReLU → Norm → Dropout 0.1]
           4 → 256 → 512 → 768 channels, L → L − 6 positions (250 → 244)
      → tokens (B, L − 6, 768); learnable CLS (randn init) prepended → (B, L − 5, 768)
      → 5 × nn.TransformerEncoderLayer(768, 8 heads, FF 2048, dropout 0.1, ReLU, post-LN)
        (no positional encoding, as published)
      → the CLS token's output (B, 768)

``Norm`` is GroupNorm(C, C) by default — the published ``train_models.py`` builds
``MTLuciferGN`` — or BatchNorm1d (``MTLucifer`` in ``backbone_modules.py``) with
``norm="batch"``. Parameter names: ``cnn.<i>.conv/norm``, ``cls_token``,
``transformer.<i>.*``; linear probing freezes ``cnn.`` and ``transformer.``, not the CLS
token. Published size: 30,201,856 parameters.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from exprflow.models.promoter.base import PromoterBackbone, check_onehot
from exprflow.models.promoter.config import MTLuciferSpec

__all__ = ["ConvBlock", "MTLucifer", "conv_stack"]


class ConvBlock(nn.Module):
    """Conv1d → ReLU → Norm → Dropout (the published ``CNNBlock`` / ``CNNBlockGN``).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel, padding : int
        Kernel size and zero padding of the convolution (with bias).
    dropout : float
        Dropout probability.
    norm : str
        ``"group"`` (GroupNorm with one group per channel) or ``"batch"`` (BatchNorm1d).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        padding: int,
        dropout: float,
        norm: str,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, padding=padding)
        self.norm: nn.Module = (
            nn.GroupNorm(out_channels, out_channels)
            if norm == "group"
            else nn.BatchNorm1d(out_channels)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, L) → (B, out_channels, L + 2·padding − kernel + 1)."""
        return self.dropout(self.norm(torch.relu(self.conv(x))))


def conv_stack(
    in_channels: int,
    channels: tuple[int, ...],
    kernel: int,
    padding: int,
    dropout: float,
    norm: str,
) -> list[nn.Module]:
    """ConvBlocks ``in_channels → channels[0] → … → channels[-1]``.

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    channels : tuple of int
        Output channels of each block.
    kernel, padding : int
        Convolution kernel and padding.
    dropout : float
        Dropout of each block.
    norm : str
        ``"group"`` or ``"batch"``.

    Returns
    -------
    list of nn.Module
    """
    widths = (in_channels, *channels)
    return [ConvBlock(a, b, kernel, padding, dropout, norm) for a, b in itertools.pairwise(widths)]


class MTLucifer(PromoterBackbone):
    """CNN + CLS-token transformer; returns the CLS vector (B, channels[-1]).

    Parameters
    ----------
    spec : MTLuciferSpec, optional
        Sizes. Default the published model (``MTLuciferGN``).
    """

    def __init__(self, spec: MTLuciferSpec | None = None) -> None:
        spec = spec or MTLuciferSpec()
        d = spec.channels[-1]
        if d % spec.heads:
            raise ValueError(f"heads ({spec.heads}) must divide the token width ({d})")
        super().__init__(d, "onehot", ("cnn.", "transformer."))
        self.spec = spec
        self.cnn = nn.Sequential(
            *conv_stack(4, spec.channels, spec.kernel, spec.padding, spec.dropout, spec.norm)
        )
        self.cls_token = nn.Parameter(torch.randn(d))
        self.transformer = nn.Sequential(
            *(
                nn.TransformerEncoderLayer(
                    d, spec.heads, spec.ff, spec.dropout, activation="relu", batch_first=True
                )
                for _ in range(spec.layers)
            )
        )
        self._shrink = len(spec.channels) * (spec.kernel - 1 - 2 * spec.padding)

    def forward(self, x: Tensor) -> Tensor:
        """(B, L, 4) one-hot → (B, d) CLS embedding."""
        check_onehot(x, "MTLucifer", min_length=self._shrink + 1)
        tokens = self.cnn(x.permute(0, 2, 1)).permute(0, 2, 1)
        cls = self.cls_token.expand(tokens.shape[0], 1, -1)
        return self.transformer(torch.cat([cls, tokens], dim=1))[:, 0]
