"""Pretraining of the haplotype masked language model, on Lightning.

:class:`MlmTask` trains a :class:`~exprflow.models.mlm.model.HaplotypeMLM` as published:
each item is one randomly chosen haplotype of one individual at one gene, 20 % of its
SNPs are targets (80 % masked / 10 % random / 10 % kept, the ends protected:
:mod:`exprflow.training.mlm_masking`), and the loss is the cross-entropy over the targets
only; Adam, no scheduler. Validation (every epoch) reports the masked accuracy and IQS of
:mod:`exprflow.evaluation.mlm_metrics` on individuals held out by
:func:`validation_samples` (``samples[fold::folds]`` over the unique sample ids, as
published). The best epoch (lowest validation loss) is kept; every epoch's figures go to
the active MLflow run with ``step`` = epoch.

Batches hold sequences of one SNP count (every gene's when all have ``max_snps``), drawn by
:class:`~exprflow.data.mlm_haplotypes.LengthBatchSampler`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import mlflow
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch.nn import functional as F
from torch.utils.data import DataLoader

from exprflow.data.mlm_haplotypes import HaplotypeDataset, LengthBatchSampler, collate_haplotypes
from exprflow.evaluation.mlm_metrics import MaskedMetrics
from exprflow.models.mlm.config import MlmConfig
from exprflow.models.mlm.model import HaplotypeMLM, build_mlm
from exprflow.training.mlm_masking import MaskSettings
from exprflow.training.probe_loop import resolve_precision

__all__ = [
    "MONITOR",
    "MlmTask",
    "PretrainFit",
    "PretrainSettings",
    "pretrain_mlm",
    "validation_samples",
]

log = logging.getLogger(__name__)

#: Metric that early stopping and checkpoints follow (minimised).
MONITOR = "valid_loss"


@dataclass(frozen=True)
class PretrainSettings:
    """How the masked model is pretrained.

    Parameters
    ----------
    lr : float, optional
        Adam learning rate (published 1e-3). Default 1e-3.
    weight_decay : float, optional
        Adam weight decay (published 0). Default 0.
    batch_size : int, optional
        Haplotypes per batch (published 32). Default 32.
    max_epochs, patience : int, optional
        Epoch budget and early-stopping patience on the validation loss. Defaults 10, 3.
    mask : MaskSettings, optional
        Masking of the training haplotypes. Default published (20 %, split, frame 30).
    precision : str, optional
        Lightning precision; ``"auto"``: mixed on a GPU, 32-true on the CPU.
    seed : int, optional
        Seed of weights, haplotype choice, masks and batch order. Default 0.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 10
    patience: int = 3
    mask: MaskSettings = field(default_factory=MaskSettings)
    precision: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.batch_size, self.max_epochs, self.patience) < 1 or self.lr <= 0:
            raise ValueError("batch_size, max_epochs and patience must be ≥ 1 and lr > 0")


def validation_samples(samples: Sequence[str], folds: int, fold: int) -> list[str]:
    """Held-out individuals as published: ``unique(samples)[fold::folds]``.

    Parameters
    ----------
    samples : sequence of str
        Sample ids of the training split (repeats allowed: one per gene).
    folds, fold : int
        Number of folds and which one validates (``0 ≤ fold < folds``).

    Returns
    -------
    list of str
    """
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} outside 0..{folds - 1}")
    unique = list(dict.fromkeys(samples))
    return unique[fold::folds]


