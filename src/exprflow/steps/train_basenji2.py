"""Entry point ``train_basenji2``: train a Basenji2 model on chromatin tracks, as published.

A synthetic genome has no released Basenji2 weights, and probe heads on a random trunk
learn little. So, as Basenji2 was trained on 5,313 chromatin and CAGE tracks before it
was frozen and probed, this step trains the model ``params`` describes (empty: the
packaged tiny params, 131,072 bp → 896 bins × 64 channels) to predict every label
track at once; ``embed_basenji2`` then embeds with the trained trunk. Training is
:func:`exprflow.training.basenji2.train_basenji2`: Poisson loss on each track divided by
its training-fold mean, NaN bins skipped, Adam (or Basenji2's SGD, momentum 0.99, clip
norm 2: ``-P optimizer=sgd -P lr=0.15``), early stopping on the validation loss with the
best epoch's weights kept.

Inputs (empty: from ``world``):
    ``fasta``; ``regions`` a ``sequences.bed`` (chrom, start, end, fold; ``train``
    regions train, ``valid`` regions validate; each ``seq_length`` long);
    ``targets`` a label targets table in Basenji's ``targets.txt`` layout
    (:mod:`exprflow.data.label_targets`; empty: the world's chromatin marks, every
    ``tracks/<eid>/<mark>.bigWig`` but lamina and CpG methylation, ``mean`` per bin);
    ``params`` a Basenji params JSON (its head's units are set to the number of tracks).
Labels are built at the model's bin size and crop into ``<data root>/train_basenji2/
labels/<key>`` (:func:`exprflow.data.basenji_labels.prepare_labels`) and reused while
the regions, targets and track files are unchanged.

Outputs (run artifacts under ``basenji2/``):
    ``params`` — ``runs:/<id>/basenji2/params.json``: Basenji params (``model`` with
    head units = tracks, ``train``) and an ``exprflow`` section (track names and
    normalisation means, label geometry, best epoch, inputs);
    ``weights`` — ``runs:/<id>/basenji2/model.h5``: the legacy full-model Keras HDF5
    of ``model_human.h5``'s layout, read back and checked before it is logged;
    also ``basenji2/targets.txt`` (the tracks, in head order).
Metrics per epoch (step = epoch): ``train_loss``, ``valid_loss``, ``train_pearson``,
``valid_pearson`` (mean per-track Pearson over the validation bins), ``epoch_seconds``;
at the end ``best_epoch``, ``best_valid_loss``, ``best_valid_pearson``,
``seconds_per_epoch``, ``labels_seconds``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow

from exprflow.data.basenji_labels import prepare_labels
from exprflow.data.label_targets import LabelTarget, read_label_targets
from exprflow.data.regions import read_regions
from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.models.basenji2.config import TINY_PARAMS, Basenji2Config
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import StepContext, step_run
from exprflow.tracking.store import data_root
from exprflow.tracking.uris import local_path
from exprflow.training.basenji2_data import fold_rows, label_geometry, world_mark_targets

if TYPE_CHECKING:
    from exprflow.training.basenji2 import Basenji2Fit, EpochStats

__all__ = ["ARTIFACTS", "LABELS_ROOT", "STEP", "TrainBasenji2Params", "main", "run"]

log = logging.getLogger(__name__)

#: Folder of keyed label folders under the data root.
LABELS_ROOT = "train_basenji2/labels"
#: Artifact folder of the saved model.
ARTIFACTS = "basenji2"
_FROM_WORLD = {"fasta": "fasta", "regions": "sequences_bed"}


@dataclass(frozen=True)
class TrainBasenji2Params:
    """Parameters of the ``train_basenji2`` step."""

    world: str = field(default="", metadata={"help": "synthetic world folder (world.json)"})
    fasta: str = field(default="", metadata={"help": "genome FASTA; empty: the world's"})
    regions: str = field(default="", metadata={"help": "sequences.bed; empty: the world's"})
    targets: str = field(
        default="", metadata={"help": "targets.txt-layout table; empty: the world's marks"}
    )
    params: str = field(default="", metadata={"help": "Basenji params JSON; empty: tiny"})
    epochs: int = field(default=4, metadata={"help": "most training epochs"})
    min_updates: int = field(
        default=40, metadata={"help": "at least this many optimizer steps (more epochs)"}
    )
    batch_size: int = field(default=4, metadata={"help": "regions per step (published 4)"})
    optimizer: str = field(
        default="adam", metadata={"help": "adam, or sgd (published: momentum 0.99, clip 2)"}
    )
    lr: float = field(default=1e-3, metadata={"help": "learning rate (published SGD: 0.15)"})
    patience: int = field(
        default=4, metadata={"help": "epochs without a lower valid loss before stopping"}
    )
    seed: int = field(default=0, metadata={"help": "initialisation and shuffling seed"})
    precision: str = field(
        default="auto", metadata={"help": "auto, float32, mixed_float16, mixed_bfloat16"}
    )
    xla: str = field(default="auto", metadata={"help": "XLA compile: auto (GPU), true, false"})


STEP = StepSpec(
    name="train_basenji2",
    params=TrainBasenji2Params,
    family="basenji2",
    task="trunk",
    outputs=("params", "weights"),
    upstream={
        "world": ("simulate", "world"),
        "fasta": ("prepare", "fasta"),
        "regions": ("prepare", "regions"),
    },
    runtime="tensorflow",
)


def _targets(ctx: StepContext, params: TrainBasenji2Params) -> list[LabelTarget]:
    """The label targets: the table given, else the world's chromatin marks."""
    if params.targets:
        return read_label_targets(ctx.log_input("targets", params.targets))
    if not params.world:
        raise InputError(
            "train_basenji2 parameters",
            "no targets table given and no world to take the chromatin marks from.",
            fix="pass -P targets=<targets.txt> or -P world=<folder>.",
        )
    return world_mark_targets(local_path(params.world))


