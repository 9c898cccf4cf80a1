"""Fine-tuning the masked model to predict expression: frozen layers, a per-gene head.

:class:`~exprflow.models.mlm.expression.ExpressionModel` puts a regression head on the
pretrained :class:`~exprflow.models.mlm.model.HaplotypeMLM`: each gene has its own
SNP-weighted linear readout of the backbone vectors of one unmasked haplotype, so one
model serves every gene. An individual's
prediction is the sum over its two haplotypes (the combination the published students
used for embeddings). All layers but the last ``trainable_layers`` backbone blocks are
frozen. Targets are each gene's expression standardised over the training individuals;
the loss is the mean squared error.

:func:`finetune_cv` gives out-of-fold predictions for every individual (K folds over
samples, a fresh copy of the pretrained model per fold), so the fine-tuned model enters
the same comparison table as the embedding regressions; :func:`finetune` trains the model
that is saved and registered.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from exprflow.evaluation.mlm_regression import sample_folds
from exprflow.models.mlm.expression import ExpressionModel
from exprflow.models.mlm.model import HaplotypeMLM
from exprflow.training.mlm_masking import one_hot
from exprflow.training.probe_loop import resolve_precision

__all__ = [
    "FinetuneSettings",
    "GeneGenotypes",
    "finetune",
    "finetune_cv",
    "predict_individuals",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    """How the expression model is fine-tuned.

    Parameters
    ----------
    trainable_layers : int, optional
        Backbone blocks left trainable, counted from the top (0: only the head). Default 1.
    lr : float, optional
        Adam learning rate. Default 1e-2.
    weight_decay : float, optional
        Default 1e-4.
    batch_size : int, optional
        Individuals per batch (two haplotypes each). Default 16.
    epochs : int, optional
        Default 5.
    folds : int, optional
        Cross-validation folds of :func:`finetune_cv`. Default 5.
    precision : str, optional
        Lightning precision; ``"auto"``: mixed on a GPU, 32-true on the CPU.
    seed : int, optional
        Default 0.
    """

    trainable_layers: int = 1
    lr: float = 1e-2
    weight_decay: float = 1e-4
    batch_size: int = 16
    epochs: int = 5
    folds: int = 5
    precision: str = "auto"
    seed: int = 0


@dataclass(frozen=True)
class GeneGenotypes:
    """The haplotype tokens of one gene's individuals.

    Attributes
    ----------
    gene : int
        The gene's segment label in the masked model.
    samples : list of str
        The ``S`` individuals.
    tokens : numpy.ndarray
        uint8 ``(S, 2, L)``: father, mother haplotype tokens (``RAN``).
    """

    gene: int
    samples: list[str]
    tokens: np.ndarray


class _Individuals(Dataset[dict[str, torch.Tensor]]):
    """(gene, individual) items with standardised targets; batches hold one gene."""

    def __init__(self, genes: Sequence[GeneGenotypes], targets: Sequence[np.ndarray]) -> None:
        self.items = [(g, s) for g, gg in enumerate(genes) for s in range(len(gg.samples))]
        self.genes, self.targets = list(genes), list(targets)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g, s = self.items[index]
        tokens = self.genes[g].tokens[s]
        return {
            "father": torch.from_numpy(one_hot(tokens[0])),
            "mother": torch.from_numpy(one_hot(tokens[1])),
            "gene": torch.tensor(self.genes[g].gene),
            "y": torch.tensor(float(self.targets[g][s]), dtype=torch.float32),
        }


def _gene_batches(data: _Individuals, batch_size: int, seed: int) -> list[list[int]]:
    """Index batches of one gene each, shuffled (seeded)."""
    rng = np.random.default_rng(seed)
    by_gene: dict[int, list[int]] = {}
    for i, (g, _) in enumerate(data.items):
        by_gene.setdefault(g, []).append(i)
    batches = []
    for rows in by_gene.values():
        order = rng.permutation(rows).tolist()
        batches += [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class _FinetuneTask(L.LightningModule):
    def __init__(self, model: ExpressionModel, settings: FinetuneSettings) -> None:
        super().__init__()
        self.model, self.settings = model, settings

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred = self.model.individual(batch["father"], batch["mother"], batch["gene"])
        loss = F.mse_loss(pred.float(), batch["y"])
        self.log("finetune_loss", loss, on_step=False, on_epoch=True, batch_size=len(pred))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        s = self.settings
        return torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)


def _standardise(
    expression: pd.DataFrame, genes: Mapping[str, GeneGenotypes], samples: Sequence[str]
):
    """Per gene: mean and sd of expression over ``samples``."""
    values = expression.loc[list(genes), list(samples)].to_numpy(float)
    mean, sd = values.mean(axis=1), values.std(axis=1)
    return mean, np.where(sd > 0, sd, 1.0)


def finetune(
    mlm: HaplotypeMLM,
    genes: Mapping[str, GeneGenotypes],
    expression: pd.DataFrame,
    samples: Sequence[str],
    settings: FinetuneSettings,
) -> tuple[ExpressionModel, pd.DataFrame]:
    """Fine-tune a copy of ``mlm`` on ``samples``' expression of ``genes``.

    Parameters
    ----------
    mlm : HaplotypeMLM
        Pretrained; not modified.
    genes : mapping of str to GeneGenotypes
        Gene id → its individuals' haplotype tokens.
    expression : pd.DataFrame
        Gene id × sample id, already transformed (e.g. log2 RPKM, normalised).
    samples : sequence of str
        The training individuals (must be in every gene's ``samples``).
    settings : FinetuneSettings

    Returns
    -------
    model : ExpressionModel
        In eval mode on the CPU; predicts standardised expression.
    scale : pd.DataFrame
        Per gene ``mean`` and ``sd`` of the training targets (prediction × sd + mean
        gives the expression's units).
    """
    L.seed_everything(settings.seed, workers=True, verbose=False)
    mean, sd = _standardise(expression, genes, samples)
    chosen, targets = [], []
    for i, (gene_id, gg) in enumerate(genes.items()):
        rows = [gg.samples.index(s) for s in samples]
        chosen.append(GeneGenotypes(gg.gene, list(samples), gg.tokens[rows]))
        y = expression.loc[gene_id, list(samples)].to_numpy(float)
        targets.append((y - mean[i]) / sd[i])
    n_genes = mlm.config.n_genes
    max_snps = max(gg.tokens.shape[-1] for gg in genes.values())
    model = ExpressionModel(copy.deepcopy(mlm), n_genes, settings.trainable_layers, max_snps)
    data = _Individuals(chosen, targets)
    loader = DataLoader(data, batch_sampler=_gene_batches(data, settings.batch_size, settings.seed))
    trainer = L.Trainer(
        max_epochs=settings.epochs,
        accelerator="auto",
        devices=1,
        precision=resolve_precision(settings.precision),  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model.train()
    trainer.fit(_FinetuneTask(model, settings), loader)
    scale = pd.DataFrame({"mean": mean, "sd": sd}, index=list(genes))
    return model.cpu().eval(), scale


@torch.no_grad()
def predict_individuals(
    model: ExpressionModel, genes: Mapping[str, GeneGenotypes], batch_size: int = 64
) -> pd.DataFrame:
    """Standardised predictions of every individual, gene id × sample id."""
    out = {}
    for gene_id, gg in genes.items():
        values = []
        for start in range(0, len(gg.samples), batch_size):
            tokens = gg.tokens[start : start + batch_size]
            gene = torch.full((len(tokens),), gg.gene)
            father, mother = (torch.from_numpy(one_hot(tokens[:, h])) for h in (0, 1))
            values.append(model.individual(father, mother, gene).numpy())
        out[gene_id] = pd.Series(np.concatenate(values), index=gg.samples)
    return pd.DataFrame(out).T


def finetune_cv(
    mlm: HaplotypeMLM,
    genes: Mapping[str, GeneGenotypes],
    expression: pd.DataFrame,
    samples: Sequence[str],
    settings: FinetuneSettings,
) -> pd.DataFrame:
    """Out-of-fold fine-tuned predictions of every individual (K folds over samples).

    The folds are :func:`~exprflow.evaluation.mlm_regression.sample_folds` of ``samples``
    — the same as the embedding regressions of one gene with these samples and seed.

    Returns
    -------
    pd.DataFrame
        Gene id × sample id, in the expression's units (each fold's training mean/sd).
    """
    samples = list(samples)
    folds = sample_folds(len(samples), settings.folds, settings.seed)
    parts = []
    for k in range(settings.folds):
        fit_on = [s for s, f in zip(samples, folds, strict=True) if f != k]
        held = [s for s, f in zip(samples, folds, strict=True) if f == k]
        model, scale = finetune(mlm, genes, expression, fit_on, settings)
        subset = {
            g: GeneGenotypes(gg.gene, held, gg.tokens[[gg.samples.index(s) for s in held]])
            for g, gg in genes.items()
        }
        pred = predict_individuals(model, subset)
        parts.append(pred.mul(scale["sd"], axis=0).add(scale["mean"], axis=0))
        log.info("fine-tuning fold %d/%d done", k + 1, settings.folds)
    return pd.concat(parts, axis=1)[samples]
