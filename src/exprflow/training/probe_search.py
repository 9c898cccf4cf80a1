"""Optuna search over a probe head's training, each trial a nested MLflow run.

**Space** (:data:`SPACES`, one per head): learning rate (log-uniform), weight decay
(log-uniform), batch size, the head's width and its dropout. Width is searched as a
multiple of the base config's (``hidden`` of the perceptrons, the feed-forward
``expansion`` of the transformer), so the same space fits the tiny and the published
sizes. The linear probe has neither: it is one 1×1 convolution, so only the optimiser's
settings are searched.

**Objective**: the best epoch's validation mean per-track Pearson (``valid_pearson``;
the epoch kept is the one of lowest validation loss), maximised. Each epoch reports
``valid_pearson`` to the trial and a median pruner stops trials below the median of
earlier ones at the same epoch (after ``warmup`` epochs).

**Trials as runs**: a trial is a child run of ``parent_run_id`` (tags
``mlflow.parentRunId``, ``optuna.trial``, ``optuna.study``), logging its parameters,
per-epoch metrics and its trained head (folder of :mod:`exprflow.models.probes.saved`,
artifact ``probe/``); the trial keeps the run id as user attribute ``run_id``.

**Storage and workers**: any Optuna storage URL — ``sqlite:///…`` by default, a server
database (``postgresql://…``) for workers on several machines. ``n_trials`` is the size
the study should reach: a run adds only the trials still missing (a killed search
resumes where it stopped), split over ``workers`` processes on this machine, each with
its own sampler seed. Several runs on one study may overshoot by the trials they start
at the same moment. RDB storages get a heartbeat, so a trial of a killed process is
marked failed (and retried once) instead of running forever.
"""

from __future__ import annotations

import logging
import multiprocessing
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import optuna
from lightning.pytorch.callbacks import Callback
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from exprflow.data.probe_data import ProbeData
from exprflow.models.probes.base import ProbeConfig
from exprflow.models.probes.registry import HEADS, config_from_json
from exprflow.models.probes.saved import save_probe
from exprflow.training.probe_loop import TrainSettings, fit_probe

__all__ = [
    "SPACES",
    "SearchJob",
    "SearchSpace",
    "finished_trials",
    "open_study",
    "run_search",
    "suggest",
]

log = logging.getLogger(__name__)

#: Artifact folder of a trial's trained head.
TRIAL_ARTIFACT = "probe"
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class SearchSpace:
    """What is searched for one head.

    Attributes
    ----------
    lr : tuple of float
        Log-uniform learning-rate range.
    weight_decay : tuple of float
        Log-uniform weight-decay range.
    batch_size : tuple of int
        Batch sizes to choose from.
    width_field : str or None
        Config field scaled by ``width_factors``; None when the head has no width.
    width_factors : tuple of float
        Multiples of the base config's ``width_field``.
    dropout_field : str or None
        Config field of the dropout probability; None when the head has none.
    dropout : tuple of float
        Uniform dropout range.
    """

    lr: tuple[float, float] = (1e-4, 3e-2)
    weight_decay: tuple[float, float] = (1e-6, 1e-1)
    batch_size: tuple[int, ...] = (4, 8, 16, 32)
    width_field: str | None = None
    width_factors: tuple[float, ...] = (0.5, 1.0, 2.0)
    dropout_field: str | None = None
    dropout: tuple[float, float] = (0.0, 0.5)


#: The space of each head.
SPACES: dict[str, SearchSpace] = {
    "linear_probe": SearchSpace(lr=(1e-3, 1e-1)),
    "conv_perceptron": SearchSpace(width_field="hidden", dropout_field="dropout"),
    "maxpool_perceptron": SearchSpace(width_field="hidden", dropout_field="dropout"),
    "transformer": SearchSpace(
        lr=(1e-5, 3e-3),
        width_field="expansion",
        width_factors=(0.5, 1.0, 2.0),
        dropout_field="dropout",
    ),
}


