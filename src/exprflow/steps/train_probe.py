"""Entry point ``train_probe``: probe heads on frozen Basenji2 embeddings, searched and registered.

For each head of ``head`` (one name, a comma-separated list, or ``all``: the linear probe,
the conv1d and max-pool perceptrons and the transformer of
:mod:`exprflow.models.probes`), an Optuna search (:mod:`exprflow.training.probe_search`)
trains ``n_trials`` configurations on the ``train`` fold, each a nested MLflow run
validated on ``valid`` every epoch. The best trial's head is then evaluated on ``valid``
and ``test`` (:mod:`exprflow.evaluation.probe_eval`: per-track Pearson and Spearman, the
pooled figures beside them, tables and plots), logged as an MLflow pyfunc model with a
signature and an input example (:mod:`exprflow.models.probes.pyfunc`) and registered as
``basenji2-probe-<head>``.

Run tree: with one head the step's run is the search's parent; with several, each head
has a child run (named after it) that parents its trials. The parent of a search carries
the best trial's parameters (``best.<name>``), ``best_trial``, ``best_valid_pearson``,
the valid and test metrics, the tables and plots (``evaluation/``) and the model.

Inputs (from ``main``: ``embed_basenji2``'s embeddings, ``prepare``'s labels):
``embeddings`` — local or ``s3://`` (streamed, never downloaded whole); ``labels`` — the
labels HDF5 of the same regions. Sizes: ``model_size`` ``auto`` takes the published
sizes for 1536-channel embeddings and the tiny ones otherwise.

Search storage: ``storage`` (any Optuna storage URL; empty: SQLite in the work folder
``<data root>/train_probe/<key>``, keyed by the inputs' content and the settings) and
``study_name`` (empty: ``basenji2-probe-<head>-<key>``). A rerun resumes the study;
several runs with one server database and study name search together.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import mlflow

from exprflow.embedding.reader import EmbeddingFile
from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_flag, parse_params, setup_logging, split_list
from exprflow.storage.range_file import S3RangeFile
from exprflow.tracking.fingerprint import fingerprint
from exprflow.tracking.step import StepContext, step_run, step_tags
from exprflow.tracking.store import data_root

__all__ = ["STEP", "TrainProbeParams", "main", "registered_name", "run"]

log = logging.getLogger(__name__)

#: Folder of search work folders under the data root.
WORK_ROOT = "train_probe"
_HEADS = ("linear_probe", "conv_perceptron", "maxpool_perceptron", "transformer")


@dataclass(frozen=True)
class TrainProbeParams:
    """Parameters of the ``train_probe`` step."""

    embeddings: str = field(default="", metadata={"help": "embeddings HDF5 (path or s3://)"})
    labels: str = field(default="", metadata={"help": "labels HDF5 written by prepare"})
    head: str = field(
        default="all", metadata={"help": f"'all' or comma-separated of {', '.join(_HEADS)}"}
    )
    tracks: str = field(default="", metadata={"help": "comma-separated tracks; empty: all"})
    model_size: str = field(default="auto", metadata={"help": "auto, tiny or published"})
    n_trials: int = field(default=2, metadata={"help": "finished trials the study should hold"})
    workers: int = field(default=1, metadata={"help": "search processes on this machine"})
    max_epochs: int = field(default=15, metadata={"help": "most epochs per trial"})
    patience: int = field(default=4, metadata={"help": "early-stopping patience (epochs)"})
    precision: str = field(default="auto", metadata={"help": "auto, 32-true, 16-mixed, …"})
    num_workers: int = field(default=0, metadata={"help": "data-loading processes"})
    cache_mb: int = field(default=2048, metadata={"help": "per-fold decoded cache (MB)"})
    storage: str = field(default="", metadata={"help": "Optuna storage URL; empty: SQLite"})
    study_name: str = field(default="", metadata={"help": "Optuna study; empty: keyed"})
    register: str = field(default="true", metadata={"help": "'true': register each model"})
    seed: int = field(default=0, metadata={"help": "seed of sampler, weights and batches"})


STEP = StepSpec(
    name="train_probe",
    params=TrainProbeParams,
    family="basenji2",
    task="probe",
    outputs=_HEADS,
    upstream={"embeddings": ("embed_basenji2", "embeddings"), "labels": ("prepare", "labels")},
)


def registered_name(head: str) -> str:
    """The Model Registry name of a head: ``basenji2-probe-<head>``."""
    return f"basenji2-probe-{head}"


def _heads(text: str) -> list[str]:
    """The heads asked for, checked."""
    heads = list(_HEADS) if text.strip() == "all" else split_list(text)
    unknown = [h for h in heads if h not in _HEADS]
    if unknown or not heads:
        raise InputError(
            "argument head",
            f"{text!r} names no head or unknown head(s) {unknown}.",
            fix=f"use 'all' or a comma-separated list of {list(_HEADS)}.",
        )
    return heads


def _check(params: TrainProbeParams) -> None:
    """Refuse bad settings before any work."""
    if params.model_size not in ("auto", "tiny", "published"):
        raise InputError(
            "argument model_size", f"{params.model_size!r}.", fix="use auto, tiny or published."
        )
    for name in ("n_trials", "workers", "max_epochs", "patience"):
        if getattr(params, name) < 1:
            raise InputError(f"argument {name}", f"{name}={getattr(params, name)}; need >= 1.")
    for name in ("embeddings", "labels"):
        if not getattr(params, name):
            raise InputError(f"argument {name}", "is empty.", fix=f"pass -P {name}=<file>.")


def _record_inputs(ctx: StepContext, params: TrainProbeParams) -> tuple[str, str, str]:
    """Record both inputs (S3 embeddings streamed, not fetched); return them and a content key."""
    if params.embeddings.startswith("s3://"):
        with S3RangeFile(params.embeddings) as remote:
            digest = remote.etag.strip('"')
        embeddings = ctx.log_streamed_input("embeddings", params.embeddings, digest)
    else:
        embeddings = str(ctx.log_input("embeddings", params.embeddings))
        digest = fingerprint(embeddings)  # memoised: hashed once by log_input
    labels = str(ctx.log_input("labels", params.labels))
    return embeddings, labels, f"{digest}:{fingerprint(labels)}"


def run(params: TrainProbeParams) -> dict[str, str]:
    """Search, evaluate, log and register each head; return the step's outputs."""
    # Lightning and Optuna take seconds to import; the registry imports every step module.
    from exprflow.steps import _probe_heads
    from exprflow.training.probe_search import SearchJob

    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        _check(params)
        heads = _heads(params.head)
        embeddings, labels, content = _record_inputs(ctx, params)
        tracks = tuple(split_list(params.tracks)) or None
        register = parse_flag("register", params.register)
        with EmbeddingFile(embeddings) as emb:
            _, bins, channels = emb.shape
        for head in heads:
            key = _key(content, head, tracks, params)
            work = data_root() / WORK_ROOT / key
            work.mkdir(parents=True, exist_ok=True)
            job = SearchJob(
                head=head,
                base_config=_probe_heads.base_config(
                    head, params.model_size, (channels, bins), tracks, embeddings, labels
                ).to_json(),
                settings=_settings(params),
                embeddings=embeddings,
                labels=labels,
                tracks=tracks,
                cache_bytes=params.cache_mb << 20,
                storage=params.storage or f"sqlite:///{work / 'study.db'}",
                study_name=params.study_name or f"{registered_name(head)}-{key}",
                parent_run_id=ctx.run_id,
                experiment_id=mlflow.get_run(ctx.run_id).info.experiment_id,
                tracking_uri=mlflow.get_tracking_uri(),
                work_dir=str(work),
                seed=params.seed,
            )
            search = (job, params.n_trials, params.workers, register)
            if len(heads) == 1:
                model_uri = _probe_heads.search_head(*search)
            else:
                with mlflow.start_run(
                    run_name=head,
                    nested=True,
                    tags=step_tags(STEP.name, STEP.family, STEP.task) | {"exprflow.head": head},
                ):
                    model_uri = _probe_heads.search_head(*search)
            ctx.log_output(head, model_uri)  # on the step's run, once the head's has ended
        return ctx.outputs


def _settings(params: TrainProbeParams) -> dict[str, object]:
    """The training settings the search does not draw."""
    return {
        "max_epochs": params.max_epochs,
        "patience": params.patience,
        "precision": params.precision,
        "num_workers": params.num_workers,
        "seed": params.seed,
    }


def _key(content: str, head: str, tracks: tuple[str, ...] | None, p: TrainProbeParams) -> str:
    """Work-folder key: inputs' content, head, tracks, size and training settings."""
    key = [content, head, tracks, p.model_size, _settings(p)]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(TrainProbeParams, argv, prog="train_probe"))


if __name__ == "__main__":
    main()
