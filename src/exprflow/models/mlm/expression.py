"""The fine-tuned expression model: the masked model's backbone and a per-gene readout.

:class:`ExpressionModel` reads the backbone vectors of one unmasked haplotype out with a
per-gene, SNP-weighted linear map (see the class), so one model serves every gene; an
individual's prediction is the sum over its two haplotypes
(:meth:`ExpressionModel.individual`). All layers but the top
``trainable_layers`` backbone blocks are frozen.

Saved as one folder (:func:`save_expression_model` / :func:`load_expression_model`)::

    expression.json  {"mlm": <MlmConfig JSON>, "trainable_layers": k, "max_snps": n,
                      "genes": [{"gene_id", "segment", "n_snps", "mean", "sd"}, ...],
                      "units": "<what mean/sd undo>"}
    weights.pt       the ExpressionModel's state dict (read with weights_only=True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.mlm.config import MlmConfig
from exprflow.models.mlm.model import HaplotypeMLM, build_mlm
from exprflow.models.probes.base import read_state_dict

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "EmbeddingReadout",
    "ExpressionModel",
    "SavedExpressionModel",
    "load_expression_model",
    "save_expression_model",
]

CONFIG_FILE = "expression.json"
WEIGHTS_FILE = "weights.pt"


class ExpressionModel(nn.Module):
    """Pretrained masked model + a per-gene, SNP-weighted linear readout.

    For gene *g* with SNP weights ``a_g`` ``(max_snps,)`` and channel weights ``u_g``
    ``(d,)``, one haplotype's contribution is ``Σ_j a_g[j] · (u_g · e_j) + b_g`` over its
    SNPs *j*, ``e_j`` the backbone vector at SNP *j*: a rank-1 (SNP × channel) linear map
    of the backbone output. ``a_g`` starts uniform (mean pooling); learning it lets the
    readout find the SNPs that matter, which mean pooling over thousands of SNPs dilutes.

    Parameters
    ----------
    mlm : HaplotypeMLM
        The pretrained model (used in place; pass a copy to keep the original).
    n_genes : int
        Number of segment labels (one readout each).
    trainable_layers : int
        Top backbone blocks left trainable; everything below is frozen.
    max_snps : int
        Most SNPs of a gene (the length of ``a_g``).
    """

    def __init__(
        self, mlm: HaplotypeMLM, n_genes: int, trainable_layers: int, max_snps: int
    ) -> None:
        super().__init__()
        self.mlm = mlm
        d = mlm.config.d_model
        self.weight = nn.Embedding(n_genes, d)
        self.snp_weight = nn.Embedding(n_genes, max_snps)
        self.bias = nn.Embedding(n_genes, 1)
        nn.init.normal_(self.weight.weight, std=d**-0.5)
        nn.init.constant_(self.snp_weight.weight, 1.0 / max_snps)
        nn.init.zeros_(self.bias.weight)
        self.trainable_layers, self.max_snps = trainable_layers, max_snps
        self._freeze()

    def _freeze(self) -> None:
        """Freeze the masked model but its top ``trainable_layers`` backbone blocks."""
        self.mlm.requires_grad_(False)
        blocks = list(self.mlm.backbone)
        if not 0 <= self.trainable_layers <= len(blocks):
            raise ValueError(f"trainable_layers {self.trainable_layers} not in 0..{len(blocks)}")
        for block in blocks[len(blocks) - self.trainable_layers :]:
            block.requires_grad_(True)

    def train(self, mode: bool = True) -> ExpressionModel:
        """Set the mode; the frozen layers stay in eval mode (BatchNorm keeps its statistics)."""
        super().train(mode)
        self.mlm.eval()
        for block in list(self.mlm.backbone)[len(self.mlm.backbone) - self.trainable_layers :]:
            block.train(mode)
        return self

    def forward(self, x: torch.Tensor, gene: torch.Tensor) -> torch.Tensor:
        """One haplotype's contribution ``(B,)`` from one-hot ``x`` (B, 3, L ≤ max_snps)."""
        if x.shape[-1] > self.max_snps:
            raise ValueError(f"{x.shape[-1]} SNPs; the readout takes at most {self.max_snps}")
        _, emb = self.mlm(x, gene)
        per_snp = torch.einsum("bdl,bd->bl", emb.float(), self.weight(gene))
        weights = self.snp_weight(gene)[:, : x.shape[-1]]
        return (per_snp * weights).sum(dim=1) + self.bias(gene)[:, 0]

    def individual(
        self, father: torch.Tensor, mother: torch.Tensor, gene: torch.Tensor
    ) -> torch.Tensor:
        """An individual's prediction: the sum of its two haplotypes' contributions."""
        both = self(torch.cat([father, mother]), torch.cat([gene, gene]))
        return both[: len(gene)] + both[len(gene) :]


