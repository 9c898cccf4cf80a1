"""Entry point ``train_promoter``: MPRA promoter activity with pretraining strategies.

Reddy et al. (2023) asked how much pretraining on genomic tasks helps predict the
fluorescence of 250-bp promoters in JURKAT, K562 and THP1 cells. This step runs their grid
as one tracked step: ``models`` (:mod:`exprflow.models.promoter`) × ``strategies``
(``single_task``; ``pretrain+linear_probing`` and ``pretrain+finetune`` on a pretrained
backbone; ``joint`` training with the other tasks) × ``task_sets`` (the pretraining or joint
tasks, e.g. ``SuRE_classification,Sharpr_MPRA``), each configuration trained on every
``splits`` × ``seeds`` of the fluorescence data (:mod:`exprflow.training.promoter_strategies`).

Run tree: the step's run parents one run per pretraining (model × task set; its zero-shot
transfer metrics) and one run per configuration (tags ``exprflow.model``,
``exprflow.strategy``, ``exprflow.tasks``; mean test metrics over its runs), which parents
one run per split × seed (test metrics per cell, the epoch history). The step's run gets
the summary over seeds × splits (``summary/``: mean ± sd of Pearson, Spearman and R² per
cell, the ranking of the configurations), the zero-shot transfer table (``transfer/``) and
the motif insertion analysis of the best configuration (``motifs/``). The best
configuration's best model (validation Spearman) is logged as a pyfunc and registered as
``promoter-fluorescence`` (``promoter-fluorescence-classification`` for the labels).

Differences from the published code, on purpose: a pretrained backbone is cached under a
key that digests every pretraining setting and the datasets, so a different pretraining
configuration is never silently reused (the published ``pretrain_on_<tasks>`` folder was
shared by every later command); test metrics come from the best checkpoint (v2 tested the
final epoch's weights).

Inputs (from ``main``: ``prepare``'s ``promoter`` folder of task files,
:mod:`exprflow.data.promoter_tasks`). Results of every run are kept in
``<data root>/train_promoter/<key>/``; a rerun reuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.tracking.step import step_run

__all__ = ["STEP", "TrainPromoterParams", "main", "registered_name", "run"]

#: Folder of the work folders under the data root.
WORK_ROOT = "train_promoter"
#: The published pretraining / joint task sets (README commands): ``,`` between sets, ``+``
#: within one (no character a shell would quote: MLflow's container backends pass it on).
PUBLISHED_TASK_SETS = (
    "RNASeq,ENCODETFChIPSeq,Sharpr_MPRA,SuRE_classification,SuRE_classification+Sharpr_MPRA"
)
#: Zero-shot transfer: fluorescence cell = pretraining task : output.
DEFAULT_TRANSFER = (
    "K562=Sharpr_MPRA:k562_minp_avg,K562=SuRE_classification:K562,"
    "K562=RNASeq:E123,JURKAT=RNASeq:E116"
)


@dataclass(frozen=True)
class TrainPromoterParams:
    """Parameters of the ``train_promoter`` step (defaults: the published grid)."""

    promoter: str = field(default="", metadata={"help": "prepare's promoter folder"})
    models: str = field(
        default="MTLucifer",
        metadata={"help": "MTLucifer, LegNet(Large), PureCNN(Large), MotifBasedFCN(Large)"},
    )
    size: str = field(default="published", metadata={"help": "published or tiny (CPU)"})
    task: str = field(
        default="FluorescenceData",
        metadata={"help": "FluorescenceData or FluorescenceData_classification"},
    )
    strategies: str = field(
        default="single_task,pretrain+linear_probing,pretrain+finetune,joint",
        metadata={"help": "single_task, pretrain+linear_probing, pretrain+finetune, joint"},
    )
    task_sets: str = field(
        default=PUBLISHED_TASK_SETS,
        metadata={"help": "pretraining / joint task sets: ',' between sets, '+' within"},
    )
    splits: str = field(default="0,1,2,3,4", metadata={"help": "fluorescence split seeds"})
    seeds: str = field(default="0,1,2,3,4", metadata={"help": "initialisation seeds"})
    lr: float = field(default=1e-5, metadata={"help": "single task, fine-tuning and joint lr"})
    probe_lr: float = field(default=1e-3, metadata={"help": "linear probing lr"})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay"})
    batch_size: int = field(default=96, metadata={"help": "sequences per batch and task"})
    max_epochs: int = field(default=50, metadata={"help": "epochs at most"})
    patience: int = field(default=5, metadata={"help": "early-stopping patience (epochs)"})
    train_mode: str = field(
        default="min_size", metadata={"help": "multi-task batches: min_size or max_size_cycle"}
    )
    pretrain_lr: float = field(default=1e-5, metadata={"help": "pretraining lr"})
    pretrain_batch_size: int = field(default=96, metadata={"help": "pretraining batch size"})
    pretrain_max_epochs: int = field(default=50, metadata={"help": "pretraining epochs at most"})
    pretrain_train_mode: str = field(
        default="min_size", metadata={"help": "pretraining batches: min_size or max_size_cycle"}
    )
    max_steps_per_epoch: int = field(
        default=0, metadata={"help": "cap on optimiser steps per epoch (0: a full pass)"}
    )
    transfer: str = field(
        default=DEFAULT_TRANSFER,
        metadata={"help": "zero-shot transfer: cell=task:output, comma-separated; empty: none"},
    )
    motifs: str = field(
        default="", metadata={"help": "MEME file for the insertion analysis; empty: JASPAR CORE"}
    )
    motif_names: str = field(
        default="",
        metadata={"help": "keep only these motifs (TF names or matrix ids); empty: all"},
    )
    n_insertions: int = field(
        default=10, metadata={"help": "insertions per motif and sequence; 0: no analysis"}
    )
    insertion_sequences: int = field(
        default=0, metadata={"help": "promoters the motifs are inserted in (0: all)"}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: torch's default)"})
    register: str = field(default="true", metadata={"help": "'true': register the best model"})


STEP = StepSpec(
    name="train_promoter",
    params=TrainPromoterParams,
    family="promoter",
    task="mpra",
    outputs=("summary", "transfer", "motifs", "model"),
    upstream={"promoter": ("prepare", "promoter")},
    runtime="torch",
    # ``main`` runs a reduced grid of tiny models; the published grid is the default.
    by_size={
        "tiny": {
            "size": "tiny",
            "strategies": "single_task,pretrain+finetune",
            "task_sets": "Sharpr_MPRA",
            "splits": "0",
            "seeds": "0",
            "lr": 1e-3,
            "pretrain_lr": 1e-3,
            "max_epochs": 3,
            "pretrain_max_epochs": 2,
            "n_insertions": 2,
            "insertion_sequences": 50,
            "motif_names": "GATA1,SPI1,CEBPB,ETS1,RUNX1,HNF4A,FOXA2,SP1",
        },
        "demo": {
            "models": "PureCNN",
            "size": "small",
            "task_sets": "Sharpr_MPRA",
            "splits": "0",
            "seeds": "0,1",
            "lr": 1e-3,
            "pretrain_lr": 1e-3,
            "max_epochs": 20,
            "pretrain_max_epochs": 8,
            "n_insertions": 5,
            "insertion_sequences": 200,
        },
    },
)


def registered_name(task: str) -> str:
    """Registry name of the best model for ``task``."""
    suffix = "-classification" if task.endswith("_classification") else ""
    return f"promoter-fluorescence{suffix}"


def _integers(name: str, text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in split_list(text)})
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise InputError(
            f"argument {name}", f"{text!r} is not a list of integers ≥ 0.", fix="e.g. 0,1,2."
        )
    return values


def run(params: TrainPromoterParams) -> dict[str, str]:
    """Train the grid; return the step's outputs."""
    # torch and Lightning take seconds to import; the registry imports every step.
    from exprflow.steps import _promoter_grid

    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        if not params.promoter:
            raise InputError(
                "argument promoter", "is empty.", fix="pass -P promoter=<prepare's folder>."
            )
        for name in ("batch_size", "max_epochs", "patience", "pretrain_batch_size"):
            if getattr(params, name) < 1:
                raise InputError(f"argument {name}", "must be at least 1.", fix="pass >= 1.")
        _promoter_grid.train_grid(
            ctx, params, _integers("splits", params.splits), _integers("seeds", params.seeds)
        )
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(TrainPromoterParams, argv, prog="train_promoter"))


if __name__ == "__main__":
    main()
