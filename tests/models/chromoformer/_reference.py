"""Test helpers: synthetic batches and a literal, loop-based re-statement of the published
Chromoformer forward pass (dohlee/chromoformer data.py masks + net.py/modules.py maths:
every bin computed, masks True = blocked filled with -1e9, scores + gamma_f × bias), used
to check the batched model against it on the same weights."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from exprflow.models.chromoformer.config import ChromoformerConfig


def make_batch(
    config: ChromoformerConfig, n_pcres: list[int], seed: int = 0, lengths: list[int] | None = None
) -> dict[str, Tensor]:
    """Random features; gene b has n_pcres[b] pCREs (packed first), random lengths."""
    gen = torch.Generator().manual_seed(seed)
    size, slots = len(n_pcres), config.max_pcres
    batch: dict[str, Tensor] = {}
    for r in config.resolutions:
        n = config.n_bins(r)
        batch[f"promoter_{r}"] = torch.rand(size, n, config.n_feats, generator=gen) * 3
        batch[f"pcre_{r}"] = torch.rand(size, slots, n, config.n_feats, generator=gen) * 3
    length = torch.randint(1, config.window + 1, (size, slots), generator=gen)
    if lengths is not None:
        length[:, : len(lengths)] = torch.tensor(lengths)
    present = torch.arange(slots)[None] < torch.tensor(n_pcres)[:, None]
    batch["pcre_length"] = torch.where(present, length, 0)
    batch["pcre_score"] = torch.where(present, torch.rand(size, slots, generator=gen) + 1.5, 0.0)
    return batch


def _published_masks(config: ChromoformerConfig, lengths: Tensor, r: int) -> tuple[Tensor, Tensor]:
    """pCRE masks (B, S, n, n) and interaction masks (B, S+1, S+1), True = blocked, per gene."""
    n = config.n_bins(r)
    size, slots = lengths.shape
    pcre = torch.ones(size, slots, n, n, dtype=torch.bool)
    inter = torch.ones(size, slots + 1, slots + 1, dtype=torch.bool)
    for b in range(size):
        n_partners = int((lengths[b] > 0).sum())
        for i in range(n_partners):
            n_bins = math.ceil(int(lengths[b, i]) / r)
            left = math.ceil((n - n_bins) / 2)
            pcre[b, i, 0:n, left : left + n_bins] = False  # rows: the whole promoter
        inter[b, : n_partners + 1, : n_partners + 1] = False
    return pcre, inter


def _mha(p, pre, x, heads, mask=None, bias=None, gate=False):
    chunks = (x @ p[pre + "att.weight"].T).chunk(4 if gate else 3, dim=-1)
    n, length, width = chunks[0].shape
    q, k, v, *g = (c.view(n, length, heads, width // heads).transpose(1, 2) for c in chunks)
    score = q @ k.transpose(-1, -2) / (width // heads) ** 0.5
    if bias is not None:
        score = score + p[pre + "gamma_f"].view(1, -1, 1, 1) * bias[:, None]
    if mask is not None:
        score = score.masked_fill(mask, -1e9)
    out = F.softmax(score, dim=-1) @ v
    if gate:
        out = out * torch.sigmoid(g[0])
    out = out.transpose(1, 2).reshape(n, length, width)
    return _ln(p, pre, x + out @ p[pre + "ff.weight"].T + p[pre + "ff.bias"])


def _pw_mha(p, pre, x_p, x_c, heads, mask):
    q = x_p @ p[pre + "p_att.weight"].T
    k, v = (x_c @ p[pre + "c_att.weight"].T).chunk(2, dim=-1)
    n, length, width = q.shape
    q, k, v = (t.view(n, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
    score = (q @ k.transpose(-1, -2) / (width // heads) ** 0.5).masked_fill(mask, -1e9)
    out = (F.softmax(score, dim=-1) @ v).transpose(1, 2).reshape(n, length, width)
    return _ln(p, pre, x_p + out @ p[pre + "ff.weight"].T + p[pre + "ff.bias"])


def _ln(p, pre, x):
    return F.layer_norm(x, x.shape[-1:], p[pre + "ln.weight"], p[pre + "ln.bias"])


def _ffn(p, pre, x):
    hidden = F.relu(x @ p[pre + "l1.weight"].T + p[pre + "l1.bias"])
    return _ln(p, pre, x + hidden @ p[pre + "l2.weight"].T + p[pre + "l2.bias"])


def _pos_enc(n: int, dim: int) -> Tensor:
    pe = torch.zeros(n, dim)
    pos = torch.arange(0, n, 1).unsqueeze(1)
    k = torch.exp(-math.log(10000) * torch.arange(0, dim, 2) / dim)
    pe[:, 0::2] = torch.sin(pos * k)
    pe[:, 1::2] = torch.cos(pos * k)
    return pe


def reference_forward(
    state: dict[str, Tensor], config: ChromoformerConfig, batch: dict[str, Tensor]
) -> Tensor:
    """The published forward pass, every bin computed, on the weights in ``state``."""
    p, c = state, config
    lengths = batch["pcre_length"]
    size, slots = lengths.shape
    freq = torch.zeros(size, slots + 1, slots + 1)
    freq[:, 0, 1:] = batch["pcre_score"]
    x_in, x_out = [], []
    for r in c.resolutions:
        n = c.n_bins(r)
        pcre_mask, inter_mask = _published_masks(c, lengths, r)
        pre = f"embed.{r}."
        x = batch[f"promoter_{r}"] @ p[pre + "lin_proj.weight"].T + _pos_enc(n, c.d_emb)
        promoter_mask = torch.zeros(size, 1, n, n, dtype=torch.bool)  # every bin valid
        for i in range(c.embed_layers):
            lay = f"{pre}transformer.layers.{i}."
            x = _mha(p, lay + "self_att.", x, c.embed_heads, promoter_mask)
            x = _ffn(p, lay + "ff.", x)
        pre = f"pairwise_interaction.{r}."
        x_p = (x @ p[pre + "lin_proj_p.weight"].T)[:, None].expand(-1, slots, -1, -1)
        x_p = x_p.reshape(size * slots, n, c.d_emb)
        x_c = batch[f"pcre_{r}"] @ p[pre + "lin_proj_pcre.weight"].T
        x_c = x_c.reshape(size * slots, n, c.d_emb) + _pos_enc(n, c.d_emb)
        mask = pcre_mask.reshape(size * slots, 1, n, n)
        for i in range(c.pairwise_layers):
            lay = f"{pre}transformer.layers.{i}."
            x_p = _pw_mha(p, lay + "self_att.", x_p, x_c, c.pairwise_heads, mask)
            x_p = _ffn(p, lay + "ff.", x_p)
        tokens = torch.cat([x[:, n // 2][:, None], x_p[:, n // 2].reshape(size, slots, -1)], 1)
        x_in.append(tokens[:, 0])
        for i in range(c.regulation_layers):
            lay = f"regulation.{r}.transformer.layers.{i}."
            tokens = _mha(
                p, lay + "self_att.", tokens, c.regulation_heads, inter_mask[:, None], freq, True
            )
            tokens = _ffn(p, lay + "ff.", tokens)
        x_out.append(tokens[:, 0])
    x = torch.cat(x_out, 1) + torch.cat(x_in, 1)
    hidden = F.relu(x @ p["fc_head.0.weight"].T + p["fc_head.0.bias"])
    return hidden @ p["fc_head.2.weight"].T + p["fc_head.2.bias"]