def suggest(
    trial: optuna.Trial, space: SearchSpace, base: ProbeConfig, settings: TrainSettings
) -> tuple[ProbeConfig, TrainSettings]:
    """Draw one trial's config and training settings from ``space``.

    Parameters
    ----------
    trial : optuna.Trial
        The trial (its parameters: ``lr``, ``weight_decay``, ``batch_size`` and, where
        the head has them, ``width_factor`` and ``dropout``).
    space : SearchSpace
        The head's space.
    base : ProbeConfig
        Sizes the width factor multiplies.
    settings : TrainSettings
        Everything not searched (epochs, patience, precision, seed).

    Returns
    -------
    tuple of (ProbeConfig, TrainSettings)
    """
    settings = replace(
        settings,
        lr=trial.suggest_float("lr", *space.lr, log=True),
        weight_decay=trial.suggest_float("weight_decay", *space.weight_decay, log=True),
        batch_size=trial.suggest_categorical("batch_size", space.batch_size),
    )
    changes: dict[str, Any] = {}
    if space.width_field is not None:
        factor = trial.suggest_categorical("width_factor", space.width_factors)
        changes[space.width_field] = max(1, round(getattr(base, space.width_field) * factor))
    if space.dropout_field is not None:
        changes[space.dropout_field] = trial.suggest_float("dropout", *space.dropout)
    return replace(base, **changes), settings


class PruneOnEpoch(Callback):
    """Report each epoch's ``valid_pearson`` to the trial; stop the trial when pruned."""

    def __init__(self, trial: optuna.Trial, monitor: str = "valid_pearson") -> None:
        self.trial, self.monitor = trial, monitor

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Report, then raise :class:`optuna.TrialPruned` when the pruner says so."""
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        epoch = trainer.current_epoch + 1
        self.trial.report(float(trainer.callback_metrics[self.monitor]), epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")


@dataclass(frozen=True)
class SearchJob:
    """Everything a search worker needs (picklable: workers are spawned processes).

    Attributes
    ----------
    head : str
        Key of :data:`HEADS`.
    base_config : str
        The base config's JSON.
    settings : dict
        :class:`TrainSettings` fields not searched.
    embeddings, labels : str
        The files (:class:`~exprflow.data.probe_data.ProbeData`).
    tracks : tuple of str or None
        Tracks to learn; None for all.
    cache_bytes : int
        Per-fold cache (see ``ProbeData``).
    storage : str
        Optuna storage URL.
    study_name : str
        The study.
    parent_run_id : str
        MLflow run the trials nest under.
    experiment_id : str
        Its experiment (spawned workers have no active experiment).
    tracking_uri : str
        The tracking server or store (spawned workers set it).
    work_dir : str
        Where trial checkpoints go.
    warmup : int
        Epochs before pruning may stop a trial.
    seed : int
        Base sampler seed: worker ``i`` of a run that finds ``d`` finished trials uses
        ``seed + 1000 d + i``.
    """

    head: str
    base_config: str
    settings: Mapping[str, Any]
    embeddings: str
    labels: str
    tracks: tuple[str, ...] | None
    cache_bytes: int
    storage: str
    study_name: str
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    work_dir: str
    warmup: int = 2
    seed: int = 0


def _storage(url: str) -> str | RDBStorage:
    """An RDB storage with heartbeats (and a lock timeout for SQLite), else the URL."""
    if "://" not in url:
        return url
    connect = {"timeout": 60} if url.startswith("sqlite") else {}
    return RDBStorage(
        url,
        engine_kwargs={"connect_args": connect},
        heartbeat_interval=60,
        grace_period=180,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
    )


def open_study(job: SearchJob, stream: int = 0) -> optuna.Study:
    """Create or load the job's study (maximising), with a TPE sampler and median pruner.

    ``stream`` picks the sampler's seed (``job.seed + stream``): each worker of each run
    draws its own sequence, so a resumed search does not repeat earlier draws.
    """
    return optuna.create_study(
        study_name=job.study_name,
        storage=_storage(job.storage),
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=job.seed + stream),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=job.warmup),
    )


def finished_trials(study: optuna.Study) -> int:
    """Trials that completed or were pruned."""
    return len(study.get_trials(deepcopy=False, states=_FINISHED))


class _Objective:
    """One worker's objective: train a trial's head in a nested MLflow run."""

    def __init__(self, job: SearchJob) -> None:
        self.job = job
        self.base = config_from_json(job.base_config)
        self.settings = TrainSettings(**job.settings)
        target = HEADS[job.head].target
        self.folds = {
            fold: ProbeData(
                job.embeddings,
                job.labels,
                fold=fold,
                target=target,
                tracks=job.tracks,
                cache_bytes=job.cache_bytes,
            )
            for fold in ("train", "valid")
        }

    def __call__(self, trial: optuna.Trial) -> float:
        config, settings = suggest(trial, SPACES[self.job.head], self.base, self.settings)
        tags = {"optuna.study": self.job.study_name, "optuna.trial": str(trial.number)}
        with mlflow.start_run(
            experiment_id=self.job.experiment_id,
            run_name=f"{self.job.head}-trial-{trial.number}",
            parent_run_id=self.job.parent_run_id,
            nested=True,
            tags=tags,
        ) as run:
            trial.set_user_attr("run_id", run.info.run_id)
            mlflow.log_params({**trial.params, **asdict(settings), **_prefixed(config)})
            try:
                fit = fit_probe(
                    self.job.head,
                    config,
                    self.folds["train"],
                    self.folds["valid"],
                    settings,
                    Path(self.job.work_dir) / f"trial-{trial.number}",
                    callbacks=[PruneOnEpoch(trial)],
                )
            except optuna.TrialPruned:
                mlflow.set_tag("optuna.state", "PRUNED")
                raise
            best = fit.best
            mlflow.log_metrics(
                {
                    "best_epoch": best.epoch,
                    "best_valid_loss": best.valid_loss,
                    "best_valid_pearson": best.valid_pearson,
                    "best_valid_spearman": best.valid_spearman,
                }
            )
            mlflow.set_tag("optuna.state", "COMPLETE")
            with tempfile.TemporaryDirectory() as tmp:
                folder = save_probe(
                    Path(tmp) / TRIAL_ARTIFACT,
                    fit.task.model,
                    config,
                    self.folds["train"].track_names,
                )
                mlflow.log_artifacts(str(folder), TRIAL_ARTIFACT)
            return best.valid_pearson


def _prefixed(config: ProbeConfig) -> dict[str, Any]:
    """The config's fields as ``config.<field>`` parameters."""
    return {f"config.{k}": v for k, v in config.to_dict().items()}


