"""SNP attribution for haplotype expression models: gradients, allele flips, rankings.

The model is any callable ``haplotype_model(x, gene) -> (B,)`` taking the one-hot
haplotypes ``x`` (float32, shape ``(B, 3, L)``, channels R, A, N; a masked position is
all zeros) and the gene labels ``gene`` (int64, ``(B,)``), returning one expression
prediction per haplotype; an individual's prediction is the sum over its two
haplotypes, so per-haplotype effects add up to the individual's.

- :func:`gradient_x_input`: gradient times input, summed over channels, ``(B, L)``.
- :func:`allele_contrast_gradient`: ``grad · (e_A − e_R)`` per position, the first-order
  effect of turning REF into ALT there (the usual SNP attribution).
- :func:`allele_flip_effects`: in-silico mutagenesis, exactly ``f(A at j) − f(R at j)``
  per haplotype and position; one forward pass per changed copy, batched.
- :func:`rank_snps`: one gene's SNPs ranked by mean absolute effect, joined to its rows
  of ``meta.csv.gz`` (columns ``chrom, pos, id, …, GENE_ID, seq_idx``).

Every function puts an ``nn.Module`` model (or the module a bound method belongs to) in
eval mode and restores its mode afterwards; tensors go to ``device`` (default: the
model's parameters' device) batch by batch and results come back as numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

__all__ = [
    "HaplotypeModel",
    "allele_contrast_gradient",
    "allele_flip_effects",
    "gradient_x_input",
    "rank_snps",
]

#: ``(x (B, 3, L) float32, gene (B,) int64) -> (B,)`` per-haplotype prediction.
HaplotypeModel = Callable[[Tensor, Tensor], Tensor]

_R, _A = 0, 1
_RANK_COLUMNS = ("chrom", "pos", "id", "seq_idx")


def _module_of(model: HaplotypeModel) -> nn.Module | None:
    """The ``nn.Module`` behind ``model`` (itself, or the owner of a bound method)."""
    if isinstance(model, nn.Module):
        return model
    owner = getattr(model, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


@contextmanager
def _evaluating(model: HaplotypeModel, device: str | torch.device | None) -> Iterator[torch.device]:
    """Put the model in eval mode, yield the device to compute on, restore the mode."""
    module = _module_of(model)
    if device is None:
        parameter = next(module.parameters(), None) if module is not None else None
        device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        yield torch.device(device)
    finally:
        if module is not None:
            module.train(was_training)


def _check_inputs(x: Tensor, gene: Tensor) -> None:
    """Raise ``ValueError`` naming the argument when ``x`` or ``gene`` has a bad shape."""
    if x.ndim != 3 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (B, 3, L) (channels R, A, N); got {tuple(x.shape)}")
    if gene.shape != (x.shape[0],):
        raise ValueError(
            f"gene must have shape (B,) = ({x.shape[0]},) to match x; got {tuple(gene.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError("x holds no haplotypes (B = 0); give at least one")


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")


def _predict(model: HaplotypeModel, x: Tensor, gene: Tensor) -> Tensor:
    """Call the model and check it returns one value per haplotype."""
    out = model(x, gene)
    if out.shape != (x.shape[0],):
        raise ValueError(
            f"haplotype_model must return shape (B,) = ({x.shape[0]},); got {tuple(out.shape)}"
        )
    return out


def _input_gradients(
    model: HaplotypeModel,
    x: Tensor,
    gene: Tensor,
    batch_size: int,
    device: str | torch.device | None,
) -> Tensor:
    """``d f(x_b) / d x_b`` for every haplotype, float32 ``(B, 3, L)`` on the CPU."""
    _check_inputs(x, gene)
    _check_batch_size(batch_size)
    grads = []
    with _evaluating(model, device) as dev, torch.enable_grad():
        for lo in range(0, x.shape[0], batch_size):
            chunk = x[lo : lo + batch_size].to(dev, torch.float32).requires_grad_(True)
            out = _predict(model, chunk, gene[lo : lo + batch_size].to(dev))
            (grad,) = torch.autograd.grad(out.sum(), chunk)
            grads.append(grad.detach().cpu())
    return torch.cat(grads)


def gradient_x_input(
    model: HaplotypeModel,
    x: Tensor,
    gene: Tensor,
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Gradient × input attribution, summed over the three channels.

    Parameters
    ----------
    model : callable
        ``model(x, gene) -> (B,)`` per-haplotype prediction (see the module docstring).
    x : torch.Tensor
        float32, ``(B, 3, L)``: one-hot haplotypes, channels R, A, N.
    gene : torch.Tensor
        int64, ``(B,)``: gene labels.
    batch_size : int, optional
        Haplotypes per backward pass. Default 64.
    device : str or torch.device, optional
        Where to compute; default the model's parameters' device (CPU if it has none).

    Returns
    -------
    numpy.ndarray
        float32, ``(B, L)``: ``sum_c x[b, c, j] * df/dx[b, c, j]``, i.e. the gradient of
        the allele each haplotype carries at ``j`` (0 at masked positions).
    """
    grads = _input_gradients(model, x, gene, batch_size, device)
    return (grads * x.detach().cpu().float()).sum(dim=1).numpy()


