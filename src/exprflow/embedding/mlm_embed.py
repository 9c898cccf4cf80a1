"""Per-haplotype embeddings of the masked model: every SNP masked once, vectors mean-pooled.

The published extractor (``RollingMasker(stride=50)``) makes ``stride`` copies of a
haplotype, copy *i* masking SNPs *i*, *i + stride*, …, runs them through the model and
mean-pools the backbone vectors at the masked positions into one ``d``-vector; the
log-probability of the true allele at each (masked) SNP is kept too.
:func:`sequential_embeddings` does exactly that, one copy per forward pass as the
published loop did; :func:`rolling_embeddings` computes the same vectors with the copies
of many haplotypes packed into large batches. In eval mode the model is
batch-independent, so both give the same numbers (tested).

:func:`write_mlm_embeddings` stores them in HDF5 (never pickle)::

    samples                 (S,) UTF-8 sample ids
    genes/<gene_id>/embeddings   float32 (S, 2, d)   haplotype 0 = father, 1 = mother
    genes/<gene_id>/logprobs     float32 (S, 2, L)   true-allele log-probability per SNP
    attrs: stride, d_model, layout_version
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.mlm.model import HaplotypeMLM
from exprflow.training.mlm_masking import rolling_masks

__all__ = [
    "LAYOUT_VERSION",
    "HaplotypeEmbeddings",
    "read_mlm_embeddings",
    "rolling_embeddings",
    "sequential_embeddings",
    "write_mlm_embeddings",
]

#: Version of the HDF5 layout above.
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class HaplotypeEmbeddings:
    """Pooled vectors and per-SNP true-allele log-probabilities of ``H`` haplotypes.

    Attributes
    ----------
    vectors : numpy.ndarray
        float32 ``(H, d)``.
    logprobs : numpy.ndarray
        float32 ``(H, L)``.
    """

    vectors: np.ndarray
    logprobs: np.ndarray


def _masked_pass(
    model: HaplotypeMLM, tokens: torch.Tensor, gene: torch.Tensor, masks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass of masked copies: the summed vectors and true-allele log-probs.

    ``tokens`` (B, L) long, ``gene`` (B,), ``masks`` (B, L) bool. Returns the sum over
    masked positions of the backbone vectors ``(B, d)`` and the log-probabilities at the
    masked positions (0 elsewhere) ``(B, L)``.
    """
    x = torch.nn.functional.one_hot(tokens, 3).transpose(1, 2).float() * (~masks).unsqueeze(1)
    logits, emb = model(x, gene)
    weights = masks.unsqueeze(1).to(emb.dtype)
    summed = (emb * weights).sum(dim=2)
    logp = torch.log_softmax(logits.float(), dim=1).gather(1, tokens.unsqueeze(1)).squeeze(1)
    return summed.float(), logp * masks


def _copies(n_haplotypes: int, stride: int) -> Iterator[tuple[int, int]]:
    """Every (haplotype, copy) pair, haplotype-major."""
    for h in range(n_haplotypes):
        for c in range(stride):
            yield h, c


@torch.no_grad()
def rolling_embeddings(
    model: HaplotypeMLM,
    tokens: np.ndarray,
    gene: np.ndarray,
    *,
    stride: int = 50,
    batch_size: int = 256,
) -> HaplotypeEmbeddings:
    """Embeddings of ``H`` haplotypes of one length, the masked copies packed in batches.

    Parameters
    ----------
    model : HaplotypeMLM
        In eval mode, on the device to run on (CPU or GPU).
    tokens : numpy.ndarray
        uint8 ``(H, L)`` haplotype tokens (``RAN``).
    gene : numpy.ndarray
        int ``(H,)`` segment labels.
    stride : int, optional
        Masked copies per haplotype; copy *i* masks SNPs *i*, *i + stride*, …
        (published 50). Default 50.
    batch_size : int, optional
        Copies per forward pass. Default 256.

    Returns
    -------
    HaplotypeEmbeddings
    """
    n, length = _check(model, tokens, gene, stride, batch_size)
    device = next(model.parameters()).device
    masks = torch.from_numpy(rolling_masks(length, stride)).to(device)
    tok = torch.from_numpy(tokens.astype(np.int64)).to(device)
    genes = torch.from_numpy(np.asarray(gene, dtype=np.int64)).to(device)
    sums = torch.zeros(n, model.config.d_model, device=device)
    logprobs = torch.zeros(n, length, device=device)
    pairs = list(_copies(n, stride))
    for start in range(0, len(pairs), batch_size):
        hap, copy = (
            torch.tensor(v, device=device)
            for v in zip(*pairs[start : start + batch_size], strict=True)
        )
        summed, logp = _masked_pass(model, tok[hap], genes[hap], masks[copy])
        sums.index_add_(0, hap, summed)
        logprobs.index_add_(0, hap, logp)
    return HaplotypeEmbeddings((sums / length).cpu().numpy(), logprobs.cpu().numpy())


