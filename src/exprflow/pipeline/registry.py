"""The entry points of the project: the steps ``main`` runs, and those run on their own."""

from __future__ import annotations

from exprflow.pipeline.spec import StepSpec
from exprflow.steps import expecto_effects, prepare, simulate, train_chromatin

__all__ = ["PIPELINE", "STANDALONE", "STEPS"]

#: What ``main`` runs, in order.
PIPELINE: tuple[StepSpec, ...] = (simulate.STEP, prepare.STEP, train_chromatin.STEP)
#: Entry points run on the user's own files (not part of ``main``).
STANDALONE: tuple[StepSpec, ...] = (expecto_effects.STEP,)
#: Every step with its own image (``steps/<name>/MLproject``).
STEPS: tuple[StepSpec, ...] = PIPELINE + STANDALONE
