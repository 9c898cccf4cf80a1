"""MotifBasedFCN and MotifBasedFCNLarge: a ReLU MLP on per-sequence motif counts.

Tensor contract::

    x (B, n_motifs) float motif counts (exprflow.models.promoter.motif_counts)
      MotifBasedFCN       → Linear 2048 → ReLU → 1024 → ReLU → 1024 → ReLU → Linear 512
      MotifBasedFCNLarge  → 2048 → 4096 → 4096 → 2048 → 1024 (ReLU after each) → Linear 1024
                                                                   → (B, out_dim)

As published (``backbone_modules.py``): no dropout, no norm, no activation on the output.
Linear probing freezes everything.
"""

from __future__ import annotations

import itertools

from torch import Tensor, nn

from exprflow.models.promoter.base import PromoterBackbone, check_counts
from exprflow.models.promoter.config import MotifFCNSpec

__all__ = ["MotifBasedFCN"]


class MotifBasedFCN(PromoterBackbone):
    """ReLU MLP on motif counts → (B, out_dim).

    Parameters
    ----------
    n_motifs : int
        Motif-count inputs (> 0).
    spec : MotifFCNSpec, optional
        Widths. Default the published MotifBasedFCN.
    """

    def __init__(self, n_motifs: int, spec: MotifFCNSpec | None = None) -> None:
        if n_motifs <= 0:
            raise ValueError(f"MotifBasedFCN needs n_motifs > 0, got {n_motifs}")
        spec = spec or MotifFCNSpec()
        super().__init__(spec.out_dim, "motif_counts", ("mlp.",))
        self.spec = spec
        self.n_motifs = n_motifs
        widths = (n_motifs, *spec.hidden)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], spec.out_dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(B, n_motifs) counts → (B, out_dim)."""
        check_counts(x, self.n_motifs, "MotifBasedFCN")
        return self.mlp(x)
