"""Entry point ``train_mlm``: the haplotype masked language model for eQTLs, end to end.

Stages (``stages``, comma-separated, in this order; default all):

``pretrain``
    The DSS-ResNet masked model (:mod:`exprflow.models.mlm`) trained on the ``train``
    individuals of ``prepare``'s MLM dataset (``dataset.parquet`` + ``meta.csv.gz``),
    ``folds``/``fold`` holding individuals out for validation as published; per-epoch
    ``train_loss``, ``valid_loss``, ``valid_masked_accuracy``, ``valid_iqs``; the model
    saved as artifact ``mlm/``. Without this stage, ``model`` names a saved model folder.
``impute``
    Masked accuracy and IQS of the model on the held-out and the ``test`` individuals, in
    haplotype mode and in genotype mode (both haplotypes of an individual masked at the
    same SNPs; phased R/F/M/B agreement and Lin et al.'s genotype IQS).
``embed``
    Every SNP masked once (rolling mask, ``stride``), backbone vectors mean-pooled per
    haplotype, for the ``test`` individuals, written to HDF5 (output ``embeddings``).
``expression``
    Per gene, Ridge / Lasso / SVR on the sum, mean and concatenation of the two
    haplotype vectors, cross-validated over individuals; the fine-tuned model's
    out-of-fold predictions (frozen layers, regression head); baselines: the table's best
    eQTL SNP per gene and an elastic net on dosages. One table and plot
    (``expression/``); the fine-tuned model on all individuals is logged with a signature
    and registered as ``mlm-expression`` (output ``expression_model``).
``attribute``
    SNPs ranked per gene by the fine-tuned model's allele-contrast gradients; with a
    world (or ``truth``), precision and recall of the planted causal variants at the top
    of the lists; enrichment of top SNPs in the LCL-like cell type's H3K27ac and DNase
    bigWigs (or ``chromatin``).

Inputs: ``mlm`` (prepare's folder), ``expression`` (GD660 layout), ``eqtls`` (EUR373
layout); with ``world`` these and ``truth``/``chromatin`` default to the world's files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import step_run

__all__ = ["REGISTERED_NAME", "STAGES", "STEP", "TrainMlmParams", "main", "run"]

#: Stages in the order they run.
STAGES = ("pretrain", "impute", "embed", "expression", "attribute")
#: Model Registry name of the fine-tuned expression model.
REGISTERED_NAME = "mlm-expression"

_FROM_WORLD = {"expression": "expression", "eqtls": "eqtls", "truth": "truth"}


@dataclass(frozen=True)
class TrainMlmParams:
    """Parameters of the ``train_mlm`` step."""

    mlm: str = field(default="", metadata={"help": "prepare's MLM folder (dataset.parquet)"})
    world: str = field(default="", metadata={"help": "synthetic world (expression, truth, …)"})
    expression: str = field(default="", metadata={"help": "GD660-layout RPKM table"})
    eqtls: str = field(default="", metadata={"help": "EUR373-layout eQTL table"})
    truth: str = field(default="", metadata={"help": "world truth.json (planted variants)"})
    chromatin: str = field(
        default="", metadata={"help": "name=bigWig,… for enrichment; empty: world LCL marks"}
    )
    model: str = field(default="", metadata={"help": "saved MLM folder when not pretraining"})
    stages: str = field(default=",".join(STAGES), metadata={"help": "comma-separated stages"})
    model_size: str = field(default="small", metadata={"help": "tiny, small or published"})
    max_epochs: int = field(default=100, metadata={"help": "pretraining epochs at most"})
    patience: int = field(default=10, metadata={"help": "early-stopping patience (epochs)"})
    batch_size: int = field(default=32, metadata={"help": "haplotypes per batch"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    mask_rate: float = field(default=0.2, metadata={"help": "fraction of SNPs masked"})
    maf_stratified: str = field(default="false", metadata={"help": "MAF-stratified masking"})
    folds: int = field(default=5, metadata={"help": "folds of training individuals"})
    fold: int = field(default=0, metadata={"help": "fold held out for validation"})
    stride: int = field(default=50, metadata={"help": "rolling-mask stride for embeddings"})
    cv_folds: int = field(default=5, metadata={"help": "CV folds of expression models"})
    finetune_epochs: int = field(default=5, metadata={"help": "fine-tuning epochs"})
    finetune_lr: float = field(default=1e-2, metadata={"help": "fine-tuning learning rate"})
    trainable_layers: int = field(default=1, metadata={"help": "top blocks fine-tuned"})
    top_k: int = field(default=10, metadata={"help": "top SNPs per gene for enrichment"})
    precision: str = field(default="auto", metadata={"help": "auto, 32-true, 16-mixed, …"})
    register: str = field(default="true", metadata={"help": "'true': register the model"})
    seed: int = field(default=0, metadata={"help": "seed of everything random"})


STEP = StepSpec(
    name="train_mlm",
    params=TrainMlmParams,
    family="mlm",
    task="mlm",
    outputs=("mlm_model", "embeddings", "expression_model"),
    upstream={"mlm": ("prepare", "mlm"), "world": ("simulate", "world")},
    runtime="torch",
    # The tiny world (the tests' pipeline) needs every stage to run, not a good model.
    by_size={"tiny": {"model_size": "tiny", "max_epochs": 15, "cv_folds": 3, "finetune_epochs": 2}},
)


def _stages(text: str) -> list[str]:
    """The stages asked for, checked, in run order."""
    asked = split_list(text)
    unknown = [s for s in asked if s not in STAGES]
    if unknown or not asked:
        raise InputError(
            "argument stages",
            f"{text!r} names no stage or unknown stage(s) {unknown}.",
            fix=f"use a comma-separated subset of {list(STAGES)}.",
        )
    return [s for s in STAGES if s in asked]


def _check(params: TrainMlmParams, stages: list[str]) -> None:
    """Refuse bad settings before any work."""
    if not params.mlm:
        raise InputError("argument mlm", "is empty.", fix="pass -P mlm=<prepare's mlm folder>.")
    if "pretrain" not in stages and not params.model:
        raise InputError(
            "argument model",
            "is empty and the pretrain stage is not run.",
            fix="add pretrain to stages, or pass -P model=<saved MLM folder>.",
        )
    if "expression" in stages and not params.expression:
        raise InputError("argument expression", "is empty.", fix="pass it or -P world=<folder>.")
    if "expression" in stages and "embed" not in stages:
        raise InputError(
            "argument stages",
            "expression compares regressions on the embeddings of the embed stage.",
            fix="run embed and expression together.",
        )
    if "attribute" in stages and "expression" not in stages:
        raise InputError(
            "argument stages",
            "attribute needs the fine-tuned model of the expression stage.",
            fix="run expression and attribute together.",
        )
    for name in ("max_epochs", "patience", "folds", "stride", "cv_folds", "finetune_epochs"):
        if getattr(params, name) < 1:
            raise InputError(f"argument {name}", f"{name}={getattr(params, name)}; need >= 1.")


def run(params: TrainMlmParams) -> dict[str, str]:
    """Run the asked stages; return the step's outputs."""
    # Lightning, torch and sklearn take seconds to import; the registry imports every step.
    from exprflow.steps import _mlm_stages

    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        params = fill_from_world(params, _FROM_WORLD, STEP.name, optional=tuple(_FROM_WORLD))
        stages = _stages(params.stages)
        _check(params, stages)
        _mlm_stages.run_stages(ctx, params, stages)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(TrainMlmParams, argv, prog="train_mlm"))


if __name__ == "__main__":
    main()