class MlmTask(L.LightningModule):
    """The masked model being pretrained: loss, optimiser and per-epoch validation metrics.

    Parameters
    ----------
    config : MlmConfig
        The model's sizes.
    settings : PretrainSettings
        Optimiser settings.
    """

    def __init__(self, config: MlmConfig, settings: PretrainSettings) -> None:
        super().__init__()
        self.config, self.settings = config, settings
        self.model: HaplotypeMLM = build_mlm(config)
        self.history: list[dict[str, float]] = []
        self._metrics = MaskedMetrics()

    def _loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits, _ = self.model(batch["x"], batch["gene"])
        loss = F.cross_entropy(logits.float(), batch["labels"], ignore_index=-100)
        return loss, logits

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One optimiser step's loss."""
        loss, _ = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["x"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        """Start accumulating the epoch's confusion counts."""
        self._metrics = MaskedMetrics()

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        """Validation loss; accumulate masked predictions for accuracy and IQS."""
        loss, logits = self._loss(batch)
        self.log("valid_loss", loss, on_epoch=True, batch_size=len(batch["x"]))
        self._metrics.update(logits.detach().float().cpu(), batch["labels"].cpu())

    def on_validation_epoch_end(self) -> None:
        """Masked accuracy, IQS and per-allele recall over the validation individuals."""
        for name, value in self._metrics.summary().items():
            self.log(f"valid_{name}", value if math.isfinite(value) else 0.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam, as published."""
        s = self.settings
        return torch.optim.Adam(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)


class _EpochLog(Callback):
    """Log each epoch's loss and validation figures to MLflow (``step`` = epoch)."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the epoch's clock."""
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After the epoch's validation: record and log its figures."""
        if not isinstance(pl_module, MlmTask) or MONITOR not in trainer.callback_metrics:
            return
        values = {k: float(v) for k, v in trainer.callback_metrics.items()}
        values["epoch_seconds"] = time.perf_counter() - self._started
        pl_module.history.append(values)
        if mlflow.active_run() is not None:
            finite = {k: v for k, v in values.items() if math.isfinite(v)}
            mlflow.log_metrics(finite, step=trainer.current_epoch + 1)


@dataclass
class PretrainFit:
    """A pretrained masked model and how it got there.

    Attributes
    ----------
    model : HaplotypeMLM
        The best epoch's weights, in eval mode on the CPU.
    history : list of dict
        Per epoch: ``train_loss``, ``valid_loss``, ``valid_masked_accuracy``, ``valid_iqs``…
    best_epoch : int
        1-based epoch kept.
    precision : str
        The Lightning precision used.
    """

    model: HaplotypeMLM
    history: list[dict[str, float]]
    best_epoch: int
    precision: str

    @property
    def best(self) -> dict[str, float]:
        """The kept epoch's figures."""
        return self.history[self.best_epoch - 1]


class _NewEpoch(Callback):
    """Fresh haplotype choices, masks and batch order for each training epoch."""

    def __init__(self, dataset: HaplotypeDataset, sampler: LengthBatchSampler) -> None:
        self.dataset, self.sampler = dataset, sampler

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Tell the dataset and the sampler which epoch starts."""
        self.dataset.set_epoch(trainer.current_epoch)
        self.sampler.set_epoch(trainer.current_epoch)


def _loader(dataset: HaplotypeDataset, sampler: LengthBatchSampler) -> DataLoader:
    """Batches of one length each, collated."""
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_haplotypes)


def pretrain_mlm(
    table: pd.DataFrame,
    gene_index: Mapping[str, int],
    config: MlmConfig,
    settings: PretrainSettings,
    valid_samples: Sequence[str],
    checkpoint_dir: str | Path,
    *,
    maf: Mapping[str, np.ndarray] | None = None,
) -> PretrainFit:
    """Pretrain on the ``train`` rows of ``table``, validating on ``valid_samples``.

    Parameters
    ----------
    table : pd.DataFrame
        :func:`~exprflow.data.mlm_dataset.read_mlm_dataset` rows of the training split.
    gene_index : mapping of str to int
        Gene id → segment label (``config.n_genes`` of them).
    config : MlmConfig
        Model sizes.
    settings : PretrainSettings
        Optimiser, masking, epochs, seed.
    valid_samples : sequence of str
        Individuals held out for validation (:func:`validation_samples`).
    checkpoint_dir : str or Path
        Where the best checkpoint is written.
    maf : mapping of str to numpy.ndarray, optional
        Per-gene MAF of every SNP, for MAF-stratified masking.

    Returns
    -------
    PretrainFit
    """
    held_out = table["sample"].isin(set(valid_samples))
    if held_out.all() or not held_out.any():
        raise ValueError(
            f"validation samples leave {int((~held_out).sum())} training rows and "
            f"{int(held_out.sum())} validation rows; both folds need individuals"
        )
    L.seed_everything(settings.seed, workers=True, verbose=False)
    train = HaplotypeDataset(
        table.loc[~held_out], gene_index, settings.mask, settings.seed, maf=maf
    )
    valid = HaplotypeDataset(table.loc[held_out], gene_index, settings.mask, 10_000, maf=maf)
    task = MlmTask(config, settings)
    train_batches = LengthBatchSampler(train.table, settings.batch_size, seed=settings.seed)
    valid_batches = LengthBatchSampler(valid.table, settings.batch_size, shuffle=False)
    precision = resolve_precision(settings.precision)
    best = ModelCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=MONITOR, mode="min")
    trainer = L.Trainer(
        max_epochs=settings.max_epochs,
        accelerator="auto",
        devices=1,
        precision=precision,  # type: ignore[arg-type]
        callbacks=[
            EarlyStopping(MONITOR, patience=settings.patience),
            best,
            _EpochLog(),
            _NewEpoch(train, train_batches),
        ],
        logger=False,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, _loader(train, train_batches), _loader(valid, valid_batches))
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    task.load_state_dict(state["state_dict"])
    best_epoch = int(state["epoch"]) + 1
    log.info("MLM pretraining: best epoch %d of %d", best_epoch, len(task.history))
    return PretrainFit(task.model.cpu().eval(), task.history, best_epoch, precision)
