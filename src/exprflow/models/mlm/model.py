"""The haplotype masked language model: lm-eqtl's DSS-ResNet with a per-gene embedding.

Architecture (``models/spec_dss.py : DSSResNetEmb`` of lm-eqtl; sizes from
:class:`~exprflow.models.mlm.config.MlmConfig`, all convolutions with "same" padding):

1. encoder ``Conv1d(n_tokens → d, encoder_kernel)``;
2. gene ("segment") ``Embedding(n_genes, d)`` added at every position;
3. ResNet, ``n_resblocks`` × [Conv k → BN → ReLU → Conv k → BN, + skip, ReLU];
4. backbone, ``n_layers`` × [bidirectional DSS → GELU → dropout → Linear d→2d + GLU,
   residual add, post-LayerNorm] (:class:`~exprflow.models.mlm.dss.BidirectionalDSS`);
5. decoder ``Conv1d(d → n_tokens, decoder_kernel)`` on the backbone output.

There is no positional encoding: position is only the SNP order.

Tensor contract
---------------
``forward(x, gene)``: ``x`` float ``(batch, n_tokens, L)`` one-hot in channel order R, A,
N (a masked position is all zeros), ``gene`` integer ``(batch,)`` in ``[0, n_genes)``; any
L ≥ 1. Returns :class:`MlmOutput` ``(logits (batch, n_tokens, L), embeddings (batch,
d_model, L))``; the embeddings are the backbone output. In eval mode each sequence's
output depends on that sequence alone (BatchNorm uses its running statistics).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from exprflow.models.mlm.config import MlmConfig
from exprflow.models.mlm.dss import BidirectionalDSS

__all__ = ["HaplotypeMLM", "MlmOutput", "build_mlm", "count_parameters"]


class MlmOutput(NamedTuple):
    """Output of :class:`HaplotypeMLM` (unpacks as ``logits, embeddings``).

    Attributes
    ----------
    logits : torch.Tensor
        ``(batch, n_tokens, L)`` unnormalised token scores.
    embeddings : torch.Tensor
        ``(batch, d_model, L)`` backbone output.
    """

    logits: torch.Tensor
    embeddings: torch.Tensor


class _ResBlock(nn.Module):
    """Conv → BN → ReLU → Conv → BN, plus the input, then ReLU; ``(B, d, L)`` in and out."""

    def __init__(self, d_model: int, kernel: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(d_model, d_model, kernel, padding="same")
        self.bn1 = nn.BatchNorm1d(d_model)
        self.conv2 = nn.Conv1d(d_model, d_model, kernel, padding="same")
        self.bn2 = nn.BatchNorm1d(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(x + y)


class _DSSBlock(nn.Module):
    """Bidirectional DSS layer, residual add, post-LayerNorm; ``(B, d, L)`` in and out."""

    def __init__(self, d_model: int, state_size: int, dropout: float) -> None:
        super().__init__()
        self.layer = BidirectionalDSS(d_model, state_size, dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.norm((x + self.layer(x)).transpose(1, 2)).transpose(1, 2)


class HaplotypeMLM(nn.Module):
    """The DSS-ResNet masked language model over haplotype token sequences.

    Parameters
    ----------
    config : MlmConfig
        Sizes; :data:`~exprflow.models.mlm.config.MLM_SIZES` has the named ones.

    Notes
    -----
    See the module docstring for the architecture and the tensor contract.
    """

    def __init__(self, config: MlmConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.encoder = nn.Conv1d(config.n_tokens, d, config.encoder_kernel, padding="same")
        self.gene_embedding = nn.Embedding(config.n_genes, d)
        self.resnet = nn.Sequential(
            *(_ResBlock(d, config.resnet_kernel) for _ in range(config.n_resblocks))
        )
        self.backbone = nn.Sequential(
            *(_DSSBlock(d, config.state_size, config.dropout) for _ in range(config.n_layers))
        )
        self.decoder = nn.Conv1d(d, config.n_tokens, config.decoder_kernel, padding="same")

    def forward(self, x: torch.Tensor, gene: torch.Tensor) -> MlmOutput:
        """Predict token logits and backbone embeddings.

        Parameters
        ----------
        x : torch.Tensor
            Float ``(batch, n_tokens, L)`` one-hot input, L ≥ 1.
        gene : torch.Tensor
            Integer ``(batch,)`` gene indices in ``[0, n_genes)``.

        Returns
        -------
        MlmOutput
            ``logits (batch, n_tokens, L)`` and ``embeddings (batch, d_model, L)``.

        Raises
        ------
        ValueError
            When a shape, dtype or gene index is wrong (naming the actual and expected).
        """
        self._check_inputs(x, gene)
        h = self.encoder(x) + self.gene_embedding(gene).unsqueeze(-1)
        embeddings = self.backbone(self.resnet(h))
        return MlmOutput(self.decoder(embeddings), embeddings)

    def _check_inputs(self, x: torch.Tensor, gene: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` and ``gene`` fit the tensor contract."""
        tokens = self.config.n_tokens
        if x.ndim != 3 or x.shape[1] != tokens or x.shape[2] < 1 or not x.is_floating_point():
            raise ValueError(
                f"x must be float (batch, {tokens}, length ≥ 1), got {x.dtype} {tuple(x.shape)}"
            )
        if gene.shape != (x.shape[0],) or gene.is_floating_point() or gene.is_complex():
            raise ValueError(
                f"gene must be an integer tensor of shape ({x.shape[0]},), "
                f"got {gene.dtype} {tuple(gene.shape)}"
            )
        if gene.numel() and (int(gene.min()) < 0 or int(gene.max()) >= self.config.n_genes):
            raise ValueError(
                f"gene indices must be in [0, {self.config.n_genes}), "
                f"got min {int(gene.min())}, max {int(gene.max())}"
            )


def build_mlm(config: MlmConfig) -> HaplotypeMLM:
    """Return a freshly initialised :class:`HaplotypeMLM` of ``config``'s sizes.

    Parameters
    ----------
    config : MlmConfig
        Sizes.

    Returns
    -------
    HaplotypeMLM
        In training mode, float32, on the current default device.
    """
    return HaplotypeMLM(config)


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameter values of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
