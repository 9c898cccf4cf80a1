"""The steps of the pipeline, in the order ``main`` runs them."""

from __future__ import annotations

from exprflow.pipeline.spec import StepSpec
from exprflow.steps import prepare, simulate

__all__ = ["PIPELINE"]

PIPELINE: tuple[StepSpec, ...] = (simulate.STEP, prepare.STEP)
