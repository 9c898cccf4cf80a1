"""The work of ``train_probe`` for one head: base sizes, search, evaluation, model logging.

Kept apart from :mod:`exprflow.steps.train_probe` because it imports Lightning and Optuna
(seconds), and the pipeline registry imports every step module: the step imports this
only when it runs.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np

from exprflow.data.probe_data import ProbeData
from exprflow.embedding.reader import EmbeddingFile
from exprflow.errors import InputError
from exprflow.evaluation.probe_eval import evaluate_probe
from exprflow.models.probes.base import ProbeConfig
from exprflow.models.probes.pyfunc import log_probe_model
from exprflow.models.probes.registry import HEADS
from exprflow.models.probes.saved import load_probe
from exprflow.steps.train_probe import registered_name
from exprflow.training.probe_search import TRIAL_ARTIFACT, SearchJob, run_search

__all__ = ["base_config", "search_head"]

log = logging.getLogger(__name__)


def base_config(
    head: str,
    model_size: str,
    shape: tuple[int, int],
    tracks: tuple[str, ...] | None,
    embeddings: str,
    labels: str,
) -> ProbeConfig:
    """The head's base sizes for these embeddings and tracks; checks that the files agree.

    Parameters
    ----------
    head : str
        Key of :data:`HEADS`.
    model_size : {"auto", "tiny", "published"}
        ``auto``: published sizes for 1536-channel embeddings, tiny otherwise.
    shape : tuple of int
        The embeddings' ``(channels, bins)``.
    tracks : tuple of str or None
        Tracks to learn; None for all.
    embeddings, labels : str
        The files (opened once here, so a mismatch fails before any training).

    Returns
    -------
    ProbeConfig

    Raises
    ------
    InputError
        When the files disagree on regions or bins, a track is missing, or published
        sizes are asked for embeddings of another width.
    """
    channels, bins = shape
    spec = HEADS[head]
    with ProbeData(embeddings, labels, fold=None, target=spec.target, tracks=tracks) as data:
        n_tracks = len(data.track_names)
    published = model_size == "published" or (model_size == "auto" and channels == 1536)
    base = spec.config_cls.published() if published else spec.config_cls.tiny(channels)
    if base.channels != channels:
        raise InputError(
            embeddings,
            f"has {channels} channels; the published {head} takes {base.channels}.",
            fix="use model_size=auto or tiny for embeddings of another model.",
        )
    changes = {"tracks": n_tracks} | ({"bins": bins} if hasattr(base, "bins") else {})
    return replace(base, **changes)


def search_head(job: SearchJob, n_trials: int, workers: int, register: bool) -> str:
    """Search under the active run, then evaluate, log and (optionally) register the best.

    Parameters
    ----------
    job : SearchJob
        The search; its ``parent_run_id`` is replaced by the active run's.
    n_trials : int
        Finished trials the study should hold.
    workers : int
        Search processes.
    register : bool
        Register the model as ``basenji2-probe-<head>``.

    Returns
    -------
    str
        The logged model's URI.
    """
    active = mlflow.active_run()
    if active is None:
        raise RuntimeError("search_head needs an active MLflow run")
    job = replace(job, parent_run_id=active.info.run_id)
    mlflow.set_tags({"optuna.study": job.study_name, "optuna.storage": _safe(job.storage)})
    study = run_search(job, n_trials, workers)
    best = study.best_trial
    mlflow.log_params({f"best.{k}": v for k, v in best.params.items()})
    mlflow.log_metrics({"best_trial": best.number, "best_valid_pearson": float(best.value or 0)})
    with tempfile.TemporaryDirectory() as tmp:
        folder = mlflow.artifacts.download_artifacts(
            run_id=best.user_attrs["run_id"], artifact_path=TRIAL_ARTIFACT, dst_path=tmp
        )
        probe = load_probe(folder)
        evaluation = evaluate_probe(
            probe, job.embeddings, job.labels, Path(tmp) / "evaluation", cache_bytes=job.cache_bytes
        )
        mlflow.log_metrics(evaluation.as_metrics())
        mlflow.log_artifacts(str(Path(tmp) / "evaluation"), "evaluation")
        test = evaluation.metrics["test"]
        info = log_probe_model(
            folder,
            input_example=_example(job.embeddings),
            registered_model_name=registered_name(job.head) if register else None,
            metadata={
                "embeddings": job.embeddings,
                "best_trial": best.number,
                "test_pearson": test.mean_pearson,
                "test_pooled_pearson": test.pooled_pearson,
            },
        )
    log.info("%s: test mean per-track Pearson %.3f (pooled %.3f)", job.head,
             test.mean_pearson, test.pooled_pearson)  # fmt: skip
    return info.model_uri


def _example(embeddings: str) -> np.ndarray:
    """The first test region's embedding as a model input, ``(1, channels, bins)`` float32."""
    with EmbeddingFile(embeddings) as emb:
        rows = np.flatnonzero(emb.regions["fold"].to_numpy() == "test")
        region = emb.region(int(rows[0]) if rows.size else 0)
    return np.ascontiguousarray(region.T[None], dtype=np.float32)


def _safe(storage: str) -> str:
    """A storage URL without its password (``scheme://***@host/db``)."""
    if "@" not in storage or "://" not in storage:
        return storage
    scheme, rest = storage.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
