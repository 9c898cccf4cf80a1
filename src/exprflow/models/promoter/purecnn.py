"""PureCNN and PureCNNLarge: Conv blocks and max-pools, flattened into two dense layers.

Tensor contract (published sizes, 250 bp; every ConvBlock is k5 pad 1, so −2 bp, and a
max-pool of size p floors L / p)::

    PureCNN       x (B, 250, 4) → (B, 4, 250)
      → ConvBlock 4→512 (248) → 512→768 (246) → MaxPool5 (49)
      → ConvBlock 768→768 (47) → 768→1024 (45) → MaxPool5 (9)
      → flatten (B, 9 × 1024) → Linear 2048 → ReLU → Linear 1024      → (B, 1024)

    PureCNNLarge  … → MaxPool5 (49) → 768→768 (47) → 768→1024 (45) → MaxPool3 (15)
      → 1024→1024 (13) → 1024→1024 (11) → MaxPool3 (3)
      → flatten (B, 3 × 1024) → Linear 2048 → ReLU → Linear 1024      → (B, 1024)

(The reference's "(3×1024)" for PureCNNLarge agrees with this arithmetic.) ConvBlock is
:class:`~exprflow.models.promoter.mtlucifer.ConvBlock` (Conv → ReLU → BatchNorm →
Dropout 0.1, the published ``CNNBlock``). The published code sizes the first dense
layer lazily from the first batch; here it is sized from ``seq_length`` at build time,
so the backbone has ``fixed_length = seq_length`` and another length is refused with a
ValueError naming both. The flatten is channel-major per position, as published
(``permute(0, 2, 1)`` then reshape: element (position p, channel c) → p · C + c).
"""

from __future__ import annotations

from torch import Tensor, nn

from exprflow.models.promoter.base import PromoterBackbone, check_onehot
from exprflow.models.promoter.config import PureCNNSpec
from exprflow.models.promoter.mtlucifer import conv_stack

__all__ = ["PureCNN", "flattened_length"]


def flattened_length(spec: PureCNNSpec, seq_length: int) -> int:
    """Positions left after ``spec``'s CNN stages on a ``seq_length``-bp input.

    Parameters
    ----------
    spec : PureCNNSpec
        The sizes.
    seq_length : int
        Input length in bp.

    Returns
    -------
    int
        Positions after the last max-pool (9 for PureCNN and 3 for PureCNNLarge at 250
        bp); ≤ 0 when the input is too short.
    """
    length = seq_length
    for channels, pool in spec.stages:
        length -= len(channels) * (spec.kernel - 1 - 2 * spec.padding)
        if length < pool:
            return 0
        length //= pool
    return length


class PureCNN(PromoterBackbone):
    """CNN stages → flatten → Linear → ReLU → Linear; one fixed input length.

    Parameters
    ----------
    spec : PureCNNSpec, optional
        Sizes. Default the published PureCNN.
    seq_length : int, optional
        The input length the flatten is sized for. Default 250.

    Raises
    ------
    ValueError
        When ``seq_length`` leaves no position after the last max-pool.
    """

    def __init__(self, spec: PureCNNSpec | None = None, seq_length: int = 250) -> None:
        spec = spec or PureCNNSpec()
        positions = flattened_length(spec, seq_length)
        if positions <= 0:
            raise ValueError(
                f"PureCNN cannot read {seq_length} bp sequences: nothing is left after its "
                f"max-pools; use seq_length ≥ 250 or another backbone"
            )
        super().__init__(spec.out_dim, "onehot", ("cnn.", "fc."), fixed_length=seq_length)
        self.spec = spec
        layers: list[nn.Module] = []
        in_channels = 4
        for channels, pool in spec.stages:
            layers += conv_stack(
                in_channels, channels, spec.kernel, spec.padding, spec.dropout, spec.norm
            )
            layers.append(nn.MaxPool1d(pool))
            in_channels = channels[-1]
        self.cnn = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Linear(positions * in_channels, spec.hidden),
            nn.ReLU(),
            nn.Linear(spec.hidden, spec.out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, seq_length, 4) one-hot → (B, out_dim)."""
        check_onehot(x, "PureCNN")
        if x.shape[1] != self.fixed_length:
            raise ValueError(
                f"PureCNN was built for {self.fixed_length} bp sequences (its flatten layer "
                f"is sized for them), got {x.shape[1]} bp; give {self.fixed_length}-bp "
                f"sequences or build the model with seq_length={x.shape[1]}"
            )
        features = self.cnn(x.permute(0, 2, 1)).permute(0, 2, 1)
        return self.fc(features.reshape(features.shape[0], -1))
