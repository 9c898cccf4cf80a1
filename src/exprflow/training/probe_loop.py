"""The one training loop of the probe heads, on Lightning: fit, validate, checkpoint, stop.

:class:`ProbeTask` wraps any head of :data:`~exprflow.models.probes.registry.HEADS` in a
:class:`lightning.LightningModule`; :func:`fit_probe` trains it on one fold of
:class:`~exprflow.data.probe_data.ProbeData` and validates on another:

- **Loss**: the head's (Poisson NLL on rates for the 128 bp linear probe, MSE for the
  single-bin heads), over the finite labels only — NaN means no data (a methylation
  fraction away from CpGs) and is masked, never imputed. Computed in float32 whatever the
  precision.
- **Per-track scale**: tracks differ by orders of magnitude (lamina up to 1,024 per bin,
  LAD coverage at most 1), so one MSE is the largest tracks' alone. Labels are divided by
  each track's mean over the training fold (:func:`track_scale`), and
  :class:`~exprflow.models.probes.scaled.ScaledHead` multiplies the predictions back, so
  what is saved and served predicts in label units. Correlations are unaffected.
- **Validation** every epoch: the loss and the per-track Pearson and Spearman of
  :func:`~exprflow.evaluation.track_metrics.track_metrics` (``valid_loss``,
  ``valid_pearson`` — the mean over tracks, the headline —, ``valid_spearman``,
  ``valid_pooled_pearson``), logged for the callbacks and to the active MLflow run
  (:class:`MlflowEpochMetrics`, ``step`` = epoch) with ``train_loss``.
- **Early stopping and checkpoints** on ``valid_loss``: the best epoch's weights are
  saved and restored at the end.
- **Precision**: ``"auto"`` is bf16 mixed precision on a GPU that has it, float16 mixed
  on other GPUs, float32 on the CPU — the same code path (:func:`resolve_precision`).

Everything random (initial weights, dropout, batch order) follows ``seed``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import lightning as L
import mlflow
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch.nn import functional as F

from exprflow.data.probe_data import ProbeData, ProbeItem
from exprflow.models.probes.base import ProbeConfig
from exprflow.models.probes.registry import HEADS, HeadSpec
from exprflow.models.probes.scaled import ScaledHead
from exprflow.training.probe_predict import tracks_last_metrics

__all__ = [
    "MONITOR",
    "EpochRecord",
    "MlflowEpochMetrics",
    "ProbeFit",
    "ProbeTask",
    "TrainSettings",
    "fit_probe",
    "masked_loss",
    "resolve_precision",
    "track_scale",
]

log = logging.getLogger(__name__)

#: Metric that early stopping and checkpoints follow (minimised).
MONITOR = "valid_loss"


@dataclass(frozen=True)
class TrainSettings:
    """How a head is trained.

    Parameters
    ----------
    lr : float, optional
        Learning rate. Default 1e-3.
    weight_decay : float, optional
        Decoupled weight decay (AdamW) or L2 (SGD). Default 0.
    batch_size : int, optional
        Regions per batch. Default 8.
    optimizer : {"adamw", "sgd"}, optional
        AdamW, or SGD with Nesterov-free ``momentum`` as CS282A trained. Default "adamw".
    momentum : float, optional
        SGD momentum. Default 0.9.
    max_epochs : int, optional
        Most epochs. Default 30.
    patience : int, optional
        Epochs without a lower ``valid_loss`` before stopping. Default 5.
    precision : str, optional
        ``"auto"`` or a Lightning precision (``"32-true"``, ``"16-mixed"``,
        ``"bf16-mixed"``). Default "auto".
    num_workers : int, optional
        Data-loading processes (see :meth:`ProbeData.loader`). Default 0.
    seed : int, optional
        Seed of weights, dropout and batch order. Default 0.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 8
    optimizer: Literal["adamw", "sgd"] = "adamw"
    momentum: float = 0.9
    max_epochs: int = 30
    patience: int = 5
    precision: str = "auto"
    num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.momentum < 1):
            raise ValueError(
                f"need lr > 0, weight_decay >= 0, 0 <= momentum < 1; got lr={self.lr}, "
                f"weight_decay={self.weight_decay}, momentum={self.momentum}"
            )
        if min(self.batch_size, self.max_epochs, self.patience) < 1 or self.num_workers < 0:
            raise ValueError("batch_size, max_epochs and patience must be ≥ 1, num_workers ≥ 0")


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's training loss and validation figures."""

    epoch: int
    train_loss: float
    valid_loss: float
    valid_pearson: float
    valid_spearman: float
    seconds: float


