"""Promoter-driven expression models (Reddy et al. 2023, ``anikethjr/promoter_models`` v2).

Seven backbones (:data:`BACKBONES`) at their published sizes and a ``tiny`` size each,
one-hot (B, L, 4) or motif-count (B, n_motifs) input → (B, d) embedding; a
:class:`PromoterModel` adds one head per task. Modules:

* :mod:`~exprflow.models.promoter.config` — the sizes (spec dataclasses) and
  :class:`PromoterModelConfig` (JSON round trip);
* :mod:`~exprflow.models.promoter.base` — the backbone base class and input checks;
* :mod:`~exprflow.models.promoter.mtlucifer` — MTLucifer (CNN + CLS-token transformer);
* :mod:`~exprflow.models.promoter.legnet` — LegNet / LegNetLarge;
* :mod:`~exprflow.models.promoter.purecnn` — PureCNN / PureCNNLarge (fixed length);
* :mod:`~exprflow.models.promoter.motif_fcn` — MotifBasedFCN / MotifBasedFCNLarge;
* :mod:`~exprflow.models.promoter.motif_counts` — :class:`MotifScanner`, the motif counts
  the MotifBasedFCN backbones read;
* :mod:`~exprflow.models.promoter.model` — :func:`build_backbone`, heads,
  :class:`PromoterModel` and :meth:`~PromoterModel.freeze_for_probing`;
* :mod:`~exprflow.models.promoter.saved` — the saved-model folder.
"""

from __future__ import annotations

from exprflow.models.promoter.base import PromoterBackbone
from exprflow.models.promoter.config import (
    BACKBONES,
    HEAD_STYLES,
    NORMS,
    SIZES,
    PromoterModelConfig,
    backbone_spec,
)
from exprflow.models.promoter.model import (
    MLPHead,
    PromoterModel,
    build_backbone,
    build_head,
    build_promoter_model,
)
from exprflow.models.promoter.motif_counts import MotifScanner
from exprflow.models.promoter.saved import load_promoter_model, save_promoter_model

__all__ = [
    "BACKBONES",
    "HEAD_STYLES",
    "NORMS",
    "SIZES",
    "MLPHead",
    "MotifScanner",
    "PromoterBackbone",
    "PromoterModel",
    "PromoterModelConfig",
    "backbone_spec",
    "build_backbone",
    "build_head",
    "build_promoter_model",
    "load_promoter_model",
    "save_promoter_model",
]
