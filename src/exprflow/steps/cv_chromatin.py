"""Entry point ``cv_chromatin``: histone marks → expression, 4-fold chromosome cross-validation.

For every configuration of the grid (:mod:`exprflow.steps._chromatin_grid`: model —
the promoter CNN ChromExpress and the distal Chromoformer — × task × cell type × mark
set) the model is trained on each chromosome fold (:mod:`exprflow.data.chromatin_folds`).
Run tree: the step's run parents one run per configuration (tags ``exprflow.model``,
``exprflow.cell_type``, ``exprflow.marks``, …; the mean test metrics over folds and the
pooled out-of-fold ones), which parents one run per fold (test metrics, the epoch
history, split sizes). The step's run gets the cross-validation report
(:mod:`exprflow.evaluation.chromatin_report`: ``cv/summary.csv``, ``folds.csv``,
``ranking.csv``, cell × mark heatmaps, ``summary.md``) and the mark activity in the
models' receptive fields (:mod:`exprflow.evaluation.chromatin_activity`, ``activity/``).

The best configuration of each model × task (highest pooled out-of-fold Pearson r, or
AUROC) is logged as a pyfunc — the ensemble of its four fold models
(:mod:`exprflow.models.chromatin_pyfunc`) — and registered as
``chromatin-<model>-<task>``.

Training (:mod:`exprflow.training.chromatin_fit`): MSE on log2(RPKM + 1) or cross-entropy
on the above-median label, ReduceLROnPlateau (0.2, 3), early stopping after ``patience``
epochs with the best weights restored, batch 64; Adam for the CNN, AdamW for Chromoformer
(epi_to_express). Defaults fit a CPU and a world of ~150 genes: both models ``tiny``
(Chromoformer ``published`` needs a GPU), and a CNN epoch of at least ``cnn_min_steps``
optimiser steps — with a hundred training genes one pass is 2 steps, and the published
epoch-counted patience and plateaus ended some folds before the CNN had learnt anything
(test r of the initial weights, negative in 2 of 4 folds for H3K4me3); the regressors'
output bias starts at the training mean.

Inputs (from ``main``: ``prepare``'s ``chromatin`` folder, :mod:`exprflow.data.chromatin_dataset`).
Fold results are kept in ``<data root>/cv_chromatin/<key>/`` (the key digests the
dataset's content and the settings); a rerun reuses the folds already fitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.tracking.step import step_run

__all__ = ["STEP", "CvChromatinParams", "main", "registered_name", "run"]

#: Folder of the work folders under the data root.
WORK_ROOT = "cv_chromatin"


@dataclass(frozen=True)
class CvChromatinParams:
    """Parameters of the ``cv_chromatin`` step."""

    chromatin: str = field(default="", metadata={"help": "prepare's chromatin folder"})
    models: str = field(default="cnn,chromoformer", metadata={"help": "cnn and/or chromoformer"})
    tasks: str = field(
        default="regression", metadata={"help": "regression (log2 RPKM) and/or classification"}
    )
    cells: str = field(default="", metadata={"help": "comma-separated eids; empty: all"})
    mark_sets: str = field(
        default="single,pair,all", metadata={"help": "single, pair and/or all (the full grid)"}
    )
    folds: str = field(default="1,2,3,4", metadata={"help": "chromosome folds to run"})
    cnn_size: str = field(default="tiny", metadata={"help": "ChromExpress: tiny or published"})
    chromoformer_size: str = field(
        default="tiny", metadata={"help": "Chromoformer: tiny or published"}
    )
    max_epochs: int = field(default=100, metadata={"help": "epochs at most"})
    patience: int = field(default=12, metadata={"help": "early-stopping patience (epochs)"})
    batch_size: int = field(default=64, metadata={"help": "genes per batch"})
    cnn_lr: float = field(default=1e-3, metadata={"help": "ChromExpress Adam learning rate"})
    chromoformer_lr: float = field(default=1e-3, metadata={"help": "Chromoformer AdamW lr"})
    cnn_min_steps: int = field(
        default=16, metadata={"help": "ChromExpress: optimiser steps per epoch at least"}
    )
    chromoformer_min_steps: int = field(
        default=0, metadata={"help": "Chromoformer: steps per epoch at least (0: one pass)"}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})
    threads: int = field(
        default=1, metadata={"help": "CPU threads per fit (small models: 1 is fastest); 0: torch's"}
    )
    register: str = field(default="true", metadata={"help": "'true': register the best models"})
    seed: int = field(default=0, metadata={"help": "seed of every fit"})


STEP = StepSpec(
    name="cv_chromatin",
    params=CvChromatinParams,
    family="chromatin",
    task="expression",
    outputs=("report", "activity"),
    upstream={"chromatin": ("prepare", "chromatin")},
    runtime="torch",
    # ``main`` runs a reduced grid; the full grid is the default of ``mlflow run -e cv_chromatin``.
    by_size={
        "tiny": {"cells": "E116", "mark_sets": "all", "max_epochs": 10},
        "demo": {"cells": "E003,E116", "mark_sets": "single,all"},
    },
)


def registered_name(model: str, task: str) -> str:
    """Registry name of the best ``model`` for ``task``: ``chromatin-<model>-<task>``."""
    return f"chromatin-{model}-{task}"


def _folds(text: str) -> list[int]:
    try:
        folds = sorted({int(f) for f in split_list(text)})
    except ValueError:
        folds = []
    if not folds or not set(folds) <= {1, 2, 3, 4}:
        raise InputError(
            "argument folds", f"{text!r} is not a subset of 1,2,3,4.", fix="e.g. -P folds=1,2,3,4."
        )
    return folds


def run(params: CvChromatinParams) -> dict[str, str]:
    """Cross-validate the grid; return the step's outputs."""
    # torch and sklearn take seconds to import; the registry imports every step.
    from exprflow.steps import _chromatin_cv

    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        if not params.chromatin:
            raise InputError(
                "argument chromatin", "is empty.", fix="pass -P chromatin=<prepare's folder>."
            )
        if params.max_epochs < 1 or params.patience < 1 or params.batch_size < 1:
            raise InputError(
                "arguments max_epochs, patience, batch_size",
                "each must be at least 1.",
                fix="pass positive values.",
            )
        _chromatin_cv.cross_validate(ctx, params, _folds(params.folds))
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(CvChromatinParams, argv, prog="cv_chromatin"))


if __name__ == "__main__":
    main()