def resolve_precision(precision: str) -> str:
    """Lightning precision for ``"auto"``: bf16/16 mixed on a GPU, 32-true on the CPU."""
    if precision != "auto":
        return precision
    if not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def track_scale(data: ProbeData) -> torch.Tensor:
    """Each track's mean finite label over ``data`` (1 where a track has none or is ≤ 0).

    Parameters
    ----------
    data : ProbeData
        Usually the training fold; only its labels are read.

    Returns
    -------
    torch.Tensor
        float32 ``(tracks,)``.
    """
    mean = data.track_means()
    usable = np.isfinite(mean) & (mean > 0)
    return torch.tensor(np.where(usable, mean, 1.0), dtype=torch.float32)


def masked_loss(kind: str, predicted: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The head's loss over finite labels (NaN: no data), in float32; 0 when none is."""
    finite = torch.isfinite(labels)
    if not bool(finite.any()):
        return predicted.float().sum() * 0.0
    pred, obs = predicted.float()[finite], labels[finite]
    if kind == "poisson_nll":
        return F.poisson_nll_loss(pred, obs, log_input=False)
    return F.mse_loss(pred, obs)


class ProbeTask(L.LightningModule):
    """A probe head being trained: loss, optimiser and per-epoch validation metrics.

    Parameters
    ----------
    spec : HeadSpec
        Which head (loss, target).
    config : ProbeConfig
        Its sizes.
    settings : TrainSettings
        Optimiser and batch settings.
    scale : torch.Tensor
        Per-track label scale ``(tracks,)`` (:func:`track_scale`).
    track_names : sequence of str
        Names of the tracks, for the metrics.
    """

    def __init__(
        self,
        spec: HeadSpec,
        config: ProbeConfig,
        settings: TrainSettings,
        scale: torch.Tensor,
        track_names: Sequence[str],
    ) -> None:
        super().__init__()
        self.spec, self.settings, self.track_names = spec, settings, list(track_names)
        self.model = ScaledHead(spec.build(config), scale)
        self.history: list[EpochRecord] = []
        self._valid: list[tuple[np.ndarray, np.ndarray]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions in label units."""
        out: torch.Tensor = self.model(x)
        return out

    def _loss(self, batch: ProbeItem) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss on scaled labels (balanced tracks), and the predictions in label units."""
        scaled = self.model.head(batch.embedding)
        labels = batch.labels / self.model.shaped_scale(batch.labels.ndim)
        return masked_loss(self.spec.loss, scaled, labels), self.model.unscale(scaled.float())

    def training_step(self, batch: ProbeItem, batch_idx: int) -> torch.Tensor:
        """One optimiser step's loss."""
        loss, _ = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch.region))
        return loss

    def on_validation_epoch_start(self) -> None:
        """Start collecting the epoch's validation predictions."""
        self._valid = []

    def validation_step(self, batch: ProbeItem, batch_idx: int) -> None:
        """Validation loss; keep predictions and labels for the per-track metrics."""
        loss, predicted = self._loss(batch)
        self.log("valid_loss", loss, on_epoch=True, batch_size=len(batch.region))
        self._valid.append((predicted.cpu().numpy(), batch.labels.float().cpu().numpy()))

    def on_validation_epoch_end(self) -> None:
        """Per-track correlations over the whole validation fold."""
        metrics = tracks_last_metrics(
            np.concatenate([p for p, _ in self._valid]),
            np.concatenate([o for _, o in self._valid]),
            self.track_names,
        )
        for name in ("pearson", "spearman", "pooled_pearson"):
            value = getattr(metrics, f"mean_{name}" if "pooled" not in name else name)
            self.log(f"valid_{name}", _finite(value))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW, or SGD with momentum, on the head's parameters."""
        s = self.settings
        if s.optimizer == "sgd":
            return torch.optim.SGD(
                self.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay
            )
        return torch.optim.AdamW(self.parameters(), lr=s.lr, weight_decay=s.weight_decay)


