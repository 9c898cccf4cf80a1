"""Transformer blocks of the Chromoformer: self-attention, promoter × pCRE attention, FFN.

Re-implemented from the facts of ``dohlee/chromoformer`` (``chromoformer/modules.py``,
``demo/modules.py``); the attribute names are the published ones so that a published
state dict loads strictly. Every block is post-LN (``LayerNorm(x + branch(x))``) with a
ReLU feed-forward network. Tensor contract (``N`` sequences, ``L`` queries, ``S`` keys,
``D`` the residual width, ``H`` heads of width ``W // H`` for an attention width ``W``)::

    SelfAttention        x (N, L, D), blocked (N, 1|H, L, L) bool, bias (N, L, L),
                         queries (a slice of L_q positions, default all)          → (N, L_q, D)
    PairwiseAttention    x_p (N, L, D) queries, kv (N, S, 2W) keys then values,
                         blocked (N, 1, L|1, S) bool                               → (N, L, D)
    FeedForward          x (N, L, D)                                              → (N, L, D)

Conventions kept from the published code:

- scores are ``q·k / sqrt(W // H)``; with a ``bias`` the published self-attention adds
  ``gamma_f[h] × bias`` per head (``w_bias`` is created but never used in the published
  forward pass; it is kept only so the state-dict keys match);
- a mask is ``True`` where attention is blocked; blocked scores are *replaced* by a large
  negative number (so a fully blocked row attends uniformly, as published, never NaN);
- the gated variant (regulation blocks) splits ``att`` into query, key, value and gate
  (in that order) and multiplies the attention output by ``sigmoid(gate)``;
- the pairwise attention takes queries from the promoter (``p_att``) and keys then values
  from the pCRE (``c_att``); its ``gamma_f`` is unused, as published. The pCRE tokens
  never change across layers, so ``c_att`` is folded with the token projection
  (:meth:`PairwiseAttention.keys_values`): same result, ~D/M fewer multiplications.

The attention itself runs through :func:`torch.nn.functional.scaled_dot_product_attention`
(batched over sequences and heads, fused kernels on CPU and CUDA).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "AttentionBlock",
    "FeedForward",
    "PairwiseAttention",
    "PairwiseBlock",
    "PairwiseTransformer",
    "SelfAttention",
    "Transformer",
    "attention_bias",
]


def attention_bias(
    blocked: Tensor | None, scores_bias: Tensor | None, dtype: torch.dtype
) -> Tensor | None:
    """Additive attention bias: ``scores_bias`` with blocked entries replaced.

    Blocked entries get half the dtype's most negative value: after ``softmax`` they
    weigh exactly 0 next to any open entry, and a fully blocked row stays finite
    (uniform), as with the published ``masked_fill(mask, -1e9)``.

    Parameters
    ----------
    blocked : Tensor or None
        Bool, ``True`` = blocked, broadcastable to the scores ``(N, H, L, S)``.
    scores_bias : Tensor or None
        Float, added to the scaled scores, broadcastable to ``(N, H, L, S)``.
    dtype : torch.dtype
        The dtype of the queries.

    Returns
    -------
    Tensor or None
        None when both inputs are None.
    """
    if blocked is None:
        return None if scores_bias is None else scores_bias.to(dtype)
    if scores_bias is None:
        scores_bias = torch.zeros(blocked.shape, dtype=dtype, device=blocked.device)
    return scores_bias.to(dtype).masked_fill(blocked, torch.finfo(dtype).min / 2)


def _split_heads(x: Tensor, n_heads: int) -> Tensor:
    """``(N, L, H·d) → (N, H, L, d)``."""
    n, length, width = x.shape
    return x.view(n, length, n_heads, width // n_heads).transpose(1, 2)


def _merge_heads(x: Tensor) -> Tensor:
    """``(N, H, L, d) → (N, L, H·d)``."""
    n, n_heads, length, width = x.shape
    return x.transpose(1, 2).reshape(n, length, n_heads * width)


class FeedForward(nn.Module):
    """Post-LN ReLU feed-forward block: ``ln(x + l2(relu(l1(x))))``.

    Parameters
    ----------
    d_emb : int
        Residual width.
    d_ff : int
        Hidden width.
    dropout : float, optional
        Dropout on the branch before the residual sum. Default 0.0.
    """

    def __init__(self, d_emb: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.l1 = nn.Linear(d_emb, d_ff)
        self.l2 = nn.Linear(d_ff, d_emb)
        self.ln = nn.LayerNorm(d_emb)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, L, D) → (N, L, D)``."""
        return self.ln(x + self.drop(self.l2(F.relu(self.l1(x)))))


