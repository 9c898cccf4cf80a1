"""Chromoformer: histone marks at a promoter and its interacting pCREs → expression.

Re-implemented from the facts of ``dohlee/chromoformer`` (``chromoformer/net.py``,
``chromoformer/data.py``); the state-dict keys and shapes are the published ones
(``embed.<r>…``, ``pairwise_interaction.<r>…``, ``regulation.<r>.transformer…``,
``fc_head.0/2``), so the published checkpoints load strictly
(:mod:`~exprflow.models.chromoformer.checkpoint`). Runs on any device: the position tables
are non-persistent buffers that follow ``.to(device)``.

Tensor contract (``B`` genes, ``M`` marks, ``S`` pCRE slots, ``n_r = window // r``)::

    batch["promoter_<r>"]  (B, n_r, M)     ln(mean depth + 1), flipped for '−' genes
    batch["pcre_<r>"]      (B, S, n_r, M)  each pCRE centred, left pad ceil((n_r − k) / 2)
    batch["pcre_length"]   (B, S) int      bp, 0 = empty slot (k = ceil(length / r) bins)
    batch["pcre_score"]    (B, S) float    normalised interaction frequency
        → (B, n_outputs)   2 class logits (classification) or 1 value (regression)

Per resolution ``r`` (independent modules):

1. ``embed.<r>``: ``lin_proj`` (M → D) + sinusoidal positions, self-attention over the
   promoter bins (every promoter bin is valid, so no mask); the centre bin ``n_r // 2`` is
   the promoter token.
2. ``pairwise_interaction.<r>``: per pCRE slot, the promoter bins (``lin_proj_p`` of step
   1's bins) query the pCRE bins (``lin_proj_pcre`` + positions); a pCRE's padded bins are
   blocked as keys (:func:`pcre_bins`); the centre bin of the updated promoter bins is
   that pCRE's token.
3. ``regulation.<r>``: gated self-attention over ``[promoter, pCRE₁ … pCRE_S]``; entry
   ``(i, j)`` is blocked unless both tokens exist (:func:`interaction_blocked`), the
   promoter's row is biased by the scores times a per-head ``gamma_f``
   (:func:`interaction_bias`).

Only the centre bin is computed where the published code computes every bin and keeps
the centre: in the pairwise blocks each promoter bin's stream reads only the (fixed) pCRE
bins, so bins never mix and the centre's stream is the same alone; in the embedding the
last layer's other outputs feed nothing but the pairwise streams that are dropped. The
result is the published one (to rounding) at ~1/n_r of the attention cost.

Head: concatenate, over resolutions, the regulation output at token 0 plus its input
(the promoter token of step 1) → ``fc_head`` (Linear 3D → d_head, ReLU, Linear → outputs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.modules import PairwiseTransformer, Transformer

__all__ = [
    "Chromoformer",
    "EmbeddingTransformer",
    "PairwiseInteraction",
    "RegulationTransformer",
    "interaction_bias",
    "interaction_blocked",
    "pcre_bins",
    "sinusoidal_encoding",
]


def sinusoidal_encoding(n_positions: int, dim: int) -> Tensor:
    """Sinusoidal position table of the published embedding: sines even, cosines odd.

    ``pe[p, 2i] = sin(p · k_i)`` and ``pe[p, 2i + 1] = cos(p · k_i)`` with
    ``k_i = exp(−ln(10000) · 2i / dim)``, computed in float32 as published.

    Parameters
    ----------
    n_positions : int
        Positions (bins).
    dim : int
        Channels; even.

    Returns
    -------
    Tensor
        ``(n_positions, dim)`` float32.
    """
    if dim % 2:
        raise ValueError(f"dim must be even (sine/cosine pairs), got {dim}")
    position = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    table = torch.zeros(n_positions, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def pcre_bins(lengths: Tensor, resolution: int, n_bins: int) -> Tensor:
    """Which bins of each centred pCRE frame hold signal (``True``) rather than padding.

    A pCRE of ``length`` bp fills ``k = ceil(length / resolution)`` bins starting at
    ``ceil((n_bins − k) / 2)``, as the published ``_bin_and_pad``; an empty slot
    (length 0) has none.

    Parameters
    ----------
    lengths : Tensor
        ``(B, S)`` integer pCRE lengths in bp, each in ``[0, n_bins · resolution]``.
    resolution : int
        Bin size in bp.
    n_bins : int
        Bins of the frame.

    Returns
    -------
    Tensor
        ``(B, S, n_bins)`` bool.
    """
    filled = (lengths.long() + resolution - 1) // resolution
    start = (n_bins - filled + 1) // 2
    position = torch.arange(n_bins, device=lengths.device)
    return (position >= start[..., None]) & (position < (start + filled)[..., None])


def interaction_blocked(present: Tensor) -> Tensor:
    """Regulation mask over ``[promoter, pCRE₁ … pCRE_S]``: ``True`` = blocked.

    Entry ``(i, j)`` is open when tokens ``i`` and ``j`` both exist (the promoter always
    does), as the published ``interaction_mask``.

    Parameters
    ----------
    present : Tensor
        ``(B, S)`` bool, which pCRE slots hold a pCRE.

    Returns
    -------
    Tensor
        ``(B, 1, S + 1, S + 1)`` bool.
    """
    promoter = torch.ones_like(present[:, :1])
    token = torch.cat([promoter, present], dim=1)
    return ~(token[:, :, None] & token[:, None, :])[:, None]


def interaction_bias(scores: Tensor, present: Tensor) -> Tensor:
    """Score bias of the regulation attention: row 0 (promoter) = the pCREs' scores.

    Parameters
    ----------
    scores : Tensor
        ``(B, S)`` interaction scores.
    present : Tensor
        ``(B, S)`` bool; empty slots get 0.

    Returns
    -------
    Tensor
        ``(B, S + 1, S + 1)``: ``[b, 0, j + 1] = scores[b, j]``, 0 elsewhere.
    """
    batch, slots = scores.shape
    bias = scores.new_zeros(batch, slots + 1, slots + 1)
    bias[:, 0, 1:] = torch.where(present, scores, torch.zeros_like(scores))
    return bias


class EmbeddingTransformer(nn.Module):
    """Promoter bins → the promoter token: the contextual embedding of the centre bin.

    Parameters
    ----------
    config : ChromoformerConfig
        Sizes.
    n_bins : int
        Bins at this resolution.
    """

    def __init__(self, config: ChromoformerConfig, n_bins: int) -> None:
        super().__init__()
        self.lin_proj = nn.Linear(config.n_feats, config.d_emb, bias=False)
        self.transformer = Transformer(
            config.embed_layers,
            config.d_emb,
            config.embed_heads,
            config.d_emb,
            config.embed_d_ff,
            dropout=config.dropout,
        )
        self.register_buffer(
            "position", sinusoidal_encoding(n_bins, config.d_emb), persistent=False
        )
        self.centre = slice(n_bins // 2, n_bins // 2 + 1)

    def forward(self, promoter: Tensor) -> Tensor:
        """``(B, n, M)`` → promoter token ``(B, D)`` (bin ``n // 2``)."""
        tokens = self.lin_proj(promoter) + self.position
        return self.transformer(tokens, last_queries=self.centre)[:, 0]


class PairwiseInteraction(nn.Module):
    """One token per pCRE slot: the promoter's centre bin attending to that pCRE's bins.

    Parameters
    ----------
    config : ChromoformerConfig
        Sizes.
    n_bins : int
        Bins at this resolution.
    """

    def __init__(self, config: ChromoformerConfig, n_bins: int) -> None:
        super().__init__()
        d_emb = config.d_emb
        self.ln = nn.LayerNorm(d_emb)  # unused in the published forward pass; kept for keys
        self.lin_proj_p = nn.Linear(d_emb, d_emb, bias=False)
        self.lin_proj_pcre = nn.Linear(config.n_feats, d_emb, bias=False)
        self.transformer = PairwiseTransformer(
            config.pairwise_layers,
            d_emb,
            config.pairwise_heads,
            d_emb,
            config.pairwise_d_ff,
            dropout=config.dropout,
        )
        self.register_buffer("position", sinusoidal_encoding(n_bins, d_emb), persistent=False)

    def forward(self, promoter: Tensor, pcre: Tensor, pcre_valid: Tensor) -> Tensor:
        """Attend from the promoter's centre bin to each pCRE.

        Parameters
        ----------
        promoter : Tensor
            ``(B, D)`` promoter token of :class:`EmbeddingTransformer` (its centre bin).
        pcre : Tensor
            ``(B, S, n, M)`` pCRE features.
        pcre_valid : Tensor
            ``(B, S, n)`` bool, ``True`` where a pCRE bin holds signal (:func:`pcre_bins`).

        Returns
        -------
        Tensor
            ``(B, S, D)``: the updated centre bin, one per slot.
        """
        batch, slots, n_bins, _ = pcre.shape
        query = self.lin_proj_p(promoter)[:, None, None].expand(-1, slots, -1, -1)
        out = self.transformer(
            query.reshape(batch * slots, 1, -1),
            pcre.reshape(batch * slots, n_bins, -1),
            self.lin_proj_pcre.weight,
            self.position,
            ~pcre_valid.reshape(batch * slots, 1, 1, n_bins),
        )
        return out.reshape(batch, slots, -1)


class RegulationTransformer(nn.Module):
    """Gated self-attention over ``[promoter, pCRE₁ … pCRE_S]`` tokens.

    Parameters
    ----------
    config : ChromoformerConfig
        Sizes.
    """

    def __init__(self, config: ChromoformerConfig) -> None:
        super().__init__()
        self.transformer = Transformer(
            config.regulation_layers,
            config.d_emb,
            config.regulation_heads,
            config.regulation_d_model,
            config.regulation_d_ff,
            gate=True,
            dropout=config.dropout,
        )

    def forward(self, tokens: Tensor, blocked: Tensor, bias: Tensor) -> Tensor:
        """``(B, S + 1, D)`` with mask ``(B, 1, S + 1, S + 1)`` and bias → ``(B, S + 1, D)``."""
        return self.transformer(tokens, blocked, bias)


class Chromoformer(nn.Module):
    """The Chromoformer classifier or regressor (see the module docstring).

    Parameters
    ----------
    config : ChromoformerConfig, optional
        Sizes. Default None: the published classifier on 7 marks.
    """

    def __init__(self, config: ChromoformerConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ChromoformerConfig()
        keys = [str(r) for r in config.resolutions]
        self.embed = nn.ModuleDict(
            {k: EmbeddingTransformer(config, config.n_bins(int(k))) for k in keys}
        )
        self.pairwise_interaction = nn.ModuleDict(
            {k: PairwiseInteraction(config, config.n_bins(int(k))) for k in keys}
        )
        self.regulation = nn.ModuleDict({k: RegulationTransformer(config) for k in keys})
        self.fc_head = nn.Sequential(
            nn.Linear(config.d_emb * len(keys), config.d_head),
            nn.ReLU(),
            nn.Linear(config.d_head, config.n_outputs),
        )

    @property
    def input_keys(self) -> tuple[str, ...]:
        """Batch keys the forward pass reads."""
        per_resolution = [
            f"{kind}_{r}" for r in self.config.resolutions for kind in ("promoter", "pcre")
        ]
        return (*per_resolution, "pcre_length", "pcre_score")

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Predict from a batch dict (other keys are ignored).

        Parameters
        ----------
        batch : mapping of str to Tensor
            ``promoter_<r>`` ``(B, n_r, M)``, ``pcre_<r>`` ``(B, S, n_r, M)`` for every
            resolution, ``pcre_length`` ``(B, S)`` (bp, 0 = empty) and ``pcre_score``
            ``(B, S)``, on the model's device.

        Returns
        -------
        Tensor
            ``(B, n_outputs)``: class logits or the regression value.

        Raises
        ------
        ValueError
            When a key is missing, a shape does not match the config, or a pCRE length
            is negative or longer than the window.
        """
        self._check_batch(batch)
        lengths = batch["pcre_length"]
        present = lengths > 0
        blocked = interaction_blocked(present)
        bias = interaction_bias(batch["pcre_score"], present)
        outputs, inputs = [], []
        for resolution in self.config.resolutions:
            key = str(resolution)
            promoter = self.embed[key](batch[f"promoter_{resolution}"])
            pcre = self.pairwise_interaction[key](
                promoter,
                batch[f"pcre_{resolution}"],
                pcre_bins(lengths, resolution, self.config.n_bins(resolution)),
            )
            tokens = torch.cat([promoter[:, None], pcre], dim=1)
            outputs.append(self.regulation[key](tokens, blocked, bias)[:, 0])
            inputs.append(promoter)
        return self.fc_head(torch.cat(outputs, dim=1) + torch.cat(inputs, dim=1))

    def _check_batch(self, batch: Mapping[str, Tensor]) -> None:
        """ValueError naming a missing key, a wrong shape or a bad pCRE length."""
        missing = [key for key in self.input_keys if key not in batch]
        if missing:
            raise ValueError(f"batch lacks {missing}; the Chromoformer reads {self.input_keys}")
        config = self.config
        size = batch["pcre_length"].shape[0]
        slots, marks = config.max_pcres, config.n_feats
        expected: dict[str, tuple[int, ...]] = {
            "pcre_length": (size, slots),
            "pcre_score": (size, slots),
        }
        for r in config.resolutions:
            expected[f"promoter_{r}"] = (size, config.n_bins(r), marks)
            expected[f"pcre_{r}"] = (size, slots, config.n_bins(r), marks)
        for key, shape in expected.items():
            if tuple(batch[key].shape) != shape:
                raise ValueError(
                    f"batch[{key!r}] has shape {tuple(batch[key].shape)}, expected {shape} "
                    f"(B, {slots} pCRE slots, window {config.window} bp, {marks} marks)"
                )
        lengths = batch["pcre_length"]
        if bool(((lengths < 0) | (lengths > config.window)).any()):
            raise ValueError(
                f"batch['pcre_length'] must lie in [0, {config.window}] bp, got values in "
                f"[{int(lengths.min())}, {int(lengths.max())}]"
            )
