"""Fit a promoter model on one or more tasks with Lightning; test from the best checkpoint.

:func:`fit_promoter` trains a :class:`~exprflow.models.promoter.model.PromoterModel` on
the tasks' training rows of one split (multi-task batches of
:mod:`exprflow.training.promoter_batching`, the summed
:class:`~exprflow.training.promoter_loss.UncertaintyWeights` loss), as published:
AdamW(lr, wd), gradient norm clipped at 1.0, optionally OneCycleLR (div 25,
pct_start 0.3; LegNet), early stopping (patience 5) and the top-3 checkpoints on the
monitor:

- with a fluorescence task (``FluorescenceData``, else ``FluorescenceData_classification``)
  its validation mean Spearman (accuracy for the classification variant), maximised;
- otherwise (pretraining) ``overall_val_loss``, the sum of the tasks' weighted
  validation losses, minimised.

The test metrics come from the **best** checkpoint; the published v2 predicted the test
set with the final epoch's weights. Those are kept too (:attr:`PromoterFit.test_last`).

Each epoch's figures (``train_loss``, ``overall_val_loss``, ``val_<task>_loss``,
``val_<task>_<metric>`` …, ``lr``, ``epoch_seconds``) go to ``log_metrics(values, epoch)``
(e.g. ``mlflow.log_metrics``). Runs are deterministic: everything is seeded from
``seed`` and Lightning's ``deterministic`` mode is on (warn-only on a GPU; the global
torch flag is restored afterwards).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from exprflow.training.probe_loop import resolve_precision
from exprflow.training.promoter_batching import TRAIN_MODES, evaluation_loader, train_loader
from exprflow.training.promoter_data import CountScanner, TaskTorchData
from exprflow.training.promoter_module import PromoterTask
from exprflow.training.promoter_predict import device_for, evaluate_tasks, predict_task

if TYPE_CHECKING:
    from exprflow.data.promoter_tasks import TaskData, TaskSpec
    from exprflow.models.promoter.model import PromoterModel

__all__ = [
    "FLUORESCENCE_TASKS",
    "OVERALL_LOSS",
    "PromoterFit",
    "PromoterFitSettings",
    "fit_promoter",
    "monitor_for",
    "predict_task",
]

log = logging.getLogger(__name__)

#: Tasks the monitor follows when present, in this order of preference.
FLUORESCENCE_TASKS = ("FluorescenceData", "FluorescenceData_classification")
#: Monitor of a fit without a fluorescence task (minimised).
OVERALL_LOSS = "overall_val_loss"
_SCHEDULERS = ("none", "onecycle")

LogMetrics = Callable[[dict[str, float], int], None]


@dataclass(frozen=True)
class PromoterFitSettings:
    """How a promoter model is trained; defaults are the published v2 single task.

    Parameters
    ----------
    lr : float, optional
        AdamW learning rate (OneCycleLR's maximum). Default 1e-5.
    weight_decay : float, optional
        AdamW weight decay. Default 1e-4.
    batch_size : int, optional
        Rows per task per step. Default 96.
    max_epochs : int, optional
        Most epochs. Default 50.
    patience : int, optional
        Early-stopping patience in epochs on the monitor. Default 5.
    train_mode : {"min_size", "max_size_cycle"}, optional
        Multi-task batching (:mod:`~exprflow.training.promoter_batching`). Default "min_size".
    grad_clip : float, optional
        Gradient-norm clip (0: none). Default 1.0.
    scheduler : {"none", "onecycle"}, optional
        Learning-rate schedule; "onecycle" is OneCycleLR(div 25, pct_start 0.3) stepped
        per batch (LegNet). Default "none".
    monitor_task : str, optional
        Task whose validation monitor drives early stopping and checkpoints; "auto"
        (default): the fluorescence task when trained, else ``overall_val_loss``;
        "overall": ``overall_val_loss``.
    seed : int, optional
        Seed of everything random (weights of new heads, dropout, batch order). Default 0.
    device : {"auto", "cpu", "gpu"}, optional
        Where to train ("auto": a GPU when present). Default "auto".
    precision : str, optional
        Lightning precision; "auto": mixed on a GPU, 32-true on the CPU. Default "auto".
    threads : int, optional
        Intra-op CPU threads during the fit (0: unchanged), restored afterwards. Default 0.
    limit_train_batches : int, optional
        Most steps per epoch (0: every batch), for CPU budgets. Default 0.
    eval_batch_size : int, optional
        Rows per validation/test batch. Default 256.
    save_top_k : int, optional
        Checkpoints kept (best by the monitor). Default 3.
    """

    lr: float = 1e-5
    weight_decay: float = 1e-4
    batch_size: int = 96
    max_epochs: int = 50
    patience: int = 5
    train_mode: str = "min_size"
    grad_clip: float = 1.0
    scheduler: str = "none"
    monitor_task: str = "auto"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0
    limit_train_batches: int = 0
    eval_batch_size: int = 256
    save_top_k: int = 3

    def __post_init__(self) -> None:
        for name, allowed in (
            ("train_mode", TRAIN_MODES),
            ("scheduler", _SCHEDULERS),
            ("device", ("auto", "cpu", "gpu")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("batch_size", "max_epochs", "patience", "eval_batch_size", "save_top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)!r}")
        for name, ok in (
            ("lr", self.lr > 0),
            ("weight_decay", self.weight_decay >= 0),
            ("grad_clip", self.grad_clip >= 0),
            ("threads", self.threads >= 0),
            ("limit_train_batches", self.limit_train_batches >= 0),
        ):
            if not ok:
                raise ValueError(f"{name} out of range: {getattr(self, name)!r}")


def monitor_for(specs: Mapping[str, TaskSpec], monitor_task: str = "auto") -> tuple[str, str]:
    """The monitored metric and its mode (``"max"``/``"min"``) for these tasks.

    Parameters
    ----------
    specs : mapping of str to TaskSpec
        The tasks trained.
    monitor_task : str, optional
        "auto", "overall" or a task name (see :class:`PromoterFitSettings`).

    Returns
    -------
    tuple of (str, str)
        E.g. ``("val_FluorescenceData_mean_spearman", "max")`` or
        ``("overall_val_loss", "min")``.
    """
    if monitor_task == "auto":
        monitor_task = next((t for t in FLUORESCENCE_TASKS if t in specs), "overall")
    if monitor_task == "overall":
        return OVERALL_LOSS, "min"
    if monitor_task not in specs:
        raise ValueError(f"monitor_task {monitor_task!r} is not trained; tasks: {sorted(specs)}")
    return f"val_{monitor_task}_mean_{specs[monitor_task].monitor}", "max"


@dataclass
class PromoterFit:
    """A fitted promoter model and how it got there.

    Attributes
    ----------
    model : PromoterModel
        The best checkpoint's weights, in eval mode on the CPU.
    loss_weights : dict of str to float
        Each task's learned ``s`` (``<task>_loss``) at the best checkpoint.
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``overall_val_loss``, ``val_<task>_*``,
        ``lr``, ``epoch_seconds``.
    best_epoch : int
        1-based epoch of the best checkpoint.
    monitor, mode : str
        The monitored metric and ``"max"``/``"min"``.
    test, test_last : dict of str to dict of str to float
        Task → test metrics of the best checkpoint, and of the final epoch's weights.
    checkpoint : Path
        The best checkpoint.
    steps : int
        Optimiser steps taken.
    seconds : float
        Wall time of the training loop.
    """

    model: PromoterModel
    loss_weights: dict[str, float]
    history: list[dict[str, float]]
    best_epoch: int
    monitor: str
    mode: str
    test: dict[str, dict[str, float]]
    test_last: dict[str, dict[str, float]]
    checkpoint: Path
    steps: int
    seconds: float

    @property
    def best(self) -> dict[str, float]:
        """The best epoch's record."""
        return self.history[self.best_epoch - 1]

    @property
    def steps_per_second(self) -> float:
        """Optimiser steps per second of training (validation included)."""
        return self.steps / self.seconds if self.seconds > 0 else math.nan


class _EpochRecorder(Callback):
    """Append each epoch's figures to the module's history and hand them to ``log_metrics``."""

    def __init__(self, log_metrics: LogMetrics | None) -> None:
        self.log_metrics = log_metrics
        self._started = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the epoch's clock."""
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After the epoch's validation: record, then log with ``step`` = the 1-based epoch."""
        if not isinstance(pl_module, PromoterTask) or OVERALL_LOSS not in trainer.callback_metrics:
            return
        epoch = trainer.current_epoch + 1
        values = {k: float(v) for k, v in trainer.callback_metrics.items()}
        values["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        values["epoch_seconds"] = time.perf_counter() - self._started
        pl_module.history.append({"epoch": float(epoch), **values})
        if self.log_metrics is not None:
            self.log_metrics({k: v for k, v in values.items() if math.isfinite(v)}, epoch)


@contextlib.contextmanager
def _fit_environment(threads: int) -> Iterator[None]:
    """CPU threads (0: unchanged), the global deterministic flag, restored afterwards."""
    before_threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if threads:
        torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():
            # linear probing keeps its frozen norm layers in eval mode on purpose
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
            yield
    finally:
        torch.set_num_threads(before_threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _datasets(
    model: PromoterModel,
    tasks: Mapping[str, TaskData],
    split: str,
    split_index: int,
    scanner: CountScanner | None,
) -> dict[str, TaskTorchData]:
    """Each task's rows of ``split`` as the backbone reads them."""
    backbone = model.backbone
    return {
        name: TaskTorchData(
            task,
            task.indices(split, split_index if task.splits.shape[1] > split_index else 0),
            backbone.input_kind,
            scanner,
            fixed_length=backbone.fixed_length,
        )
        for name, task in tasks.items()
    }


def _precision(precision: str, on_gpu: bool) -> str:
    """Lightning precision: "auto" is 32-true on the CPU, mixed on a GPU."""
    if precision == "auto" and not on_gpu:
        return "32-true"
    return resolve_precision(precision)


def _trainer(settings: PromoterFitSettings, callbacks: Sequence[Callback]) -> L.Trainer:
    """The Lightning trainer of a fit."""
    on_gpu = device_for(settings.device).type == "cuda"
    return L.Trainer(
        max_epochs=settings.max_epochs,
        accelerator="gpu" if on_gpu else "cpu",
        devices=1,
        precision=_precision(settings.precision, on_gpu),  # type: ignore[arg-type]
        gradient_clip_val=settings.grad_clip or None,
        limit_train_batches=settings.limit_train_batches or 1.0,
        callbacks=list(callbacks),
        logger=False,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic="warn" if on_gpu else True,
    )


def fit_promoter(
    model: PromoterModel,
    tasks: Mapping[str, TaskData],
    settings: PromoterFitSettings,
    *,
    checkpoint_dir: str | Path,
    split_index: int = 0,
    scanner: CountScanner | None = None,
    log_metrics: LogMetrics | None = None,
    callbacks: Sequence[Callback] = (),
) -> PromoterFit:
    """Train ``model`` on ``tasks``; test every task from the best checkpoint.

    Parameters
    ----------
    model : PromoterModel
        With a head for every task (trainable parameters as they should train: frozen
        ones stay bitwise unchanged, frozen BatchNorm layers stay in eval mode).
    tasks : mapping of str to TaskData
        Task name → data; each needs train, val and test rows in the split.
    settings : PromoterFitSettings
        Optimiser, batching, monitor, seed, device, budgets.
    checkpoint_dir : str or Path
        Where the top-k and the last checkpoints are written.
    split_index : int, optional
        Column of ``TaskData.splits`` to use (tasks with one split column use 0). Default 0.
    scanner : CountScanner, optional
        Motif scanner of a motif-count backbone.
    log_metrics : callable, optional
        Called as ``log_metrics(values, epoch)`` after each epoch (finite values only).
    callbacks : sequence of Callback, optional
        More Lightning callbacks.

    Returns
    -------
    PromoterFit

    Raises
    ------
    ValueError
        When a task has no head in ``model``, no rows in a split, or the monitor is unknown.
    """
    specs = {name: task.spec for name, task in tasks.items()}
    missing = [name for name in specs if name not in model.heads]
    if missing:
        raise ValueError(f"model has no head for {missing}; heads: {sorted(model.heads)}")
    monitor, mode = monitor_for(specs, settings.monitor_task)
    best = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="epoch{epoch:03d}",
        monitor=monitor,
        mode=mode,
        save_top_k=settings.save_top_k,
        save_last=True,
        auto_insert_metric_name=False,
    )
    with _fit_environment(settings.threads):
        L.seed_everything(settings.seed, workers=True, verbose=False)
        data = {
            split: _datasets(model, tasks, split, split_index, scanner)
            for split in ("train", "val", "test")
        }
        module = PromoterTask(model, specs, settings.lr, settings.weight_decay, settings.scheduler)
        trainer = _trainer(
            settings,
            [
                EarlyStopping(monitor, patience=settings.patience, mode=mode),
                best,
                _EpochRecorder(log_metrics),
                *callbacks,
            ],
        )
        started = time.perf_counter()
        trainer.fit(
            module,
            train_loader(
                data["train"], settings.batch_size, settings.train_mode, seed=settings.seed
            ),
            evaluation_loader(data["val"], settings.eval_batch_size),
        )
        seconds = time.perf_counter() - started
        device = device_for(settings.device)
        test_last = evaluate_tasks(model, specs, data["test"], settings.eval_batch_size, device)
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
        test = evaluate_tasks(model, specs, data["test"], settings.eval_batch_size, device)
    best_epoch = int(state["epoch"]) + 1
    log.info("promoter fit: best epoch %d of %d (%s)", best_epoch, len(module.history), monitor)
    return PromoterFit(
        model=module.model.cpu().eval(),
        loss_weights=module.loss_weights.as_dict(),
        history=module.history,
        best_epoch=best_epoch,
        monitor=monitor,
        mode=mode,
        test=test,
        test_last=test_last,
        checkpoint=Path(best.best_model_path),
        steps=int(trainer.global_step),
        seconds=seconds,
    )