class SelfAttention(nn.Module):
    """Multi-head self-attention with an optional per-head score bias and output gate.

    Parameters
    ----------
    d_emb : int
        Residual width D.
    n_heads : int
        Heads H.
    d_model : int
        Attention width W (H heads of W // H channels).
    gate : bool, optional
        Gate the attention output with ``sigmoid`` of a fourth projection. Default False.
    dropout : float, optional
        Dropout on attention probabilities and on the branch. Default 0.0.
    """

    def __init__(
        self, d_emb: int, n_heads: int, d_model: int, *, gate: bool = False, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.n_heads, self.gate, self.dropout = n_heads, gate, dropout
        self.gamma_f = nn.Parameter(torch.ones(n_heads))
        self.w_bias = nn.Linear(2, n_heads, bias=False)  # unused, as published
        self.att = nn.Linear(d_emb, (4 if gate else 3) * d_model, bias=False)
        self.ff = nn.Linear(d_model, d_emb)
        self.ln = nn.LayerNorm(d_emb)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        blocked: Tensor | None = None,
        bias: Tensor | None = None,
        queries: slice | None = None,
    ) -> Tensor:
        """Attend within ``x``.

        Parameters
        ----------
        x : Tensor
            ``(N, L, D)``.
        blocked : Tensor, optional
            Bool ``(N, 1 or H, L, L)``, ``True`` = blocked. Default None: all open.
        bias : Tensor, optional
            ``(N, L, L)`` score bias, scaled per head by ``gamma_f``. Default None.
        queries : slice, optional
            Compute only these query positions (``L_q`` of them); keys and values still
            span all ``L``. Default None: all.

        Returns
        -------
        Tensor
            ``(N, L_q, D)``.
        """
        rows = queries or slice(None)
        chunks = self.att(x).chunk(4 if self.gate else 3, dim=-1)
        q, k, v = (_split_heads(c, self.n_heads) for c in chunks[:3])
        scores_bias = None
        if bias is not None:
            scores_bias = self.gamma_f.view(1, -1, 1, 1) * bias[:, None, rows]
        if blocked is not None and blocked.shape[-2] != 1:
            blocked = blocked[..., rows, :]
        out = F.scaled_dot_product_attention(
            q[:, :, rows],
            k,
            v,
            attn_mask=attention_bias(blocked, scores_bias, q.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        out = _merge_heads(out)
        if self.gate:
            out = out * torch.sigmoid(chunks[3][:, rows])
        return self.ln(x[:, rows] + self.drop(self.ff(out)))


class AttentionBlock(nn.Module):
    """Self-attention then feed-forward (``self_att``, ``ff``).

    Arguments as :class:`SelfAttention` plus ``d_ff``, the feed-forward hidden width.
    """

    def __init__(
        self,
        d_emb: int,
        n_heads: int,
        d_model: int,
        d_ff: int,
        *,
        gate: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.self_att = SelfAttention(d_emb, n_heads, d_model, gate=gate, dropout=dropout)
        self.ff = FeedForward(d_emb, d_ff, dropout)

    def forward(
        self,
        x: Tensor,
        blocked: Tensor | None = None,
        bias: Tensor | None = None,
        queries: slice | None = None,
    ) -> Tensor:
        """``(N, L, D) → (N, L_q, D)``; see :meth:`SelfAttention.forward`."""
        return self.ff(self.self_att(x, blocked, bias, queries))


class Transformer(nn.Module):
    """A stack of ``n_layers`` :class:`AttentionBlock` (``layers.i``), one mask and bias.

    Other arguments as :class:`AttentionBlock`.
    """

    def __init__(
        self,
        n_layers: int,
        d_emb: int,
        n_heads: int,
        d_model: int,
        d_ff: int,
        *,
        gate: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            AttentionBlock(d_emb, n_heads, d_model, d_ff, gate=gate, dropout=dropout)
            for _ in range(n_layers)
        )

    def forward(
        self,
        x: Tensor,
        blocked: Tensor | None = None,
        bias: Tensor | None = None,
        last_queries: slice | None = None,
    ) -> Tensor:
        """``(N, L, D) → (N, L_q, D)``; see :meth:`SelfAttention.forward`.

        ``last_queries`` restricts the last layer's outputs (earlier layers compute every
        position, as the later layers' keys and values need them).
        """
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            x = layer(x, blocked, bias, last_queries if index == last else None)
        return x


class PairwiseAttention(nn.Module):
    """Cross-attention: promoter bins query the bins of one pCRE.

    Parameters
    ----------
    d_emb : int
        Residual width D (promoter and pCRE tokens).
    n_heads : int
        Heads H.
    d_model : int
        Attention width W.
    dropout : float, optional
        Dropout on attention probabilities and on the branch. Default 0.0.
    """

    def __init__(self, d_emb: int, n_heads: int, d_model: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.gamma_f = nn.Parameter(torch.ones(n_heads))  # unused, as published
        self.p_att = nn.Linear(d_emb, d_model, bias=False)
        self.c_att = nn.Linear(d_emb, 2 * d_model, bias=False)
        self.ff = nn.Linear(d_model, d_emb)
        self.ln = nn.LayerNorm(d_emb)
        self.drop = nn.Dropout(dropout)

    def keys_values(self, features: Tensor, projection: Tensor, position: Tensor) -> Tensor:
        """``c_att`` of the pCRE tokens ``features @ projectionᵀ + position``, folded.

        Both maps are linear without bias, so this is computed as
        ``features @ (c_att · projection)ᵀ + c_att(position)``: each bin is projected from
        its M marks directly instead of through the D token channels.

        Parameters
        ----------
        features : Tensor
            ``(N, S, M)`` pCRE bins.
        projection : Tensor
            ``(D, M)`` the token projection (``lin_proj_pcre.weight``).
        position : Tensor
            ``(S, D)`` position table added to the tokens.

        Returns
        -------
        Tensor
            ``(N, S, 2W)``: keys then values.
        """
        weight = self.c_att.weight
        return F.linear(features, weight @ projection).add_(F.linear(position, weight))

    def forward(self, x_p: Tensor, kv: Tensor, blocked: Tensor | None = None) -> Tensor:
        """Update the promoter tokens from the pCRE keys and values.

        Parameters
        ----------
        x_p : Tensor
            ``(N, L, D)`` promoter tokens (queries, residual stream).
        kv : Tensor
            ``(N, S, 2W)`` keys then values: ``c_att`` of the pCRE tokens
            (:meth:`keys_values`).
        blocked : Tensor, optional
            Bool ``(N, 1, L or 1, S)``, ``True`` = blocked. Default None: all open.

        Returns
        -------
        Tensor
            ``(N, L, D)``.
        """
        q = _split_heads(self.p_att(x_p), self.n_heads)
        k, v = (_split_heads(c, self.n_heads) for c in kv.chunk(2, dim=-1))
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attention_bias(blocked, None, q.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.ln(x_p + self.drop(self.ff(_merge_heads(out))))


class PairwiseBlock(nn.Module):
    """Pairwise attention then feed-forward (``self_att``, ``ff``).

    Arguments as :class:`PairwiseAttention` plus ``d_ff``, the feed-forward hidden width.
    """

    def __init__(
        self, d_emb: int, n_heads: int, d_model: int, d_ff: int, *, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.self_att = PairwiseAttention(d_emb, n_heads, d_model, dropout=dropout)
        self.ff = FeedForward(d_emb, d_ff, dropout)

    def forward(
        self,
        x_p: Tensor,
        features: Tensor,
        projection: Tensor,
        position: Tensor,
        blocked: Tensor | None = None,
    ) -> Tensor:
        """``(N, L, D) → (N, L, D)``; see :meth:`PairwiseAttention.keys_values`."""
        kv = self.self_att.keys_values(features, projection, position)
        return self.ff(self.self_att(x_p, kv, blocked))


class PairwiseTransformer(nn.Module):
    """A stack of ``n_layers`` :class:`PairwiseBlock` (``layers.i``); pCRE tokens fixed.

    Other arguments as :class:`PairwiseBlock`.
    """

    def __init__(
        self,
        n_layers: int,
        d_emb: int,
        n_heads: int,
        d_model: int,
        d_ff: int,
        *,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            PairwiseBlock(d_emb, n_heads, d_model, d_ff, dropout=dropout) for _ in range(n_layers)
        )

    def forward(
        self,
        x_p: Tensor,
        features: Tensor,
        projection: Tensor,
        position: Tensor,
        blocked: Tensor | None = None,
    ) -> Tensor:
        """``(N, L, D) → (N, L, D)`` from pCRE tokens ``features @ projectionᵀ + position``.

        See :meth:`PairwiseAttention.keys_values` for the arguments.
        """
        for layer in self.layers:
            x_p = layer(x_p, features, projection, position, blocked)
        return x_p
