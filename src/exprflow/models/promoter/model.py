"""A promoter backbone with one head per task, and linear probing's freezing.

Tensor contract::

    x (B, L, 4) one-hot or (B, n_motifs) counts
      → backbone                               (B, d)
      → heads[task]                            (B, n_logits)

Heads (``head_style``):

- ``"mlp"`` — the v2 single-task head: per output its own
  Linear(d, d) → ReLU → Dropout 0.1 → Linear(d, 1), the outputs concatenated
  (:class:`MLPHead`);
- ``"linear"`` — the multi-task head: one Linear(d, n_logits) per task.

:meth:`PromoterModel.freeze_for_probing` is the published linear probing: every backbone
parameter under ``backbone.probe_frozen`` stops training (all of it, except MTLucifer's
CLS token) and the frozen BatchNorms stay in eval mode — their running statistics no
longer move — even when the model is put in train mode. Heads (and the CLS token) train.
Dropout inside the frozen part follows the model's mode, as in the published code.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from exprflow.models.promoter.base import PromoterBackbone
from exprflow.models.promoter.config import (
    BACKBONES,
    HEAD_STYLES,
    LegNetSpec,
    MotifFCNSpec,
    MTLuciferSpec,
    PromoterModelConfig,
    PureCNNSpec,
    backbone_spec,
)
from exprflow.models.promoter.legnet import LegNet
from exprflow.models.promoter.motif_fcn import MotifBasedFCN
from exprflow.models.promoter.mtlucifer import MTLucifer
from exprflow.models.promoter.purecnn import PureCNN

__all__ = [
    "MLPHead",
    "PromoterModel",
    "build_backbone",
    "build_head",
    "build_promoter_model",
]

_FROZEN_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def build_backbone(
    name: str,
    size: str = "published",
    *,
    seq_length: int = 250,
    n_motifs: int = 0,
    norm: str = "",
) -> PromoterBackbone:
    """Build backbone ``name`` at ``size``.

    Parameters
    ----------
    name : str
        One of :data:`~exprflow.models.promoter.config.BACKBONES`.
    size : str, optional
        ``"published"`` (default), ``"small"`` or ``"tiny"``.
    seq_length : int, optional
        Input length in bp; only PureCNN(Large) depends on it (its flatten). Default 250.
    n_motifs : int, optional
        Motif-count inputs; required (> 0) by the MotifBasedFCN backbones. Default 0.
    norm : str, optional
        CNN-block norm override for MTLucifer / PureCNN (``"group"`` or ``"batch"``);
        ``""`` (default) keeps GroupNorm for MTLucifer and BatchNorm for PureCNN.

    Returns
    -------
    PromoterBackbone

    Raises
    ------
    ValueError
        An unknown name/size/norm, ``n_motifs`` missing for a motif backbone, or a
        ``seq_length`` PureCNN cannot read.
    """
    spec = backbone_spec(name, size, norm=norm)
    if isinstance(spec, MTLuciferSpec):
        return MTLucifer(spec)
    if isinstance(spec, PureCNNSpec):
        return PureCNN(spec, seq_length)
    if isinstance(spec, LegNetSpec):
        return LegNet(spec)
    assert isinstance(spec, MotifFCNSpec), BACKBONES
    return MotifBasedFCN(n_motifs, spec)


class MLPHead(nn.Module):
    """v2 single-task head: per output Linear(d, d) → ReLU → Dropout → Linear(d, 1).

    Parameters
    ----------
    d : int
        Embedding width.
    n_outputs : int
        Outputs (one small MLP each).
    dropout : float, optional
        Default 0.1.
    """

    def __init__(self, d: int, n_outputs: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.outputs = nn.ModuleList(
            nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d, 1))
            for _ in range(n_outputs)
        )
        self.out_features = n_outputs

    def forward(self, h: Tensor) -> Tensor:
        """(B, d) → (B, n_outputs)."""
        return torch.cat([mlp(h) for mlp in self.outputs], dim=1)


def build_head(d: int, n_logits: int, style: str) -> nn.Module:
    """A head of ``style`` from a ``d``-wide embedding to ``n_logits``.

    Parameters
    ----------
    d : int
        Embedding width.
    n_logits : int
        Outputs.
    style : str
        ``"mlp"`` (:class:`MLPHead`) or ``"linear"`` (``nn.Linear``).

    Returns
    -------
    nn.Module
    """
    if style not in HEAD_STYLES:
        raise ValueError(f"head style must be one of {list(HEAD_STYLES)}, got {style!r}")
    if isinstance(n_logits, bool) or not isinstance(n_logits, int) or n_logits <= 0:
        raise ValueError(f"a head needs a positive number of logits, got {n_logits!r}")
    return MLPHead(d, n_logits) if style == "mlp" else nn.Linear(d, n_logits)


class PromoterModel(nn.Module):
    """Backbone + ``nn.ModuleDict`` of heads; ``forward(x, task) -> (B, n_logits)``.

    Parameters
    ----------
    backbone : PromoterBackbone
        The trunk.
    heads : mapping of str to int, optional
        Task name → logits. Default none (add them with :meth:`add_head`).
    head_style : str, optional
        Style of the heads built here: ``"mlp"`` (default) or ``"linear"``.
    """

    def __init__(
        self,
        backbone: PromoterBackbone,
        heads: Mapping[str, int] | None = None,
        head_style: str = "mlp",
    ) -> None:
        super().__init__()
        if head_style not in HEAD_STYLES:
            raise ValueError(f"head_style must be one of {list(HEAD_STYLES)}, got {head_style!r}")
        self.backbone = backbone
        self.head_style = head_style
        self.heads = nn.ModuleDict()
        self.probing = False
        for task, n_logits in (heads or {}).items():
            self.add_head(task, n_logits)

    @property
    def head_sizes(self) -> dict[str, int]:
        """Task name → logits of its head."""
        return {task: _head_width(head) for task, head in self.heads.items()}

    @property
    def head_styles(self) -> dict[str, str]:
        """Task name → ``"mlp"`` or ``"linear"``."""
        return {
            task: "mlp" if isinstance(head, MLPHead) else "linear"
            for task, head in self.heads.items()
        }

    def add_head(self, task: str, n_logits: int, style: str | None = None) -> None:
        """Add (or replace) the head of ``task``.

        Parameters
        ----------
        task : str
            Task name (no ``.``).
        n_logits : int
            Outputs of the head.
        style : str, optional
            ``"mlp"`` or ``"linear"``; default the model's ``head_style``.
        """
        if not isinstance(task, str) or not task or "." in task:
            raise ValueError(f"task must be a non-empty name without '.', got {task!r}")
        self.heads[task] = build_head(self.backbone.out_dim, n_logits, style or self.head_style)

    def forward(self, x: Tensor, task: str) -> Tensor:
        """Logits of ``task``'s head on ``x``: (B, …) → (B, n_logits)."""
        if task not in self.heads:
            raise KeyError(f"no head for task {task!r}; heads: {sorted(self.heads)}")
        return self.heads[task](self.backbone(x))

    def embed(self, x: Tensor) -> Tensor:
        """The backbone's embedding (B, d)."""
        return self.backbone(x)

    def freeze_for_probing(self) -> PromoterModel:
        """Freeze ``backbone.probe_frozen`` (linear probing); return ``self``.

        The frozen parameters get ``requires_grad = False``; norm layers inside the frozen
        part stay in eval mode from now on (see :meth:`train`).
        """
        for name, param in self.backbone.named_parameters():
            if self.backbone.is_probe_frozen(name):
                param.requires_grad_(False)
        self.probing = True
        return self.train(self.training)

    def frozen_norms(self) -> list[nn.Module]:
        """Norm layers inside the probing-frozen part of the backbone (empty if not probing)."""
        if not self.probing:
            return []
        return [
            module
            for name, module in self.backbone.named_modules()
            if isinstance(module, _FROZEN_NORMS) and self.backbone.is_probe_frozen(name + ".")
        ]

    def train(self, mode: bool = True) -> PromoterModel:
        """Set train/eval mode; frozen norms stay in eval while probing.

        Parameters
        ----------
        mode : bool, optional
            Train (True, default) or eval mode.

        Returns
        -------
        PromoterModel
            ``self``.
        """
        super().train(mode)
        for module in self.frozen_norms():
            module.eval()
        return self


def _head_width(head: nn.Module) -> int:
    """Logits of a head built by :func:`build_head`."""
    return int(head.out_features)  # type: ignore[arg-type]


def build_promoter_model(config: PromoterModelConfig) -> PromoterModel:
    """A freshly initialised :class:`PromoterModel` of ``config``.

    Parameters
    ----------
    config : PromoterModelConfig
        Backbone, size, lengths, heads and head style.

    Returns
    -------
    PromoterModel
    """
    backbone = build_backbone(
        config.backbone,
        config.size,
        seq_length=config.seq_length,
        n_motifs=config.n_motifs,
        norm=config.norm,
    )
    return PromoterModel(backbone, config.heads, config.head_style)
