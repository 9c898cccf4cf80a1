"""Train a Beluga chromatin model on binary track labels, validating on held-out chromosomes.

A plain loop: binary cross-entropy on the logits, Adam, shuffled mini-batches with
reverse-complement augmentation (half of each batch, chosen at random, is
reverse-complemented, as DeepSEA trained), one validation pass per epoch on the windows
of ``held_out_chroms``. Validation scores are the forward/reverse-complement mean
probabilities of :func:`exprflow.models.beluga.predict.predict_windows`, the way the
model is used; the epoch's validation loss is their binary cross-entropy and its AUROC
the mean over features that have both classes among the held-out windows (sklearn).

Everything random (initial weights, dropout, shuffling, augmentation) draws from
``seed`` inside :func:`torch.random.fork_rng`, so a run is reproducible and the global
random state is left untouched.

Inputs: one-hot windows ``(N, 4, L)`` (from
:func:`exprflow.training.chromatin_data.encode_regions`), 0/1 labels ``(N, F)`` and the
contig of every window.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.model import Beluga
from exprflow.models.beluga.predict import predict_windows, reverse_complement

__all__ = ["ChromatinFit", "EpochStats", "mean_auroc", "train_chromatin_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochStats:
    """Losses and validation AUROC after one epoch.

    Attributes
    ----------
    epoch : int
        1-based epoch number.
    train_loss : float
        Mean training BCE over the epoch's batches (dropout on, augmented).
    val_loss : float
        BCE of the held-out windows' forward/RC mean probabilities.
    val_auroc : float
        Mean AUROC over features with both classes held out (NaN when none has).
    n_auroc_features : int
        How many features entered ``val_auroc``.
    seconds : float
        Wall time of the epoch, validation included.
    """

    epoch: int
    train_loss: float
    val_loss: float
    val_auroc: float
    n_auroc_features: int
    seconds: float


class ChromatinFit(NamedTuple):
    """A trained model and its per-epoch record (unpacks as ``model, history``).

    Attributes
    ----------
    model : Beluga
        Trained weights (the best epoch's when early stopping), in eval mode.
    history : list of EpochStats
        One entry per epoch run.
    """

    model: Beluga
    history: list[EpochStats]


def mean_auroc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Mean per-feature AUROC over the features that have both classes.

    Parameters
    ----------
    labels : numpy.ndarray
        0/1, ``(N, F)``.
    scores : numpy.ndarray
        ``(N, F)``.

    Returns
    -------
    tuple of (float, int)
        The mean (NaN when no feature has both classes) and the number of features used.
    """
    positives = labels.sum(axis=0)
    usable = np.flatnonzero((positives > 0) & (positives < labels.shape[0]))
    if not usable.size:
        return float("nan"), 0
    values = [roc_auc_score(labels[:, j], scores[:, j]) for j in usable]
    return float(np.mean(values)), int(usable.size)


def _check_inputs(
    config: BelugaConfig,
    onehot: np.ndarray,
    labels: np.ndarray,
    chroms: Sequence[str],
    held_out_chroms: Sequence[str],
) -> np.ndarray:
    """Validate shapes; return the boolean held-out mask."""
    if onehot.shape[1:] != (4, config.seq_len):
        raise ValueError(f"onehot must be (N, 4, {config.seq_len}), got {tuple(onehot.shape)}")
    if labels.shape != (onehot.shape[0], config.n_outputs):
        raise ValueError(
            f"labels must be (N, n_outputs) = ({onehot.shape[0]}, {config.n_outputs}), "
            f"got {tuple(labels.shape)}"
        )
    if len(chroms) != onehot.shape[0]:
        raise ValueError(f"chroms has {len(chroms)} entries for {onehot.shape[0]} windows")
    held = np.isin(np.asarray(chroms, dtype=str), list(held_out_chroms))
    if not held.any() or held.all():
        raise ValueError(
            f"held_out_chroms={list(held_out_chroms)} must select some but not all windows "
            f"(contigs present: {sorted(set(chroms))})"
        )
    return held


def _pick_device(device: str | torch.device | None) -> torch.device:
    """``device``, or CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _train_epoch(
    model: Beluga,
    optimizer: torch.optim.Optimizer,
    onehot: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
) -> float:
    """One shuffled pass with RC augmentation; return the mean batch loss."""
    model.train()
    loss_fn = nn.BCEWithLogitsLoss()
    order = torch.randperm(len(onehot), generator=generator).numpy()
    total, batches = 0.0, 0
    for start in range(0, len(order), batch_size):
        rows = np.sort(order[start : start + batch_size])
        x = torch.from_numpy(onehot[rows]).to(device, torch.float32)
        y = torch.from_numpy(labels[rows]).to(device, torch.float32)
        flip = (torch.rand(len(rows), generator=generator) < 0.5).to(device)
        x = torch.where(flip[:, None, None], reverse_complement(x), x)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model.logits(x), y)
        loss.backward()
        optimizer.step()
        total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)


def _validate(
    model: Beluga, onehot: np.ndarray, labels: np.ndarray, batch_size: int
) -> tuple[float, float, int]:
    """Validation BCE of the forward/RC mean probabilities, and the mean AUROC."""
    scores = predict_windows(model, onehot, batch_size=batch_size)
    loss = nn.functional.binary_cross_entropy(
        torch.from_numpy(scores).double(), torch.from_numpy(labels).double()
    )
    auroc, n_features = mean_auroc(labels, scores)
    return float(loss), auroc, n_features


def train_chromatin_model(
    config: BelugaConfig,
    onehot: np.ndarray,
    labels: np.ndarray,
    chroms: Sequence[str],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    held_out_chroms: Sequence[str],
    seed: int,
    device: str | torch.device | None = None,
    progress: bool = True,
    patience: int | None = None,
) -> ChromatinFit:
    """Train ``Beluga(config)`` on windows of all contigs but ``held_out_chroms``.

    Parameters
    ----------
    config : BelugaConfig
        Network sizes; ``n_outputs`` must equal the number of label columns.
    onehot : numpy.ndarray
        One-hot windows ``(N, 4, seq_len)`` in ``config.alphabet`` order (any numeric dtype).
    labels : numpy.ndarray
        0/1 labels ``(N, n_outputs)``.
    chroms : sequence of str
        Contig of every window, ``(N,)``.
    epochs : int
        Maximum number of passes over the training windows (> 0).
    lr : float
        Adam learning rate.
    batch_size : int
        Windows per training and validation batch (> 0).
    held_out_chroms : sequence of str
        Contigs whose windows form the validation set (spelled as in ``chroms``).
    seed : int
        Seed of initial weights, dropout, shuffling and augmentation.
    device : str or torch.device, optional
        Default None: CUDA when available, else CPU.
    progress : bool, optional
        Show a tqdm bar over epochs. Default True.
    patience : int, optional
        Stop after this many epochs without a lower validation loss and keep the best
        epoch's weights. Default None: run every epoch, keep the last weights.

    Returns
    -------
    ChromatinFit
        ``(model, history)``; the model is in eval mode on ``device``.
    """
    if epochs <= 0 or batch_size <= 0 or (patience is not None and patience <= 0):
        raise ValueError(
            f"epochs, batch_size and patience must be positive, got {epochs}, {batch_size}, "
            f"{patience}"
        )
    held = _check_inputs(config, onehot, labels, chroms, held_out_chroms)
    train_x, train_y = onehot[~held], labels[~held].astype(np.float32)
    val_x, val_y = onehot[held], labels[held].astype(np.float32)
    target = _pick_device(device)
    history: list[EpochStats] = []
    devices = [target.index or 0] if target.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = Beluga(config).to(target)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        best, best_state, waited = float("inf"), None, 0
        for epoch in tqdm(range(1, epochs + 1), desc="chromatin", disable=not progress):
            started = time.perf_counter()
            train_loss = _train_epoch(
                model, optimizer, train_x, train_y, batch_size, generator, target
            )
            val_loss, auroc, n_features = _validate(model, val_x, val_y, batch_size)
            stats = EpochStats(
                epoch, train_loss, val_loss, auroc, n_features, time.perf_counter() - started
            )
            history.append(stats)
            log.info(
                "epoch %d: train loss %.4f, val loss %.4f, val AUROC %.3f (%d features)",
                epoch, train_loss, val_loss, auroc, n_features,
            )  # fmt: skip
            if val_loss < best:
                best, waited = val_loss, 0
                best_state = copy.deepcopy(model.state_dict()) if patience else None
            else:
                waited += 1
            if patience is not None and waited >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return ChromatinFit(model.eval(), history)