def _log_epoch(stats: EpochStats) -> None:
    """Log one epoch's metrics at step = epoch."""
    metrics = {
        "train_loss": stats.train_loss,
        "valid_loss": stats.valid_loss,
        "train_pearson": stats.train_pearson,
        "valid_pearson": stats.valid_pearson,
        "epoch_seconds": stats.seconds,
    }
    mlflow.log_metrics(metrics, step=stats.epoch)


def _log_result(fit: Basenji2Fit) -> None:
    best = fit.history[fit.best_epoch - 1]
    mlflow.log_metrics(
        {
            "best_epoch": fit.best_epoch,
            "best_valid_loss": best.valid_loss,
            "best_valid_pearson": best.valid_pearson,
            "seconds_per_epoch": sum(s.seconds for s in fit.history) / len(fit.history),
        }
    )


def run(params: TrainBasenji2Params) -> dict[str, str]:
    """Train the model; log it; return the step's outputs (``params``, ``weights``)."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        params = fill_from_world(params, _FROM_WORLD, STEP.name)
        fasta = ctx.log_input("fasta", params.fasta)
        regions_path = ctx.log_input("regions", params.regions)
        params_path = ctx.log_input("params", params.params) if params.params else TINY_PARAMS
        config = Basenji2Config.from_params(params_path)
        targets = _targets(ctx, params)
        with Genome(fasta) as genome:
            regions = read_regions(regions_path, contigs=genome.contigs, length=config.seq_length)
        for fold in ("train", "valid"):  # before the labels are built
            fold_rows(regions, fold, str(regions_path))
        bin_size, crop_bp = label_geometry(config)
        labels = prepare_labels(regions, targets, data_root() / LABELS_ROOT, bin_size=bin_size,
                                crop_bp=crop_bp, source=str(regions_path))  # fmt: skip
        folds = regions["fold"].value_counts()
        mlflow.log_params({"n_tracks": len(targets), "n_train": int(folds.get("train", 0)),
                           "n_valid": int(folds.get("valid", 0))})  # fmt: skip
        mlflow.log_metric("labels_seconds", labels.seconds)
        mlflow.set_tag("exprflow.labels", str(labels.path))
        # TensorFlow loads only when the step runs: the registry imports every step module.
        from exprflow.models.basenji2.trunk import resolve_runtime
        from exprflow.training.basenji2 import save_basenji2, train_basenji2

        placement = resolve_runtime(params.precision, params.xla)
        log.info("training on %s (%s, xla=%s): %d tracks, %d regions", placement.device,
                 placement.precision, placement.xla, len(targets), len(regions))  # fmt: skip
        started = time.perf_counter()
        fit = train_basenji2(
            config, fasta, regions, labels.path, epochs=params.epochs,
            min_updates=params.min_updates,
            batch_size=params.batch_size, optimizer=params.optimizer, lr=params.lr,
            patience=params.patience, seed=params.seed, precision=placement.precision,
            xla=placement.xla, source=str(regions_path), on_epoch=_log_epoch,
        )  # fmt: skip
        _log_result(fit)
        data = {
            "fasta": ctx.inputs["fasta"],
            "regions": ctx.inputs["regions"],
            "bin_size": bin_size,
            "crop_bp": crop_bp,
            "seed": params.seed,
            "precision": placement.precision,
            "train_seconds": time.perf_counter() - started,
        }
        with tempfile.TemporaryDirectory() as tmp:
            saved = save_basenji2(fit, Path(tmp), targets, data)
            ctx.log_artifact_output("params", saved.params, ARTIFACTS)
            ctx.log_artifact_output("weights", saved.weights, ARTIFACTS)
            mlflow.log_artifact(str(saved.targets), ARTIFACTS)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(TrainBasenji2Params, argv, prog="train_basenji2"))


if __name__ == "__main__":
    main()
