"""Sizes of the Chromoformer (``dohlee/chromoformer``), with a JSON round trip.

:class:`ChromoformerConfig` defaults are the published model of
``chromoformer/configs/default.yaml`` (7 marks; embedding 1 layer × 2 heads, d_ff 128;
pairwise interaction 2 layers × 2 heads, d_ff 256; regulation 6 layers × 8 heads,
attention width 256, d_ff 256; token width 128; head 128) and the published classifier
(2 logits). :meth:`ChromoformerConfig.published` and :meth:`ChromoformerConfig.tiny` pick
the published and a test-sized model for a number of marks and a task. ``to_json`` writes
``{"model_type": "chromoformer", …}`` and ``from_json`` reads it back (see
:mod:`exprflow.models.json_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from exprflow.models.chromexpress import TASK_OUTPUTS
from exprflow.models.json_config import JsonConfig

__all__ = ["ChromoformerConfig"]

_FRACTIONS = ("dropout",)
_TUPLES = ("resolutions",)


def _outputs(task: str) -> int:
    """Head size for ``task``; ValueError naming the known tasks."""
    if task not in TASK_OUTPUTS:
        raise ValueError(f"task must be one of {sorted(TASK_OUTPUTS)}, got {task!r}")
    return TASK_OUTPUTS[task]


def _check_positive(name: str, value: object) -> None:
    """ValueError unless ``value`` is a positive int (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_divides(width_name: str, width: int, heads_name: str, heads: int) -> None:
    """ValueError unless ``heads`` divides ``width``."""
    if width % heads:
        raise ValueError(
            f"{heads_name} ({heads}) must divide {width_name} ({width}) into equal heads"
        )


@dataclass(frozen=True)
class ChromoformerConfig(JsonConfig):
    """Sizes of :class:`~exprflow.models.chromoformer.model.Chromoformer`.

    Defaults are the published classifier on 7 marks. Every transformer block keeps
    ``d_emb`` channels on its residual stream; the attention inside is ``n_heads`` heads
    of width ``d_model // n_heads`` where ``d_model`` is ``d_emb`` for the embedding and
    pairwise-interaction blocks and ``regulation_d_model`` for the regulation blocks (as
    in the published code, so the published ``regulation.d_model = 256`` sets the shape of
    ``att`` (1024, 128) and ``ff`` (128, 256)).

    Parameters
    ----------
    n_feats : int, optional
        Input channels (histone marks). Default 7.
    d_emb : int, optional
        Token width of every block; even (sinusoidal encoding). Default 128.
    embed_layers, embed_heads, embed_d_ff : int, optional
        Promoter embedding transformer: layers (1), heads (2), feed-forward width (128).
    pairwise_layers, pairwise_heads, pairwise_d_ff : int, optional
        Pairwise interaction (promoter × pCRE cross-attention): layers (2), heads (2),
        feed-forward width (256).
    regulation_layers, regulation_heads, regulation_d_model, regulation_d_ff : int, optional
        Gated regulation transformer over [promoter, pCRE₁…]: layers (6), heads (8),
        attention width (256), feed-forward width (256).
    d_head : int, optional
        Hidden width of the prediction head. Default 128.
    n_outputs : int, optional
        2 (classification logits, default) or 1 (regression value).
    resolutions : tuple of int, optional
        Bin sizes in bp, one independent branch each. Default (2000, 500, 100).
    window : int, optional
        Promoter window and largest pCRE in bp; each resolution divides it. Default 40000.
    max_pcres : int, optional
        pCRE slots per gene. Default 8.
    dropout : float, optional
        Dropout on attention probabilities and on every residual branch, in [0, 1).
        Default 0.0 (the published modules define dropout but never set it above 0).

    Raises
    ------
    ValueError
        On a non-positive size, an odd ``d_emb``, heads that do not divide their attention
        width, a resolution that does not divide ``window``, repeated resolutions or a
        dropout outside [0, 1).
    """

    model_type: ClassVar[str] = "chromoformer"

    n_feats: int = 7
    d_emb: int = 128
    embed_layers: int = 1
    embed_heads: int = 2
    embed_d_ff: int = 128
    pairwise_layers: int = 2
    pairwise_heads: int = 2
    pairwise_d_ff: int = 256
    regulation_layers: int = 6
    regulation_heads: int = 8
    regulation_d_model: int = 256
    regulation_d_ff: int = 256
    d_head: int = 128
    n_outputs: int = 2
    resolutions: tuple[int, ...] = (2000, 500, 100)
    window: int = 40_000
    max_pcres: int = 8
    dropout: float = 0.0

    def __post_init__(self) -> None:
        value = self.resolutions
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"resolutions must be a non-empty tuple of ints, got {value!r}")
        object.__setattr__(self, "resolutions", tuple(value))
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in _FRACTIONS:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{field.name} must be a number in [0, 1), got {value!r}")
                if not 0.0 <= value < 1.0:
                    raise ValueError(f"{field.name} must be in [0, 1), got {value!r}")
            elif field.name in _TUPLES:
                for item in value:
                    _check_positive(field.name, item)
            else:
                _check_positive(field.name, value)
        self._check_shapes()

    def _check_shapes(self) -> None:
        """Cross-field rules: even ``d_emb``, heads dividing widths, resolutions."""
        if self.d_emb % 2:
            raise ValueError(f"d_emb must be even (sine/cosine pairs), got {self.d_emb}")
        _check_divides("d_emb", self.d_emb, "embed_heads", self.embed_heads)
        _check_divides("d_emb", self.d_emb, "pairwise_heads", self.pairwise_heads)
        _check_divides(
            "regulation_d_model", self.regulation_d_model, "regulation_heads", self.regulation_heads
        )
        if len(set(self.resolutions)) != len(self.resolutions):
            raise ValueError(f"resolutions must be distinct, got {self.resolutions}")
        for resolution in self.resolutions:
            if self.window % resolution:
                raise ValueError(
                    f"resolution {resolution} bp does not divide the window {self.window} bp"
                )

    @property
    def task(self) -> str:
        """``"regression"`` (1 output) or ``"classification"`` (otherwise)."""
        return "regression" if self.n_outputs == 1 else "classification"

    def n_bins(self, resolution: int) -> int:
        """Bins of the window at ``resolution`` bp (20 / 80 / 400 for 2000 / 500 / 100).

        Parameters
        ----------
        resolution : int
            One of :attr:`resolutions`.

        Returns
        -------
        int
        """
        if resolution not in self.resolutions:
            raise ValueError(f"resolution {resolution} is not one of {self.resolutions}")
        return self.window // resolution

    @classmethod
    def published(cls, n_feats: int = 7, task: str = "classification") -> ChromoformerConfig:
        """The published sizes on ``n_feats`` marks for ``task``.

        Parameters
        ----------
        n_feats : int, optional
            Input marks. Default 7 (all published marks).
        task : str, optional
            ``"classification"`` (default, the published demo model) or ``"regression"``.

        Returns
        -------
        ChromoformerConfig
        """
        return cls(n_feats=n_feats, n_outputs=_outputs(task))

    @classmethod
    def tiny(cls, n_feats: int = 7, task: str = "classification") -> ChromoformerConfig:
        """Test-sized model: width 16, one layer per block, 2 heads, head 16.

        The resolutions, window and pCRE slots stay published, so the same batches feed
        both sizes.

        Parameters
        ----------
        n_feats : int, optional
            Input marks. Default 7.
        task : str, optional
            ``"classification"`` (default) or ``"regression"``.

        Returns
        -------
        ChromoformerConfig
        """
        return cls(
            n_feats=n_feats,
            d_emb=16,
            embed_layers=1,
            embed_heads=2,
            embed_d_ff=16,
            pairwise_layers=1,
            pairwise_heads=2,
            pairwise_d_ff=32,
            regulation_layers=1,
            regulation_heads=2,
            regulation_d_model=16,
            regulation_d_ff=32,
            d_head=16,
            n_outputs=_outputs(task),
        )
