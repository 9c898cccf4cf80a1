"""Sizes of the promoter backbones and the saved model's config (JSON round trip).

Published sizes are those of ``anikethjr/promoter_models`` v2 (``backbone_modules.py``);
``small`` sizes (≈ 0.1-0.5M parameters) learn the demo world's promoters on a CPU;
``tiny`` sizes keep every architectural feature at ≤ ~100k parameters for the tests. One
spec dataclass per family:

- :class:`MTLuciferSpec` — CNN channels, transformer layers/heads/feed-forward, the norm
  of the CNN blocks (``"group"`` = ``MTLuciferGN``, GroupNorm(C, C), what the published
  ``train_models.py`` trains; ``"batch"`` = the BatchNorm ``MTLucifer``);
- :class:`PureCNNSpec` — CNN stages (channels, then a max-pool) and the two dense layers;
- :class:`LegNetSpec` — LegNet block widths, kernel, expansion, filters per group, SE;
- :class:`MotifFCNSpec` — the ReLU-MLP widths on motif counts.

:func:`backbone_spec` picks one by backbone name and size. :class:`PromoterModelConfig`
(``model_type = "promoter"``) is what a saved model folder stores beside its weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from exprflow.models.json_config import JsonConfig

__all__ = [
    "BACKBONES",
    "HEAD_STYLES",
    "NORMS",
    "SIZES",
    "BackboneSpec",
    "LegNetSpec",
    "MTLuciferSpec",
    "MotifFCNSpec",
    "PromoterModelConfig",
    "PureCNNSpec",
    "backbone_spec",
]

#: Backbone names, spelled as published.
BACKBONES = (
    "MTLucifer",
    "LegNet",
    "LegNetLarge",
    "PureCNN",
    "PureCNNLarge",
    "MotifBasedFCN",
    "MotifBasedFCNLarge",
)
#: Model sizes: the published one, a CPU-sized one (the demo world) and a test-sized one.
SIZES = ("published", "small", "tiny")
#: Head styles: v2 single-task MLP per output, or one Linear per task (multi-task).
HEAD_STYLES = ("mlp", "linear")
#: Norms of the Conv → ReLU → Norm → Dropout blocks (MTLucifer, PureCNN).
NORMS = ("group", "batch")
#: Backbones whose CNN blocks take a ``norm``.
_NORMED = ("MTLucifer", "PureCNN", "PureCNNLarge")
_TASK_NAME = re.compile(r"^[A-Za-z0-9_+\-]+$")


@dataclass(frozen=True)
class MTLuciferSpec:
    """MTLucifer: Conv blocks → CLS token + post-LN transformer → CLS vector.

    Parameters
    ----------
    channels : tuple of int
        Output channels of the Conv → ReLU → Norm → Dropout blocks; the last is the
        token width ``d``. Published (256, 512, 768).
    kernel, padding : int
        Convolution kernel and zero padding (5 and 1: each block shortens by 2 bp).
    layers, heads, ff : int
        Transformer encoder layers (5), attention heads (8) and feed-forward width (2048).
    dropout : float
        Dropout of the CNN blocks and the transformer layers (0.1).
    norm : str
        ``"group"`` (GroupNorm(C, C), ``MTLuciferGN``, default) or ``"batch"``.
    """

    channels: tuple[int, ...] = (256, 512, 768)
    kernel: int = 5
    padding: int = 1
    layers: int = 5
    heads: int = 8
    ff: int = 2048
    dropout: float = 0.1
    norm: str = "group"


@dataclass(frozen=True)
class PureCNNSpec:
    """PureCNN: stages of Conv blocks each ending in a max-pool → flatten → 2 dense layers.

    Parameters
    ----------
    stages : tuple of (tuple of int, int)
        Per stage the output channels of its Conv blocks and the max-pool size after them.
        Published ``(((512, 768), 5), ((768, 1024), 5))``.
    kernel, padding : int
        Convolution kernel and padding (5 and 1).
    hidden : int
        Width of the first dense layer (2048).
    out_dim : int
        Output width (1024).
    dropout : float
        Dropout of the Conv blocks (0.1).
    norm : str
        ``"batch"`` (published ``CNNBlock``, default) or ``"group"``.
    """

    stages: tuple[tuple[tuple[int, ...], int], ...] = (((512, 768), 5), ((768, 1024), 5))
    kernel: int = 5
    padding: int = 1
    hidden: int = 2048
    out_dim: int = 1024
    dropout: float = 0.1
    norm: str = "batch"


@dataclass(frozen=True)
class LegNetSpec:
    """LegNet: a stem conv, EfficientNet-like blocks with SE, global average pool.

    Parameters
    ----------
    blocks : tuple of int
        Block widths; the first is the stem, the last the output width. Published
        (256, 128, 128, 64, 64, 64, 64).
    kernel : int
        Kernel of the stem, grouped and resize convolutions ("same" padding). 7.
    expand : int
        Expansion of the inverted-residual middle layer (4).
    filters_per_group : int
        Channels per group of the grouped convolution (2).
    se_reduction : int
        Squeeze-excitation bottleneck = input width // se_reduction (4).
    """

    blocks: tuple[int, ...] = (256, 128, 128, 64, 64, 64, 64)
    kernel: int = 7
    expand: int = 4
    filters_per_group: int = 2
    se_reduction: int = 4


@dataclass(frozen=True)
class MotifFCNSpec:
    """MotifBasedFCN: a ReLU MLP on motif counts.

    Parameters
    ----------
    hidden : tuple of int
        Hidden widths (ReLU after each). Published (2048, 1024, 1024).
    out_dim : int
        Output width (512), no activation.
    """

    hidden: tuple[int, ...] = (2048, 1024, 1024)
    out_dim: int = 512


BackboneSpec = MTLuciferSpec | PureCNNSpec | LegNetSpec | MotifFCNSpec

_SPECS: dict[tuple[str, str], BackboneSpec] = {
    ("MTLucifer", "published"): MTLuciferSpec(),
    ("MTLucifer", "small"): MTLuciferSpec(channels=(64, 96, 128), layers=2, heads=4, ff=256),
    ("MTLucifer", "tiny"): MTLuciferSpec(channels=(8, 16, 32), layers=1, heads=2, ff=64),
    ("PureCNN", "published"): PureCNNSpec(),
    ("PureCNN", "small"): PureCNNSpec(
        stages=(((64, 96), 5), ((96, 128), 5)), hidden=256, out_dim=128
    ),
    ("PureCNN", "tiny"): PureCNNSpec(stages=(((8, 16), 5), ((16, 32), 5)), hidden=64, out_dim=32),
    ("PureCNNLarge", "published"): PureCNNSpec(
        stages=(((512, 768), 5), ((768, 1024), 3), ((1024, 1024), 3))
    ),
    ("PureCNNLarge", "small"): PureCNNSpec(
        stages=(((64, 96), 5), ((96, 128), 3), ((128, 128), 3)), hidden=256, out_dim=128
    ),
    ("PureCNNLarge", "tiny"): PureCNNSpec(
        stages=(((8, 16), 5), ((16, 32), 3), ((32, 32), 3)), hidden=64, out_dim=32
    ),
    ("LegNet", "published"): LegNetSpec(),
    ("LegNet", "small"): LegNetSpec(blocks=(64, 32, 32, 32, 32)),
    ("LegNet", "tiny"): LegNetSpec(blocks=(16, 8, 8, 8)),
    ("LegNetLarge", "published"): LegNetSpec(blocks=(1024, 512, 512, 256, 256, 256, 256)),
    ("LegNetLarge", "small"): LegNetSpec(blocks=(128, 64, 64, 32, 32, 32, 32)),
    ("LegNetLarge", "tiny"): LegNetSpec(blocks=(24, 12, 12, 12)),
    ("MotifBasedFCN", "published"): MotifFCNSpec(),
    ("MotifBasedFCN", "small"): MotifFCNSpec(hidden=(256, 128), out_dim=64),
    ("MotifBasedFCN", "tiny"): MotifFCNSpec(hidden=(64, 32), out_dim=16),
    ("MotifBasedFCNLarge", "published"): MotifFCNSpec(
        hidden=(2048, 4096, 4096, 2048, 1024), out_dim=1024
    ),
    ("MotifBasedFCNLarge", "small"): MotifFCNSpec(hidden=(256, 256, 128), out_dim=64),
    ("MotifBasedFCNLarge", "tiny"): MotifFCNSpec(hidden=(64, 64, 32), out_dim=16),
}


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def backbone_spec(name: str, size: str = "published", *, norm: str = "") -> BackboneSpec:
    """The spec of backbone ``name`` at ``size``.

    Parameters
    ----------
    name : str
        One of :data:`BACKBONES`.
    size : str, optional
        ``"published"`` (default), ``"small"`` or ``"tiny"``.
    norm : str, optional
        ``""`` (the backbone's default: GroupNorm for MTLucifer, BatchNorm for PureCNN),
        ``"group"`` or ``"batch"``; only MTLucifer and PureCNN(Large) take one.

    Returns
    -------
    BackboneSpec

    Raises
    ------
    ValueError
        An unknown name, size or norm, or a norm for a backbone without CNN blocks.
    """
    _check_choice("backbone", name, BACKBONES)
    _check_choice("size", size, SIZES)
    spec = _SPECS[(name, size)]
    if norm:
        _check_choice("norm", norm, NORMS)
        if name not in _NORMED:
            raise ValueError(f"norm applies to {list(_NORMED)} only, not {name!r}; leave it ''")
        assert isinstance(spec, MTLuciferSpec | PureCNNSpec)
        spec = replace(spec, norm=norm)
    return spec


def _check_heads(heads: Any) -> None:
    """ValueError unless ``heads`` maps task names to positive logit counts."""
    if not isinstance(heads, dict):
        raise ValueError(f"heads must be a dict of task name → logits, got {heads!r}")
    for task, n_logits in heads.items():
        if not isinstance(task, str) or not _TASK_NAME.match(task):
            raise ValueError(f"head name must be letters, digits, '_', '+' or '-', got {task!r}")
        if isinstance(n_logits, bool) or not isinstance(n_logits, int) or n_logits <= 0:
            raise ValueError(f"head {task!r} needs a positive number of logits, got {n_logits!r}")


@dataclass(frozen=True)
class PromoterModelConfig(JsonConfig):
    """Everything needed to rebuild a :class:`~exprflow.models.promoter.model.PromoterModel`.

    Parameters
    ----------
    backbone : str
        One of :data:`BACKBONES`.
    size : str, optional
        ``"published"`` (default), ``"small"`` or ``"tiny"``.
    seq_length : int, optional
        Promoter length in bp (250); PureCNN's flatten is sized for it.
    n_motifs : int, optional
        Motif-count inputs of the MotifBasedFCN backbones (> 0 there; 0 otherwise).
    heads : dict of str to int, optional
        Task name → logits of its head.
    head_style : str, optional
        ``"mlp"`` (v2 single-task head, default) or ``"linear"`` (multi-task).
    norm : str, optional
        CNN-block norm override (see :func:`backbone_spec`); ``""`` = the default.

    Raises
    ------
    ValueError
        On any field outside its domain.
    """

    model_type: ClassVar[str] = "promoter"

    backbone: str
    size: str = "published"
    seq_length: int = 250
    n_motifs: int = 0
    heads: dict[str, int] = field(default_factory=dict)
    head_style: str = "mlp"
    norm: str = ""

    def __post_init__(self) -> None:
        backbone_spec(self.backbone, self.size, norm=self.norm)
        _check_choice("head_style", self.head_style, HEAD_STYLES)
        for name in ("seq_length", "n_motifs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.seq_length == 0:
            raise ValueError("seq_length must be positive, got 0")
        if self.backbone.startswith("MotifBased") != (self.n_motifs > 0):
            raise ValueError(
                f"n_motifs must be > 0 exactly for the MotifBasedFCN backbones; "
                f"got n_motifs={self.n_motifs} for {self.backbone}"
            )
        _check_heads(self.heads)
        object.__setattr__(self, "heads", dict(self.heads))
