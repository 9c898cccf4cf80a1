"""Train a Basenji2 model (any :class:`Basenji2Config`) on label tracks, and save it.

On a synthetic genome no released weights exist, so the trunk the probe heads read is
trained here the way Basenji2 was: sequence → every chromatin track at once, then
frozen and probed for tracks it never saw (lamina, CpG methylation).

Training (Keras 3, TensorFlow): the head gets one softplus unit per track; targets are
each track's labels divided by its training-fold mean (the factors are returned and
saved); the loss is Poisson, ``mean(pred - y·log(pred + 1e-7))`` as Keras', over the
bins with data only (NaN labels are skipped,
:func:`~exprflow.training.basenji2_metrics.masked_poisson`); each epoch validates on
the ``valid`` fold and reports the mean over tracks of each track's Pearson correlation
across all bins (:class:`~exprflow.training.basenji2_metrics.TrackPearson`, Basenji's
``PearsonR``).
Early stopping on the validation loss (``patience`` epochs) restores the best
epoch's weights. Optimizer ``"adam"`` (default, learning rate 1e-3) or ``"sgd"`` with
Basenji2's published momentum 0.99 and gradient clip norm 2 (published learning rate
0.15, batch 4). Everything random draws from ``seed`` (``keras.utils.set_random_seed``
and the shuffling). ``precision`` is a Keras dtype policy (``mixed_float16`` computes
in float16 with float32 variables and loss scaling; saved weights are float32).

Saving (:func:`save_basenji2`): ``model.h5``, the legacy full-model Keras HDF5 layout
of the released ``model_human.h5`` (``model_weights`` group, ``layer_names`` and
``weight_names`` attributes; Keras 3's own ``.h5`` writer produces it) that
:func:`~exprflow.models.basenji2.weights.load_legacy_weights` and ``embed_basenji2``
read; ``params.json`` in Basenji's params format (``model`` with the head's units =
tracks, ``train`` with Basenji's key names) plus an ``exprflow`` section (track names,
normalisation means, label geometry, best epoch); ``targets.txt`` (the targets table).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import ops

from exprflow.atomic import atomic_path
from exprflow.data.label_file import check_same_regions, read_labels
from exprflow.data.label_targets import LabelTarget, write_label_targets
from exprflow.errors import ExprflowError, InputError
from exprflow.genome.fasta import Genome
from exprflow.models.basenji2.config import Basenji2Config, FinalHead
from exprflow.models.basenji2.model import Basenji2, build_basenji2
from exprflow.models.basenji2.weights import read_legacy_weights
from exprflow.training.basenji2_batches import RegionBatches
from exprflow.training.basenji2_data import fold_rows, track_means
from exprflow.training.basenji2_metrics import TrackPearson, masked_poisson

__all__ = [
    "OPTIMIZERS",
    "Basenji2Fit",
    "EpochStats",
    "SavedBasenji2",
    "save_basenji2",
    "train_basenji2",
    "with_tracks",
]

log = logging.getLogger(__name__)

#: Optimizer name → fixed settings (Basenji2's published SGD: momentum 0.99, clip norm 2).
OPTIMIZERS: dict[str, dict[str, float]] = {
    "adam": {},
    "sgd": {"momentum": 0.99, "clipnorm": 2.0},
}


@dataclass(frozen=True)
class EpochStats:
    """One epoch of training.

    Attributes
    ----------
    epoch : int
        1-based.
    train_loss, valid_loss : float
        Mean masked Poisson loss (training: running mean, dropout on).
    train_pearson, valid_pearson : float
        Mean per-track Pearson r (:class:`~exprflow.training.basenji2_metrics.TrackPearson`).
    seconds : float
        Wall time of the epoch, validation included.
    """

    epoch: int
    train_loss: float
    valid_loss: float
    train_pearson: float
    valid_pearson: float
    seconds: float


@dataclass(frozen=True)
class Basenji2Fit:
    """A trained Basenji2 and its record.

    Attributes
    ----------
    model : Basenji2
        The trained network (the best epoch's weights), model and trunk.
    history : list of EpochStats
        Every epoch run.
    best_epoch : int
        1-based epoch whose weights ``model`` holds (lowest validation loss).
    track_names : list of str
        Head outputs, in order.
    means : numpy.ndarray
        ``(tracks,)`` training-fold means each track's labels were divided by.
    settings : dict
        The training settings in Basenji's ``train`` key names.
    """

    model: Basenji2
    history: list[EpochStats]
    best_epoch: int
    track_names: list[str]
    means: np.ndarray
    settings: dict[str, Any]


def with_tracks(config: Basenji2Config, tracks: int) -> Basenji2Config:
    """``config`` with a head of ``tracks`` units; refuse a head Poisson cannot train.

    Parameters
    ----------
    config : Basenji2Config
        The architecture (its head's activation must be ``softplus``).
    tracks : int
        Number of label tracks.

    Returns
    -------
    Basenji2Config

    Raises
    ------
    InputError
        When the head's activation is not ``softplus``.
    """
    if config.head.activation != "softplus":
        raise InputError(
            "params",
            f"head_{config.head_name} activation is {config.head.activation!r}; the Poisson "
            "loss needs positive predictions.",
            record=f"model.head_{config.head_name}",
            fix="use activation 'softplus', as Basenji2.",
        )
    return replace(config, head=FinalHead(units=tracks, activation="softplus"))


def _optimizer(name: str, lr: float) -> keras.optimizers.Optimizer:
    """The optimizer ``name`` (:data:`OPTIMIZERS`) at learning rate ``lr``."""
    if name not in OPTIMIZERS:
        raise InputError(
            "argument optimizer", f"optimizer={name!r}; expected one of {sorted(OPTIMIZERS)}."
        )
    if not lr > 0:
        raise InputError("argument lr", f"lr={lr}; need a positive learning rate.")
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, **OPTIMIZERS[name])
    return keras.optimizers.Adam(learning_rate=lr)


def _check_counts(epochs: int, batch_size: int, patience: int) -> None:
    """Refuse non-positive epochs or batch size, or a negative patience."""
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                             ("patience", patience, 0)):  # fmt: skip
        if value < low:
            raise InputError(f"argument {name}", f"{name}={value}; need >= {low}.")


class _Record(keras.callbacks.Callback):
    """Collect :class:`EpochStats` and hand each to ``on_epoch`` as it ends."""

    def __init__(self, on_epoch: Callable[[EpochStats], None] | None) -> None:
        super().__init__()
        self.history: list[EpochStats] = []
        self._on_epoch = on_epoch
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        stats = EpochStats(
            epoch + 1,
            float(logs["loss"]),
            float(logs["val_loss"]),
            float(logs["pearson"]),
            float(logs["val_pearson"]),
            time.perf_counter() - self._started,
        )
        self.history.append(stats)
        log.info("epoch %d: loss %.4f, valid loss %.4f, valid pearson %.3f (%.0f s)",
                 stats.epoch, stats.train_loss, stats.valid_loss, stats.valid_pearson,
                 stats.seconds)  # fmt: skip
        if self._on_epoch is not None:
            self._on_epoch(stats)


def _build(config: Basenji2Config, precision: str, seed: int) -> Basenji2:
    """Build the network under dtype policy ``precision`` from ``seed``."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(seed)
        return build_basenji2(config)
    finally:
        keras.config.set_dtype_policy(previous)


def train_basenji2(
    config: Basenji2Config,
    fasta: str | Path,
    regions: pd.DataFrame,
    labels: str | Path,
    *,
    epochs: int = 4,
    min_updates: int = 0,
    batch_size: int = 4,
    optimizer: str = "adam",
    lr: float = 1e-3,
    patience: int = 2,
    seed: int = 0,
    precision: str = "float32",
    xla: bool = False,
    source: str = "regions",
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> Basenji2Fit:
    """Train ``config`` (head resized to the label tracks) on the train fold, validate on valid.

    Parameters
    ----------
    config : Basenji2Config
        The architecture; its head's units are replaced by the number of tracks.
    fasta : str or Path
        The genome.
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end``, ``fold`` of every labels row
        (:func:`~exprflow.data.regions.read_regions`, ``seq_length`` long).
    labels : str or Path
        Labels HDF5 of ``regions`` at :func:`~exprflow.training.basenji2_data.label_geometry`.
    epochs : int, optional
        Most epochs. Default 4.
    min_updates : int, optional
        At least this many optimizer steps: the epochs are raised to
        ``ceil(min_updates / batches per epoch)`` when that is more (a small world has few
        batches per epoch). Default 0.
    batch_size : int, optional
        Regions per step. Default 4 (Basenji2's).
    optimizer : {"adam", "sgd"}, optional
        Default ``"adam"`` (see the module docstring).
    lr : float, optional
        Learning rate. Default 1e-3.
    patience : int, optional
        Epochs without a lower validation loss before stopping. Default 2.
    seed : int, optional
        Initialisation, dropout and shuffling seed. Default 0.
    precision : str, optional
        Keras dtype policy. Default ``"float32"``.
    xla : bool, optional
        Compile the steps with XLA. Default False.
    source : str, optional
        The regions file, named in errors. Default ``"regions"``.
    on_epoch : callable, optional
        Called with each epoch's :class:`EpochStats` as it ends (live metric logging).

    Returns
    -------
    Basenji2Fit

    Raises
    ------
    InputError
        A bad setting, an empty train or valid fold, labels of other regions or of bins
        that do not match the model's output, or a track without signal.
    """
    _check_counts(epochs, batch_size, patience)
    train_rows, valid_rows = (
        fold_rows(regions, "train", source),
        fold_rows(regions, "valid", source),
    )
    with read_labels(labels) as opened, Genome(fasta) as genome:
        check_same_regions(opened, regions, source)
        if opened.bins.shape[1] != config.out_length:
            raise InputError(
                labels,
                f"labels have {opened.bins.shape[1]} bins per region; the model outputs "
                f"{config.out_length}.",
                fix="build the labels at the model's bin size and crop (label_geometry).",
            )
        names = opened.track_names
        means = track_means(opened.bins, train_rows, names)
        net = _build(with_tracks(config, len(names)), precision, seed)
        net.model.compile(
            optimizer=_optimizer(optimizer, lr),
            loss=masked_poisson,
            metrics=[TrackPearson(len(names))],
            jit_compile=xla,
        )
        train = RegionBatches(genome, regions, train_rows, opened.bins, means, batch_size, seed)
        valid = RegionBatches(genome, regions, valid_rows, opened.bins, means, batch_size)
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )
        record = _Record(on_epoch)
        epochs = max(epochs, -(-min_updates // len(train)))
        net.model.fit(train, validation_data=valid, epochs=epochs, shuffle=False, verbose=0,
                      callbacks=[stop, record])  # fmt: skip
    best = int(np.argmin([s.valid_loss for s in record.history])) + 1
    settings = {"batch_size": batch_size, "optimizer": optimizer, "learning_rate": lr,
                "loss": "poisson", "patience": patience, "train_epochs_max": epochs}  # fmt: skip
    if optimizer == "sgd":  # Basenji's names of the fixed settings
        settings |= {"momentum": OPTIMIZERS["sgd"]["momentum"], "clip_norm": 2.0}
    return Basenji2Fit(net, record.history, best, names, means, settings)


@dataclass(frozen=True)
class SavedBasenji2:
    """Files written by :func:`save_basenji2`.

    Attributes
    ----------
    params, weights, targets : Path
        ``params.json``, ``model.h5``, ``targets.txt``.
    """

    params: Path
    weights: Path
    targets: Path


def _check_saved(model: keras.Model, path: Path) -> None:
    """Refuse a saved file whose weighted layers differ from ``model``'s in any value."""
    stored = read_legacy_weights(path)
    layers = [layer for layer in model.layers if layer.weights]
    same = len(stored) == len(layers) and all(
        len(entry.arrays) == len(layer.weights)
        and all(
            np.array_equal(a, ops.convert_to_numpy(w))
            for a, w in zip(entry.arrays, layer.weights, strict=True)
        )
        for entry, layer in zip(stored, layers, strict=False)
    )
    if not same:
        raise ExprflowError(f"{path} read back does not hold the trained weights")


def save_basenji2(
    fit: Basenji2Fit,
    folder: str | Path,
    targets: Sequence[LabelTarget],
    data: dict[str, Any] | None = None,
) -> SavedBasenji2:
    """Write ``params.json``, ``model.h5`` and ``targets.txt`` into ``folder``, atomically.

    Parameters
    ----------
    fit : Basenji2Fit
        What :func:`train_basenji2` returned.
    folder : str or Path
        Destination folder (created).
    targets : sequence of LabelTarget
        The tracks trained on, in head order.
    data : dict, optional
        Data parameters to record in ``params.json``'s ``exprflow`` section (FASTA,
        regions, label geometry, seed, …).

    Returns
    -------
    SavedBasenji2
        The three paths; ``model.h5`` was read back and checked weight by weight.

    Raises
    ------
    ValueError
        When ``targets`` are not the tracks ``fit`` was trained on.
    """
    if [t.identifier for t in targets] != fit.track_names:
        raise ValueError(f"targets {[t.identifier for t in targets]} are not {fit.track_names}")
    folder = Path(folder)
    paths = SavedBasenji2(folder / "params.json", folder / "model.h5", folder / "targets.txt")
    document = {
        "train": fit.settings,
        "model": fit.model.config.to_params(),
        "exprflow": {
            "model_type": Basenji2Config.model_type,
            "targets": fit.track_names,
            "target_means": [float(m) for m in fit.means],
            "best_epoch": fit.best_epoch,
            **(data or {}),
        },
    }
    with atomic_path(paths.params) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n")
    with atomic_path(paths.weights) as tmp:
        keras.saving.save_model(fit.model.model, str(tmp), include_optimizer=False)
        _check_saved(fit.model.model, tmp)
    write_label_targets(paths.targets, targets)
    return paths