@torch.no_grad()
def sequential_embeddings(
    model: HaplotypeMLM, tokens: np.ndarray, gene: np.ndarray, *, stride: int = 50
) -> HaplotypeEmbeddings:
    """The published extractor: per haplotype, ``stride`` masked copies, one pass each.

    Same arguments and result as :func:`rolling_embeddings`; kept as the reference it
    is tested and benchmarked against.
    """
    n, length = _check(model, tokens, gene, stride, 1)
    device = next(model.parameters()).device
    masks = torch.from_numpy(rolling_masks(length, stride)).to(device)
    vectors = np.zeros((n, model.config.d_model), np.float32)
    logprobs = np.zeros((n, length), np.float32)
    for h in range(n):
        tok = torch.from_numpy(tokens[h : h + 1].astype(np.int64)).to(device)
        g = torch.tensor([int(gene[h])], device=device)
        for copy in range(stride):
            summed, logp = _masked_pass(model, tok, g, masks[copy : copy + 1])
            vectors[h] += summed[0].cpu().numpy()
            logprobs[h] += logp[0].cpu().numpy()
    return HaplotypeEmbeddings(vectors / length, logprobs)


def _check(
    model: HaplotypeMLM, tokens: np.ndarray, gene: np.ndarray, stride: int, batch_size: int
) -> tuple[int, int]:
    """Validate the shapes and settings; return (haplotypes, length)."""
    if model.training:
        raise ValueError("embeddings need the model in eval mode (call model.eval())")
    if tokens.ndim != 2 or len(gene) != len(tokens):
        raise ValueError(f"tokens must be (H, L) with one gene per row; got {tokens.shape}")
    if stride < 1 or batch_size < 1:
        raise ValueError(f"stride ({stride}) and batch_size ({batch_size}) must be ≥ 1")
    return tokens.shape[0], tokens.shape[1]


def write_mlm_embeddings(
    path: str | Path,
    samples: Sequence[str],
    per_gene: Mapping[str, HaplotypeEmbeddings],
    *,
    stride: int,
) -> Path:
    """Write every gene's embeddings of ``samples`` (2 haplotypes each) atomically.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    samples : sequence of str
        The ``S`` individuals, in row order of every gene's arrays.
    per_gene : mapping of str to HaplotypeEmbeddings
        Gene id → ``2S`` haplotypes ordered father, mother of sample 0, then sample 1, …
    stride : int
        The rolling mask's stride, recorded.

    Returns
    -------
    Path
    """
    path = Path(path)
    n = len(samples)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(
            "samples", data=np.array(samples, dtype=object), dtype=h5py.string_dtype()
        )
        d = 0
        for gene_id, emb in per_gene.items():
            if emb.vectors.shape[0] != 2 * n:
                raise ValueError(f"{gene_id}: {emb.vectors.shape[0]} haplotypes for {n} samples")
            group = h5.create_group(f"genes/{gene_id}")
            d = emb.vectors.shape[1]
            group["embeddings"] = emb.vectors.reshape(n, 2, d).astype(np.float32)
            group["logprobs"] = emb.logprobs.reshape(n, 2, -1).astype(np.float32)
        h5.attrs.update(stride=stride, d_model=d, layout_version=LAYOUT_VERSION)
    return path


def read_mlm_embeddings(path: str | Path) -> tuple[list[str], dict[str, HaplotypeEmbeddings]]:
    """Read :func:`write_mlm_embeddings`' file: samples, and per gene ``(S, 2, …)`` arrays."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("layout_version") != LAYOUT_VERSION:
                raise InputError(
                    path,
                    f"layout_version {h5.attrs.get('layout_version')!r}, "
                    f"expected {LAYOUT_VERSION}.",
                    fix="write it with exprflow.embedding.mlm_embed.write_mlm_embeddings.",
                )
            samples = [s.decode() if isinstance(s, bytes) else s for s in h5["samples"][:]]
            genes = {
                gene_id: HaplotypeEmbeddings(group["embeddings"][:], group["logprobs"][:])
                for gene_id, group in h5["genes"].items()
            }
    except OSError as exc:
        raise InputError(path, f"cannot be read as HDF5 ({exc}).") from exc
    return samples, genes
