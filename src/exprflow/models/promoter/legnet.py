"""LegNet and LegNetLarge: the autosome-ru LegNet as ported by promoter_models v2.

Tensor contract (``w`` = block widths, published LegNet (256, 128, 128, 64, 64, 64, 64),
LegNetLarge (1024, 512, 512, 256, 256, 256, 256); every convolution has "same" padding,
so any length works)::

    x (B, L, 4) → (B, 4, L)
      → stem: Conv1d 4→w0 k7 (no bias) → BatchNorm → SiLU
      → per block (p = w[i], s = w[i+1], e = 4·s):
           inverted: Conv1d p→e k1 → BN → SiLU
                     → grouped Conv1d e→e k7 (2 channels per group) → BN → SiLU
                     → SE(e; bottleneck p // 4) → Conv1d e→p k1 → BN → SiLU
           x ← resize(concat[x, inverted(x)]): Conv1d 2p→s k7 → BN → SiLU
      → mean over positions                                       → (B, w[-1])

The squeeze-excitation (:class:`SqueezeExcite`) is the published one — mean over
positions → Linear e→r → SiLU → Linear r→r → concat[·, bilinear(·) (r → r/2)] → SiLU →
Linear 3r/2→e → Sigmoid, scaling the channels — except that the bilinear term, a
``tltorch.TRL`` low-rank tensor regression (rank 0.5) in the published code, is here a
CP-factorised bilinear map of rank r (:class:`LowRankBilinear`: ``W((A y) ⊙ (B y))``),
which needs no extra dependency. The published module also builds an unused ``mapper``
(Conv1d w[-1]→18) whose parameters never reach the output; it is left out. Convolutions
have no bias (BatchNorm follows each). Linear probing freezes everything.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor, nn

from exprflow.models.promoter.base import PromoterBackbone, check_onehot
from exprflow.models.promoter.config import LegNetSpec

__all__ = ["LegNet", "LegNetBlock", "LowRankBilinear", "SqueezeExcite"]


def _conv_bn_silu(
    in_channels: int, out_channels: int, kernel: int, groups: int = 1
) -> list[nn.Module]:
    """Conv1d ("same", no bias) → BatchNorm1d → SiLU."""
    return [
        nn.Conv1d(in_channels, out_channels, kernel, padding="same", groups=groups, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.SiLU(),
    ]


class LowRankBilinear(nn.Module):
    """Bilinear map of rank ``rank``: ``y ↦ W((A y) ⊙ (B y)) + b``.

    Parameters
    ----------
    n : int
        Input features.
    out : int
        Output features.
    rank : int
        Rank of the factorisation (rows of ``A`` and ``B``).
    """

    def __init__(self, n: int, out: int, rank: int) -> None:
        super().__init__()
        self.left = nn.Linear(n, rank, bias=False)
        self.right = nn.Linear(n, rank, bias=False)
        self.out = nn.Linear(rank, out)

    def forward(self, y: Tensor) -> Tensor:
        """(B, n) → (B, out)."""
        return self.out(self.left(y) * self.right(y))


class SqueezeExcite(nn.Module):
    """LegNet's squeeze-excitation with a bilinear term (see the module docstring).

    Parameters
    ----------
    channels : int
        Channels scaled (``e``).
    bottleneck : int
        Bottleneck width ``r`` (≥ 2).
    """

    def __init__(self, channels: int, bottleneck: int) -> None:
        super().__init__()
        half = bottleneck // 2
        self.squeeze = nn.Sequential(
            nn.Linear(channels, bottleneck), nn.SiLU(), nn.Linear(bottleneck, bottleneck)
        )
        self.bilinear = LowRankBilinear(bottleneck, half, bottleneck)
        self.excite = nn.Sequential(nn.SiLU(), nn.Linear(bottleneck + half, channels), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, L) → (B, C, L), each channel scaled by a gate in (0, 1)."""
        y = self.squeeze(x.mean(dim=2))
        gate = self.excite(torch.cat([y, self.bilinear(y)], dim=1))
        return x * gate.unsqueeze(2)


class LegNetBlock(nn.Module):
    """Inverted residual with SE, concatenated with its input, then a resize conv.

    Parameters
    ----------
    in_channels, out_channels : int
        ``p`` and ``s``.
    spec : LegNetSpec
        Kernel, expansion, channels per group, SE reduction.
    """

    def __init__(self, in_channels: int, out_channels: int, spec: LegNetSpec) -> None:
        super().__init__()
        wide = out_channels * spec.expand
        self.inverted = nn.Sequential(
            *_conv_bn_silu(in_channels, wide, 1),
            *_conv_bn_silu(wide, wide, spec.kernel, groups=wide // spec.filters_per_group),
            SqueezeExcite(wide, in_channels // spec.se_reduction),
            *_conv_bn_silu(wide, in_channels, 1),
        )
        self.resize = nn.Sequential(*_conv_bn_silu(2 * in_channels, out_channels, spec.kernel))

    def forward(self, x: Tensor) -> Tensor:
        """(B, p, L) → (B, s, L)."""
        return self.resize(torch.cat([x, self.inverted(x)], dim=1))


def _check_spec(spec: LegNetSpec) -> None:
    """ValueError when a block's SE bottleneck or grouping does not fit its widths."""
    if len(spec.blocks) < 2:
        raise ValueError(f"LegNet needs at least 2 block widths, got {spec.blocks}")
    for width in spec.blocks[:-1]:
        if width // spec.se_reduction < 2:
            raise ValueError(f"block width {width} // se_reduction {spec.se_reduction} must be ≥ 2")
    for width in spec.blocks[1:]:
        if (width * spec.expand) % spec.filters_per_group:
            raise ValueError(
                f"filters_per_group {spec.filters_per_group} must divide {width * spec.expand}"
            )


class LegNet(PromoterBackbone):
    """LegNet backbone: stem, LegNet blocks, global average pool → (B, blocks[-1]).

    Parameters
    ----------
    spec : LegNetSpec, optional
        Sizes. Default the published LegNet.
    """

    def __init__(self, spec: LegNetSpec | None = None) -> None:
        spec = spec or LegNetSpec()
        _check_spec(spec)
        super().__init__(spec.blocks[-1], "onehot", ("stem.", "blocks."))
        self.spec = spec
        self.stem = nn.Sequential(*_conv_bn_silu(4, spec.blocks[0], spec.kernel))
        self.blocks = nn.Sequential(*(LegNetBlock(p, s, spec) for p, s in pairwise(spec.blocks)))

    def forward(self, x: Tensor) -> Tensor:
        """(B, L, 4) one-hot → (B, blocks[-1])."""
        check_onehot(x, "LegNet")
        return self.blocks(self.stem(x.permute(0, 2, 1))).mean(dim=2)
