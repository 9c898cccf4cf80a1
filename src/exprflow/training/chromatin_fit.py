"""Fit, predict and score the chromatin → expression models (ChromExpress, Chromoformer).

Any ``nn.Module`` with ``forward(batch) -> (B, n_outputs)`` on the batch dict of
:mod:`exprflow.data.chromatin_torch` trains here: regression is the MSE of
``output[:, 0]`` against log2(RPKM + 1), classification the cross-entropy of two logits.
The loop is the published ChromExpress training (Keras ``fit``): Adam (or AdamW);
shuffled mini-batches, the last partial; the lr times ``plateau_factor`` after
``plateau_patience`` epochs without a 1e-4 drop of the validation loss (counted as Keras
``ReduceLROnPlateau`` counts); early stopping after ``patience`` epochs without a lower
validation loss, restoring the best epoch's weights. Both datasets are stacked and moved
to the device once (only the model's ``input_keys`` when it names them) and epochs slice
batches out of them: no DataLoader. Mixed precision (bf16, else fp16 with a gradient
scaler) only on CUDA. Everything random (a factory's initial weights, dropout,
shuffling) draws from ``seed`` inside :func:`torch.random.fork_rng`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from exprflow.data.chromatin_torch import TARGET_KEY, stack_dataset
from exprflow.training.chromatin_metrics import fold_metrics

__all__ = ["FitResult", "FitSettings", "fit_model", "fold_metrics", "predict"]

log = logging.getLogger(__name__)

_TASKS = ("regression", "classification")
_OPTIMIZERS = ("adam", "adamw")
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Smallest validation-loss drop that counts for ReduceLROnPlateau (Keras min_delta).
PLATEAU_MIN_DELTA = 1e-4

Batch = dict[str, Tensor]


@dataclass(frozen=True)
class FitSettings:
    """How to train; defaults are the published ChromExpress training.

    Parameters
    ----------
    task : str, optional
        ``"regression"`` (default) or ``"classification"``.
    optimizer : str, optional
        ``"adam"`` (default) or ``"adamw"``.
    lr : float, optional
        Initial learning rate. Default 1e-3.
    weight_decay : float, optional
        Optimizer weight decay (≥ 0). Default 0.
    batch_size : int, optional
        Genes per batch. Default 64.
    max_epochs : int, optional
        At most this many epochs. Default 100.
    patience : int, optional
        Early stopping after this many epochs without a lower validation loss. Default 12.
    plateau_factor : float, optional
        Learning-rate factor on a plateau, in (0, 1). Default 0.2.
    plateau_patience : int, optional
        Epochs without improvement before the learning rate drops. Default 3.
    seed : int, optional
        Seed of initial weights (factory), dropout and shuffling. Default 0.
    device : str, optional
        ``"auto"`` (CUDA when available, else CPU; default) or a torch device string.
    precision : str, optional
        ``"auto"`` (default: bf16 on CUDA when supported, else fp16; fp32 on the CPU),
        ``"fp32"``, ``"bf16"`` or ``"fp16"``. Mixed precision applies only on CUDA.
    threads : int, optional
        Intra-op CPU threads during the fit, restored afterwards (0, the default: leave
        torch's setting). 1 is much faster for small models on a busy machine.
    min_steps_per_epoch : int, optional
        An epoch repeats shuffled passes over the training genes until it has taken at
        least this many optimiser steps (0, the default: one pass, as published). With
        ~100 genes a pass is 2 steps, and epoch-counted patience and plateaus would end
        training after a few dozen steps.

    Raises
    ------
    ValueError
        On an unknown task, optimizer or precision, or a size or rate out of range.
    """

    task: str = "regression"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    max_epochs: int = 100
    patience: int = 12
    plateau_factor: float = 0.2
    plateau_patience: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0
    min_steps_per_epoch: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (
            ("task", _TASKS),
            ("optimizer", _OPTIMIZERS),
            ("precision", _PRECISIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("batch_size", "max_epochs", "patience", "plateau_patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)!r}")
        for name, ok, wanted in (
            ("lr", self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, "≥ 0"),
            ("threads", self.threads >= 0, "≥ 0"),
            ("min_steps_per_epoch", self.min_steps_per_epoch >= 0, "≥ 0"),
            ("plateau_factor", 0 < self.plateau_factor < 1, "in (0, 1)"),
        ):
            if not ok:
                raise ValueError(f"{name} must be {wanted}, got {getattr(self, name)!r}")

    def torch_device(self) -> torch.device:
        """The device to use: ``device``, or CUDA when available for ``"auto"``."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """Mixed-precision dtype on ``device`` (None: fp32)."""
        if device.type != "cuda" or self.precision == "fp32":
            if self.precision in ("bf16", "fp16") and device.type != "cuda":
                log.warning("precision %s applies only on CUDA; using fp32", self.precision)
            return None
        if self.precision == "fp16" or not (
            self.precision == "bf16" or torch.cuda.is_bf16_supported()
        ):
            return torch.float16
        return torch.bfloat16


@dataclass
class FitResult:
    """A trained model and its per-epoch record.

    Attributes
    ----------
    model : torch.nn.Module
        The best epoch's weights, in eval mode on the training device.
    history : list of dict
        One record per epoch: ``epoch`` (1-based), ``train_loss``, ``val_loss``, ``lr``
        (the rate the epoch trained with), ``seconds``.
    best_epoch : int
        Epoch whose weights were kept.
    seconds : float
        Wall time of the fit.
    device : str
        Where it trained.
    """

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float
    device: str

    @property
    def best_val_loss(self) -> float:
        """Validation loss of :attr:`best_epoch`."""
        return float(self.history[self.best_epoch - 1]["val_loss"])


def _logits(output: Tensor) -> Tensor:
    """``output`` when it is ``(B, 2)`` class logits; ValueError otherwise."""
    if output.dim() != 2 or output.shape[1] != 2:
        raise ValueError(
            f"classification needs a (B, 2) output of logits, got {tuple(output.shape)}"
        )
    return output


def _loss(task: str, output: Tensor, target: Tensor) -> Tensor:
    """Summed loss of one batch (MSE of column 0, or cross-entropy of two logits)."""
    output = output.float()
    if task == "regression":
        return nn.functional.mse_loss(output[:, 0], target.float(), reduction="sum")
    return nn.functional.cross_entropy(_logits(output), target, reduction="sum")


def _stack(dataset: Dataset[Batch], model: nn.Module, task: str, device: torch.device) -> Batch:
    """The whole dataset as one batch dict on ``device`` (only the model's keys)."""
    tensors = stack_dataset(dataset, getattr(model, "input_keys", None))
    integer = not tensors[TARGET_KEY].is_floating_point()
    if integer != (task == "classification"):
        kind = "integer labels" if integer else "float values"
        raise ValueError(f"the dataset's targets are {kind}, which do not fit task={task!r}")
    return {key: value.to(device) for key, value in tensors.items()}


def _batches(tensors: Batch, order: Tensor, batch_size: int) -> Iterator[Batch]:
    """Slices of ``tensors`` along ``order``, ``batch_size`` rows each (last partial)."""
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield {key: value[rows] for key, value in tensors.items()}


@contextlib.contextmanager
def _cpu_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op CPU threads (0: unchanged), then restore the count."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """Autocast on CUDA with ``dtype``, else a no-op."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@dataclass
class _Step:
    """What one training step needs besides the batch."""

    model: nn.Module
    settings: FitSettings
    device: torch.device
    dtype: torch.dtype | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None

    def _step(self, batch: Batch) -> float:
        """One optimiser step on ``batch``; its summed loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.device, self.dtype):
            output = self.model(batch)
        loss = _loss(self.settings.task, output, batch[TARGET_KEY])
        mean = loss / len(batch[TARGET_KEY])
        if self.scaler is not None:
            self.scaler.scale(mean).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            mean.backward()
            self.optimizer.step()
        return float(loss.detach())

    def epoch(self, tensors: Batch, generator: torch.Generator) -> float:
        """Shuffled passes over ``tensors`` (see ``min_steps_per_epoch``); the mean loss."""
        self.model.train()
        n = len(tensors[TARGET_KEY])
        per_pass = -(-n // self.settings.batch_size)
        passes = max(1, -(-self.settings.min_steps_per_epoch // per_pass))
        total = 0.0
        for _ in range(passes):
            order = torch.randperm(n, generator=generator).to(self.device)
            for batch in _batches(tensors, order, self.settings.batch_size):
                total += self._step(batch)
        return total / (n * passes)


@torch.no_grad()
def _outputs(
    model: nn.Module, tensors: Batch, batch_size: int, dtype: torch.dtype | None
) -> Tensor:
    """Model outputs ``(N, n_outputs)`` in eval mode, float32, on the tensors' device."""
    model.eval()
    device = tensors[TARGET_KEY].device
    order = torch.arange(len(tensors[TARGET_KEY]), device=device)
    parts = []
    for batch in _batches(tensors, order, batch_size):
        with _autocast(device, dtype):
            parts.append(model(batch).float())
    return torch.cat(parts)


def _build(model: nn.Module | Callable[[], nn.Module]) -> nn.Module:
    """The model, or the factory's new model (built under the caller's seeded RNG)."""
    return model if isinstance(model, nn.Module) else model()


def _optimizer(
    model: nn.Module, settings: FitSettings
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau]:
    """Adam or AdamW, and the plateau schedule counted the Keras way."""
    cls = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    optimizer = cls(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    return optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        factor=settings.plateau_factor,
        patience=settings.plateau_patience - 1,  # torch lowers after patience + 1 bad epochs
        threshold=PLATEAU_MIN_DELTA,
        threshold_mode="abs",
    )


def fit_model(
    model: nn.Module | Callable[[], nn.Module],
    train: Dataset[Batch],
    val: Dataset[Batch],
    settings: FitSettings,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train``, early-stopping on ``val``; keep the best weights.

    Parameters
    ----------
    model : torch.nn.Module or callable returning one
        A model taking the batch dict, or a factory called inside the seeded RNG (so
        the initial weights follow ``settings.seed`` too). Moved to the device.
    train, val : torch.utils.data.Dataset
        Map-style datasets of batch-dict items with a ``target``
        (:class:`~exprflow.data.chromatin_torch.ChromatinDataset`); int64 targets for
        classification, float for regression. Neither may be empty.
    settings : FitSettings
        Task, optimiser, schedule, seed, device.
    on_epoch : callable, optional
        Called with each epoch's record (e.g. to log MLflow metrics). Default None.

    Returns
    -------
    FitResult
        Best-validation-loss weights restored, model in eval mode on the device.

    Raises
    ------
    ValueError
        When a dataset is empty, its targets do not fit the task, or a classifier does
        not output two logits.
    """
    started = time.perf_counter()
    device = settings.torch_device()
    dtype = settings.autocast_dtype(device)
    history: list[dict[str, float]] = []
    devices = [device.index or 0] if device.type == "cuda" else []
    with _cpu_threads(settings.threads), torch.random.fork_rng(devices=devices):
        torch.manual_seed(settings.seed)
        generator = torch.Generator().manual_seed(settings.seed)
        net = _build(model).to(device)
        train_t = _stack(train, net, settings.task, device)
        val_t = _stack(val, net, settings.task, device)
        if settings.task == "regression":
            _start_at_mean(net, train_t[TARGET_KEY])
        optimizer, scheduler = _optimizer(net, settings)
        scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
        step = _Step(net, settings, device, dtype, optimizer, scaler)
        best, best_state, best_epoch, waited = float("inf"), None, 0, 0
        for epoch in range(1, settings.max_epochs + 1):
            epoch_started = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            train_loss = step.epoch(train_t, generator)
            output = _outputs(net, val_t, settings.batch_size, dtype)
            val_loss = float(_loss(settings.task, output, val_t[TARGET_KEY])) / len(output)
            seconds = time.perf_counter() - epoch_started
            record = dict(
                epoch=epoch, train_loss=train_loss, val_loss=val_loss, lr=lr, seconds=seconds
            )
            history.append(record)
            log.debug("epoch %d: train %.4f, val %.4f, lr %.2g", epoch, train_loss, val_loss, lr)
            if on_epoch is not None:
                on_epoch(record)
            if val_loss < best:
                best, best_epoch, waited = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
            if waited >= settings.patience:
                break
            scheduler.step(val_loss)
    if best_state is None:
        log.warning("no finite validation loss in %d epochs; keeping the last weights", epoch)
        best_epoch = epoch
    else:
        net.load_state_dict(best_state)
    seconds = time.perf_counter() - started
    log.info(
        "fit: %d epochs, best %d (val loss %.4f), %.1f s on %s",
        epoch, best_epoch, best, seconds, device,
    )  # fmt: skip
    return FitResult(net.eval(), history, best_epoch, seconds, str(device))


def _start_at_mean(net: nn.Module, target: Tensor) -> None:
    """Start a regressor's output bias (its last Linear layer's) at the training mean.

    The published models start at 0 and had ~14,000 genes (≈ 220 steps per epoch) to
    walk to the mean of log2(RPKM + 1); with a hundred genes (2 steps per epoch) early
    stopping ends while the output is still far from it, and the test correlation is
    then the sign of the initial weights rather than anything learned.
    """
    last = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if last and last[-1].bias is not None:
        with torch.no_grad():
            last[-1].bias.fill_(float(target.float().mean()))


def predict(model: nn.Module, dataset: Dataset[Batch], settings: FitSettings) -> np.ndarray:
    """Predictions for every item of ``dataset``, in order.

    Parameters
    ----------
    model : torch.nn.Module
        A trained model taking the batch dict. Its device and train mode are restored.
    dataset : torch.utils.data.Dataset
        Batch-dict items with a ``target`` (its values are not used).
    settings : FitSettings
        ``task``, ``batch_size``, ``device`` and ``precision`` are used.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)``: the regression value, or P(label = 1) (softmax of two logits).
    """
    device = settings.torch_device()
    first = next(model.parameters(), None)
    home = first.device if first is not None else device
    was_training = model.training
    try:
        model.to(device)
        tensors = stack_dataset(dataset, getattr(model, "input_keys", None))
        tensors = {key: value.to(device) for key, value in tensors.items()}
        output = _outputs(model, tensors, settings.batch_size, settings.autocast_dtype(device))
    finally:
        model.to(home).train(was_training)
    if settings.task == "classification":
        return torch.softmax(_logits(output), dim=1)[:, 1].double().cpu().numpy()
    return output[:, 0].double().cpu().numpy()