def allele_contrast_gradient(
    model: HaplotypeModel,
    x: Tensor,
    gene: Tensor,
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """First-order effect of REF → ALT at every position: ``grad · (e_A − e_R)``.

    Parameters
    ----------
    model : callable
        ``model(x, gene) -> (B,)`` per-haplotype prediction.
    x : torch.Tensor
        float32, ``(B, 3, L)``: one-hot haplotypes, channels R, A, N.
    gene : torch.Tensor
        int64, ``(B,)``: gene labels.
    batch_size : int, optional
        Haplotypes per backward pass. Default 64.
    device : str or torch.device, optional
        Where to compute; default the model's parameters' device.

    Returns
    -------
    numpy.ndarray
        float32, ``(B, L)``: ``df/dx[b, A, j] − df/dx[b, R, j]``, the linear estimate of
        :func:`allele_flip_effects` (exact for a model linear in ``x``).
    """
    grads = _input_gradients(model, x, gene, batch_size, device)
    return (grads[:, _A] - grads[:, _R]).numpy()


def _carried_allele(x: Tensor) -> Tensor:
    """Per position, 0 (R) or 1 (A) where ``x`` is exactly that one-hot, else -1."""
    exact = (x == 0) | (x == 1)
    one_hot = exact.all(dim=1) & (x.sum(dim=1) == 1)
    carried = x.argmax(dim=1)
    return torch.where(one_hot & (carried <= _A), carried, torch.full_like(carried, -1))


def allele_flip_effects(
    model: HaplotypeModel,
    x: Tensor,
    gene: Tensor,
    positions: Sequence[int] | np.ndarray | None = None,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """In-silico mutagenesis: ``f(haplotype with A at j) − f(haplotype with R at j)``.

    The haplotype itself is one of the two copies wherever it carries R or A at ``j``,
    so only the other copy is run (both where it has N or a mask): about ``B · P + B``
    forward passes, in batches of changed copies.

    Parameters
    ----------
    model : callable
        ``model(x, gene) -> (B,)`` per-haplotype prediction.
    x : torch.Tensor
        float32, ``(B, 3, L)``: one-hot haplotypes, channels R, A, N.
    gene : torch.Tensor
        int64, ``(B,)``: gene labels.
    positions : sequence of int, optional
        The ``P`` positions to flip (0-based, in ``[0, L)``); default all ``L``.
    batch_size : int, optional
        Copies per forward pass. Default 256.
    device : str or torch.device, optional
        Where to compute; default the model's parameters' device.

    Returns
    -------
    numpy.ndarray
        float32, ``(B, P)``: the effect of ALT against REF at each position, per haplotype.
    """
    _check_inputs(x, gene)
    _check_batch_size(batch_size)
    length = x.shape[2]
    cols = np.arange(length) if positions is None else np.asarray(positions, dtype=np.int64)
    if cols.ndim != 1 or ((cols < 0) | (cols >= length)).any():
        raise ValueError(f"positions must be a 1-D list of indices in [0, {length}); got {cols}")
    x = x.detach().cpu().float()
    carried = _carried_allele(x)[:, cols]
    with _evaluating(model, device) as dev, torch.inference_mode():
        base = _batched_predict(model, x, gene, dev, batch_size)
        by_allele = []
        for allele in (_R, _A):
            values = base[:, None].repeat(1, len(cols))
            rows, which = torch.nonzero(carried != allele, as_tuple=True)
            values[rows, which] = _flipped_predict(
                model, x, gene, rows, torch.from_numpy(cols)[which], allele, dev, batch_size
            )
            by_allele.append(values)
    return (by_allele[_A] - by_allele[_R]).numpy()


def _batched_predict(
    model: HaplotypeModel, x: Tensor, gene: Tensor, device: torch.device, batch_size: int
) -> Tensor:
    """Predictions for every haplotype of ``x``, float32 ``(B,)`` on the CPU."""
    out = [
        _predict(model, x[lo : lo + batch_size].to(device), gene[lo : lo + batch_size].to(device))
        for lo in range(0, x.shape[0], batch_size)
    ]
    return torch.cat([o.float().cpu() for o in out])


def _flipped_predict(
    model: HaplotypeModel,
    x: Tensor,
    gene: Tensor,
    rows: Tensor,
    cols: Tensor,
    allele: int,
    device: torch.device,
    batch_size: int,
) -> Tensor:
    """Predictions for copies of ``x[rows]`` with ``allele`` set at ``cols``, ``(n,)``."""
    out = []
    for lo in range(0, len(rows), batch_size):
        row, col = rows[lo : lo + batch_size], cols[lo : lo + batch_size]
        copies = x[row].clone()
        index = torch.arange(len(row))
        copies[index, :, col] = 0.0
        copies[index, allele, col] = 1.0
        out.append(_predict(model, copies.to(device), gene[row].to(device)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def rank_snps(
    effects: np.ndarray, meta: pd.DataFrame, *, individuals: bool = False
) -> pd.DataFrame:
    """Rank one gene's SNPs by mean absolute effect over haplotypes (or individuals).

    Parameters
    ----------
    effects : numpy.ndarray
        ``(S, L)``: per-haplotype attributions of the gene's ``L`` SNPs (any of this
        module's functions); column ``j`` is the SNP with ``seq_idx == j``.
    meta : pandas.DataFrame
        The gene's rows of ``meta.csv.gz``: columns ``chrom, pos, id, seq_idx`` (and
        ``GENE_ID``), ``seq_idx`` covering ``0 … L-1`` once each.
    individuals : bool, optional
        When True, rows ``2i`` and ``2i+1`` are one individual's two haplotypes (the
        genotype collate's order) and are summed before taking absolute values.
        Default False.

    Returns
    -------
    pandas.DataFrame
        One row per SNP, best first: ``gene_id`` (if ``GENE_ID`` is in ``meta``),
        ``chrom, pos, id, seq_idx``, ``score`` (mean |effect|), ``mean_effect`` (signed
        mean), ``rank`` (1 = top; ties broken by ``seq_idx``).
    """
    effects = np.asarray(effects, dtype=np.float64)
    missing = [c for c in _RANK_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"meta lacks columns {missing}; expected {list(_RANK_COLUMNS)}")
    if effects.ndim != 2 or effects.shape[1] != len(meta):
        raise ValueError(
            f"effects must have shape (S, L) with L = {len(meta)} SNPs of meta; got {effects.shape}"
        )
    order = np.sort(meta["seq_idx"].to_numpy())
    if not np.array_equal(order, np.arange(len(meta))):
        raise ValueError("meta's seq_idx must cover 0 … L-1 exactly once (one gene's rows)")
    if individuals:
        if effects.shape[0] % 2:
            raise ValueError(f"individuals=True needs an even number of rows; got {len(effects)}")
        effects = effects[0::2] + effects[1::2]
    table = meta.sort_values("seq_idx").reset_index(drop=True)
    ranked = table.loc[:, list(_RANK_COLUMNS)].assign(
        score=np.abs(effects).mean(axis=0), mean_effect=effects.mean(axis=0)
    )
    if "GENE_ID" in table.columns:
        ranked.insert(0, "gene_id", table["GENE_ID"].astype(str))
    ranked = ranked.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    return ranked.assign(rank=np.arange(1, len(ranked) + 1))