def _finite(value: float) -> float:
    """NaN correlations (a constant prediction) count as 0, so monitors stay ordered."""
    return value if math.isfinite(value) else 0.0


class MlflowEpochMetrics(Callback):
    """Log each epoch's ``train_loss`` and validation figures to the active MLflow run.

    Also appends an :class:`EpochRecord` to the task's ``history``.
    """

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the epoch's clock."""
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After the epoch's validation: log with ``step`` = the 1-based epoch."""
        if not isinstance(pl_module, ProbeTask) or "valid_loss" not in trainer.callback_metrics:
            return
        values = {k: float(v) for k, v in trainer.callback_metrics.items()}
        epoch = trainer.current_epoch + 1
        record = EpochRecord(
            epoch,
            values.get("train_loss", float("nan")),
            values["valid_loss"],
            values["valid_pearson"],
            values["valid_spearman"],
            time.perf_counter() - self._started,
        )
        pl_module.history.append(record)
        if mlflow.active_run() is not None:
            mlflow.log_metrics({k: v for k, v in values.items() if math.isfinite(v)}, step=epoch)


@dataclass
class ProbeFit:
    """A trained head and how it got there.

    Attributes
    ----------
    task : ProbeTask
        Holding the best epoch's weights, in eval mode on the CPU.
    history : list of EpochRecord
        One per epoch run.
    best_epoch : int
        1-based epoch whose weights were kept.
    precision : str
        The Lightning precision used.
    checkpoint : Path
        The best epoch's Lightning checkpoint.
    """

    task: ProbeTask
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    precision: str = "32-true"
    checkpoint: Path = Path()

    @property
    def best(self) -> EpochRecord:
        """The kept epoch's record."""
        return self.history[self.best_epoch - 1]


def fit_probe(
    head: str,
    config: ProbeConfig,
    train: ProbeData,
    valid: ProbeData,
    settings: TrainSettings,
    checkpoint_dir: str | Path,
    *,
    callbacks: Sequence[Callback] = (),
) -> ProbeFit:
    """Train ``head`` on ``train``, validating on ``valid`` every epoch; keep the best epoch.

    Parameters
    ----------
    head : str
        A key of :data:`HEADS`.
    config : ProbeConfig
        The head's sizes; ``tracks`` must equal the data's tracks.
    train, valid : ProbeData
        The folds, with the head's target.
    settings : TrainSettings
        Optimiser, batches, epochs, precision, seed.
    checkpoint_dir : str or Path
        Where the best checkpoint is written.
    callbacks : sequence of Callback, optional
        More Lightning callbacks (e.g. Optuna pruning).

    Returns
    -------
    ProbeFit

    Raises
    ------
    ValueError
        When the config's tracks or the data's target do not fit the head.
    """
    spec = HEADS[head]
    for data in (train, valid):
        if data.target != spec.target or len(data.track_names) != config.tracks:
            raise ValueError(
                f"{head} needs target {spec.target!r} and {config.tracks} tracks; "
                f"{data.fold} data has {data.target!r} and {len(data.track_names)}"
            )
    L.seed_everything(settings.seed, workers=True, verbose=False)
    task = ProbeTask(spec, config, settings, track_scale(train), train.track_names)
    precision = resolve_precision(settings.precision)
    best = ModelCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=MONITOR, mode="min")
    trainer = L.Trainer(
        max_epochs=settings.max_epochs,
        accelerator="auto",
        devices=1,
        precision=precision,  # type: ignore[arg-type]
        callbacks=[
            EarlyStopping(MONITOR, patience=settings.patience, mode="min"),
            best,
            MlflowEpochMetrics(),
            *callbacks,
        ],
        logger=False,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic="warn",
    )
    trainer.fit(
        task,
        train.loader(settings.batch_size, num_workers=settings.num_workers, seed=settings.seed),
        valid.loader(settings.batch_size, shuffle=False, num_workers=settings.num_workers),
    )
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    task.load_state_dict(state["state_dict"])
    task.cpu().eval()
    best_epoch = int(state["epoch"]) + 1
    log.info("%s: best epoch %d of %d", head, best_epoch, len(task.history))
    return ProbeFit(task, task.history, best_epoch, precision, Path(best.best_model_path))
