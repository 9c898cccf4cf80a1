"""The keyed pretraining cache of the promoter study, and the backbone × task checks.

:func:`pretrained_backbone` fits a backbone with linear heads on the pretraining tasks
(monitor ``overall_val_loss``) or reuses it from ``<cache_dir>/<key>/``:

- ``model/``: the saved :class:`~exprflow.models.promoter.model.PromoterModel` with its
  pretraining heads (the zero-shot transfer reads them);
- ``settings.json``: :func:`pretrain_record`, everything the key hashes;
- ``fit.json``: the pretraining's history, best epoch and test metrics.

The key (:func:`pretrain_key`) covers the backbone, size, sorted tasks, every fit
setting that changes the weights, the model options (length, norm, motifs) and a digest
of the tasks' data, so a different pretraining is never silently reused — the published
``pretrain_on_<tasks>`` checkpoint was shared whatever its flags. A folder is reused only
when its ``settings.json`` equals the new record; the folder is written atomically.

:func:`check_compatible` refuses a backbone that cannot read a task, naming both:
PureCNN reads exactly its ``seq_length`` (shorter sequences are padded with zeros;
longer ones, e.g. 600-bp ChIP-seq windows, are refused); the MotifBasedFCN backbones
need a motif scanner, which then counts the motifs of every task.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from exprflow.atomic import atomic_path
from exprflow.data.promoter_tasks import TaskData
from exprflow.models.promoter import (
    PromoterBackbone,
    PromoterModel,
    PromoterModelConfig,
    build_promoter_model,
    load_promoter_model,
    save_promoter_model,
)
from exprflow.models.promoter.motif_counts import MotifScanner
from exprflow.training.promoter_fit import LogMetrics, PromoterFitSettings, fit_promoter

__all__ = [
    "KEY_VERSION",
    "Pretrained",
    "check_compatible",
    "model_options",
    "new_model",
    "pretrain_key",
    "pretrain_record",
    "pretrained_backbone",
    "tasks_digest",
]

log = logging.getLogger(__name__)

#: Bumped when the meaning of a cached pretraining changes.
KEY_VERSION = 1
#: Fit settings that do not change the pretrained weights (left out of the key).
_NOT_KEYED = ("threads", "device", "eval_batch_size", "save_top_k")
_SETTINGS_FILE, _FIT_FILE, _MODEL_DIR = "settings.json", "fit.json", "model"


def tasks_digest(tasks: Mapping[str, TaskData]) -> str:
    """SHA-256 of the tasks' specs and arrays (independent of the mapping's order).

    Parameters
    ----------
    tasks : mapping of str to TaskData
        The tasks.

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256()
    for name in sorted(tasks):
        task = tasks[name]
        digest.update(task.spec.to_json().encode())
        arrays = (task.ids, task.codes, task.lengths, task.targets, task.mask, task.splits)
        for array in (*arrays, task.group):
            digest.update(str(array.shape).encode() + np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def pretrain_record(
    backbone: str,
    size: str,
    pretrain_tasks: Sequence[str],
    settings: PromoterFitSettings,
    dataset_digest: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything that determines a pretrained model (``settings.json``), JSON-ready.

    Parameters
    ----------
    backbone, size : str
        The backbone and its size.
    pretrain_tasks : sequence of str
        Pretraining tasks (order does not matter).
    settings : PromoterFitSettings
        The pretraining fit settings (threads, device, evaluation batch and top-k are
        left out: they do not change the weights).
    dataset_digest : str
        Digest of the pretraining data (:func:`tasks_digest`).
    extra : mapping, optional
        Model options (:func:`model_options`).

    Returns
    -------
    dict
    """
    record = {
        "key_version": KEY_VERSION,
        "backbone": backbone,
        "size": size,
        "tasks": sorted(pretrain_tasks),
        "fit": {k: v for k, v in asdict(settings).items() if k not in _NOT_KEYED},
        "dataset_digest": dataset_digest,
        "extra": dict(extra or {}),
    }
    normalised: dict[str, Any] = json.loads(json.dumps(record, sort_keys=True))
    return normalised


def pretrain_key(
    backbone: str,
    size: str,
    pretrain_tasks: Sequence[str],
    settings: PromoterFitSettings,
    dataset_digest: str,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Cache key of a pretraining: 20 hex digits of the SHA-256 of :func:`pretrain_record`.

    Parameters
    ----------
    backbone, size, pretrain_tasks, settings, dataset_digest, extra
        As :func:`pretrain_record`.

    Returns
    -------
    str
    """
    record = pretrain_record(backbone, size, pretrain_tasks, settings, dataset_digest, extra)
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


def model_options(
    seq_length: int, norm: str = "", scanner: MotifScanner | None = None
) -> dict[str, Any]:
    """The model options a pretraining depends on besides backbone and size.

    Parameters
    ----------
    seq_length : int
        Length the backbone is built for (PureCNN's flatten).
    norm : str, optional
        CNN-block norm override.
    scanner : MotifScanner, optional
        Motif scanner (its motif names and thresholds are hashed).

    Returns
    -------
    dict
    """
    options: dict[str, Any] = {"seq_length": seq_length, "norm": norm, "motifs": ""}
    if scanner is not None:
        motifs = hashlib.sha256(json.dumps(list(scanner.names)).encode())
        motifs.update(np.asarray(scanner.thresholds, dtype=np.float64).tobytes())
        options["motifs"] = motifs.hexdigest()
    return options


def check_compatible(
    backbone: PromoterBackbone,
    name: str,
    tasks: Mapping[str, TaskData],
    scanner: MotifScanner | None,
) -> None:
    """ValueError naming the backbone and the task when one cannot read the other.

    Parameters
    ----------
    backbone : PromoterBackbone
        The built backbone.
    name : str
        Its name, for the message.
    tasks : mapping of str to TaskData
        The tasks it will train on.
    scanner : MotifScanner, optional
        The motif scanner (needed by motif-count backbones).
    """
    if backbone.input_kind == "motif_counts" and scanner is None:
        raise ValueError(
            f"{name} reads motif counts; tasks {sorted(tasks)} need a motif scanner "
            "(a MEME motif file or the JASPAR motifs)"
        )
    fixed = backbone.fixed_length
    for task_name, task in tasks.items():
        longest = int(task.lengths.max()) if len(task.lengths) else 0
        if backbone.input_kind == "onehot" and fixed is not None and longest > fixed:
            raise ValueError(
                f"{name} reads sequences of exactly {fixed} bp, but task {task_name} has "
                f"sequences of up to {longest} bp; leave {task_name} out for {name} or "
                "pick another backbone"
            )


def new_model(
    config: PromoterModelConfig, tasks: Mapping[str, TaskData], scanner: MotifScanner | None
) -> PromoterModel:
    """A freshly initialised model of ``config`` (seeded by the caller), checked against tasks.

    Parameters
    ----------
    config : PromoterModelConfig
        Backbone, size, options, heads and head style.
    tasks : mapping of str to TaskData
        The tasks it will train on (:func:`check_compatible`).
    scanner : MotifScanner, optional
        Motif scanner of a motif-count backbone.

    Returns
    -------
    PromoterModel
    """
    model = build_promoter_model(config)
    check_compatible(model.backbone, config.backbone, tasks, scanner)
    return model


@dataclass
class Pretrained:
    """A pretrained model from the cache.

    Attributes
    ----------
    model : PromoterModel
        Backbone with the pretraining heads, freshly loaded from the cache (eval mode, CPU).
    config : PromoterModelConfig
        Its config.
    key : str
        The cache key.
    folder : Path
        ``<cache_dir>/<key>``.
    reused : bool
        Whether it was in the cache already.
    """

    model: PromoterModel
    config: PromoterModelConfig
    key: str
    folder: Path
    reused: bool


def _cached(folder: Path, record: dict[str, Any]) -> bool:
    """Whether ``folder`` holds a pretraining of exactly ``record``."""
    path = folder / _SETTINGS_FILE
    if not path.is_file() or not (folder / _MODEL_DIR).is_dir():
        return False
    try:
        same = bool(json.loads(path.read_text()) == record)
    except (OSError, json.JSONDecodeError):
        same = False
    if not same:
        log.warning("%s holds other pretraining settings; pretraining again", folder)
    return same


def pretrained_backbone(
    config: PromoterModelConfig,
    tasks: Mapping[str, TaskData],
    settings: PromoterFitSettings,
    cache_dir: str | Path,
    *,
    scanner: MotifScanner | None = None,
    log_metrics: LogMetrics | None = None,
) -> Pretrained:
    """Pretrain ``config`` on ``tasks`` (all trained together), or reuse the cached fit.

    Parameters
    ----------
    config : PromoterModelConfig
        Backbone, size, options; ``heads`` are replaced by one linear head per task.
    tasks : mapping of str to TaskData
        The pretraining tasks (their data is hashed into the key).
    settings : PromoterFitSettings
        The pretraining fit (monitor: ``overall_val_loss`` unless set).
    cache_dir : str or Path
        The cache folder.
    scanner : MotifScanner, optional
        Motif scanner of a motif-count backbone.
    log_metrics : callable, optional
        Per-epoch metrics of a new pretraining (see :func:`fit_promoter`).

    Returns
    -------
    Pretrained
    """
    names = sorted(tasks)
    heads = {name: tasks[name].spec.n_logits for name in names}
    config = replace(config, heads=heads, head_style="linear")
    options = model_options(config.seq_length, config.norm, scanner)
    digest = tasks_digest(tasks)
    record = pretrain_record(config.backbone, config.size, names, settings, digest, options)
    key = pretrain_key(config.backbone, config.size, names, settings, digest, options)
    folder = Path(cache_dir) / key
    reused = _cached(folder, record)
    if not reused:
        _pretrain(
            config, {n: tasks[n] for n in names}, settings, folder, record, scanner, log_metrics
        )
    model, saved = load_promoter_model(folder / _MODEL_DIR)
    log.info(
        "pretraining %s on %s: %s (%s)", config.backbone, names, key, "reused" if reused else "new"
    )
    return Pretrained(model, saved, key, folder, reused)


def _pretrain(
    config: PromoterModelConfig,
    tasks: Mapping[str, TaskData],
    settings: PromoterFitSettings,
    folder: Path,
    record: dict[str, Any],
    scanner: MotifScanner | None,
    log_metrics: LogMetrics | None,
) -> None:
    """Fit and write the cache folder atomically."""
    L.seed_everything(settings.seed, workers=True, verbose=False)
    model = new_model(config, tasks, scanner)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".ckpt-") as checkpoints:
        fit = fit_promoter(
            model,
            tasks,
            settings,
            checkpoint_dir=checkpoints,
            scanner=scanner,
            log_metrics=log_metrics,
        )
    summary = {
        "best_epoch": fit.best_epoch,
        "monitor": fit.monitor,
        "loss_weights": fit.loss_weights,
        "test": fit.test,
        "history": fit.history,
        "seconds": fit.seconds,
    }
    with atomic_path(folder) as tmp:
        save_promoter_model(fit.model, config, tmp / _MODEL_DIR)
        (tmp / _FIT_FILE).write_text(json.dumps(summary, indent=1, default=float))
        (tmp / _SETTINGS_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