def _work(job: SearchJob, stream: int, n_trials: int) -> None:
    """One worker: add ``n_trials`` trials to the study."""
    if n_trials < 1:
        return
    mlflow.set_tracking_uri(job.tracking_uri)
    study = open_study(job, stream)
    objective = _Objective(job)
    try:
        study.optimize(objective, n_trials=n_trials, catch=())
    finally:
        for data in objective.folds.values():
            data.close()


def run_search(job: SearchJob, n_trials: int, workers: int = 1) -> optuna.Study:
    """Bring the study to ``n_trials`` finished trials with ``workers`` processes.

    Parameters
    ----------
    job : SearchJob
        The search.
    n_trials : int
        Finished (complete or pruned) trials the study should hold.
    workers : int, optional
        Processes on this machine; 1 runs the trials in this process. Default 1.

    Returns
    -------
    optuna.Study
        The study, reloaded after the workers finished.

    Raises
    ------
    RuntimeError
        When a worker process fails.
    """
    study = open_study(job)
    done = finished_trials(study)
    missing = max(0, n_trials - done)
    workers = max(1, min(workers, missing)) if missing else 1
    shares = [missing // workers + (i < missing % workers) for i in range(workers)]
    log.info("study %s: %d trials to add over %d worker(s)", job.study_name, missing, workers)
    if workers == 1:
        _work(job, 1000 * done, missing)
    else:
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(
                target=_work, args=(job, 1000 * done + i, share), name=f"search-worker-{i}"
            )
            for i, share in enumerate(shares)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        failed = [p.name for p in processes if p.exitcode != 0]
        if failed:
            raise RuntimeError(f"search worker(s) {failed} failed; see their log above")
    return open_study(job)