class EmbeddingReadout(nn.Module):
    """A linear model on mean-pooled embeddings, as a differentiable per-haplotype model.

    For a regression fitted on the sum of an individual's two pooled haplotype vectors,
    ``y = w · (ē_father + ē_mother) + b``, one haplotype contributes ``w_g · ē`` (the
    intercept dropped: gradients do not see it). Lets the SNP attribution explain the
    embedding regressions through the frozen masked model.

    Parameters
    ----------
    mlm : HaplotypeMLM
        The masked model the embeddings came from (eval mode; not trained here).
    weights : torch.Tensor
        ``(n_genes, d)``: each gene's weights on the raw (unstandardised) pooled vector.
    """

    def __init__(self, mlm: HaplotypeMLM, weights: torch.Tensor) -> None:
        super().__init__()
        self.mlm = mlm.eval()
        self.weights: torch.Tensor
        self.register_buffer("weights", weights.float())

    def forward(self, x: torch.Tensor, gene: torch.Tensor) -> torch.Tensor:
        """One haplotype's contribution ``(B,)`` from one-hot ``x`` (B, 3, L)."""
        _, emb = self.mlm(x, gene)
        return (emb.float().mean(dim=2) * self.weights[gene]).sum(dim=1)


@dataclass(frozen=True)
class SavedExpressionModel:
    """A loaded expression model folder.

    Attributes
    ----------
    model : ExpressionModel
        In eval mode.
    genes : pd.DataFrame
        Indexed by ``gene_id``: ``segment``, ``n_snps``, ``mean``, ``sd``.
    units : str
        What ``prediction × sd + mean`` is in.
    """

    model: ExpressionModel
    genes: pd.DataFrame
    units: str


def save_expression_model(
    folder: str | PathLike[str], model: ExpressionModel, genes: pd.DataFrame, units: str
) -> Path:
    """Write ``expression.json`` and ``weights.pt`` into ``folder`` (atomic files).

    Parameters
    ----------
    folder : str or PathLike
        Created if missing.
    model : ExpressionModel
    genes : pd.DataFrame
        Indexed by ``gene_id`` with ``segment``, ``n_snps``, ``mean``, ``sd``.
    units : str
        What the de-standardised prediction is in.

    Returns
    -------
    Path
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = genes.reset_index().rename(columns={"index": "gene_id"})
    description = {
        "mlm": model.mlm.config.to_json(),
        "trainable_layers": model.trainable_layers,
        "max_snps": model.max_snps,
        "genes": json.loads(
            table[["gene_id", "segment", "n_snps", "mean", "sd"]].to_json(orient="records")
        ),
        "units": units,
    }
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        torch.save(model.state_dict(), tmp)
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(description, indent=1))
    return folder


def load_expression_model(folder: str | PathLike[str]) -> SavedExpressionModel:
    """Read a folder written by :func:`save_expression_model`; every weight is checked."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    fix = "write the folder with exprflow.models.mlm.expression.save_expression_model."
    try:
        description: dict[str, Any] = json.loads(path.read_text())
        config = MlmConfig.from_json(description["mlm"])
        genes = pd.DataFrame(description["genes"]).set_index("gene_id")
        trainable, units = int(description["trainable_layers"]), str(description["units"])
        max_snps = int(description["max_snps"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            path, f"is not an expression model description ({exc!r}).", fix=fix
        ) from exc
    model = ExpressionModel(build_mlm(config), config.n_genes, trainable, max_snps)
    weights = folder / WEIGHTS_FILE
    try:
        model.load_state_dict(read_state_dict(weights, fix), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(weights, f"does not fit {CONFIG_FILE} ({first}).", fix=fix) from None
    return SavedExpressionModel(model.eval(), genes, units)
