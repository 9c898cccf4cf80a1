"""The entry points of the project: the steps ``main`` runs, and those run on their own."""

from __future__ import annotations

from exprflow.pipeline.spec import StepSpec
from exprflow.steps import (
    cv_chromatin,
    embed_basenji2,
    embed_merge,
    evaluate,
    expecto_effects,
    expecto_evaluate,
    expecto_merge,
    expecto_personalized,
    expecto_reference,
    prepare,
    promote,
    simulate,
    train_basenji2,
    train_chromatin,
    train_mlm,
    train_probe,
    train_promoter,
    train_tissue,
)

__all__ = ["PIPELINE", "STANDALONE", "STEPS"]

#: What ``main`` runs, in order.
PIPELINE: tuple[StepSpec, ...] = (
    simulate.STEP,
    prepare.STEP,
    train_basenji2.STEP,
    embed_basenji2.STEP,
    train_probe.STEP,
    train_mlm.STEP,
    cv_chromatin.STEP,
    train_promoter.STEP,
    train_chromatin.STEP,
    train_tissue.STEP,
    expecto_reference.STEP,
    expecto_personalized.STEP,
    expecto_evaluate.STEP,
    promote.STEP,
    evaluate.STEP,
)
#: Entry points run on the user's own files (not part of ``main``).
STANDALONE: tuple[StepSpec, ...] = (expecto_effects.STEP, expecto_merge.STEP, embed_merge.STEP)
#: Every step with its own image (``steps/<name>/MLproject``).
STEPS: tuple[StepSpec, ...] = PIPELINE + STANDALONE
