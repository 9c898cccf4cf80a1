"""Motifs of ``train_promoter``: the motif set and the insertion analysis of the best model.

The motifs come from a MEME file or JASPAR CORE vertebrates (pyjaspar's bundled database),
optionally restricted to ``motif_names``; the insertion analysis
(:mod:`exprflow.evaluation.promoter_motif_insertion`) samples each motif into the
fluorescence promoters and logs the influence report as ``motifs/``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import torch

from exprflow.data.promoter_tasks import TaskData
from exprflow.errors import InputError
from exprflow.evaluation.promoter_motif_insertion import (
    insertion_influence,
    summarize_influence,
    write_insertion_report,
)
from exprflow.genome.jaspar import jaspar_pwms
from exprflow.genome.meme import read_meme
from exprflow.genome.pwm import PWM
from exprflow.models.promoter import PromoterModel
from exprflow.models.promoter.motif_counts import MotifScanner, backbone_input
from exprflow.steps._cli import split_list
from exprflow.steps.train_promoter import TrainPromoterParams
from exprflow.tracking.step import StepContext
from exprflow.training.promoter_predict import outputs_to_predictions

__all__ = ["fluorescence_predictor", "motif_insertion", "motif_set"]


def motif_set(params: TrainPromoterParams, ctx: StepContext) -> list[PWM]:
    """The motifs: a MEME file, else JASPAR CORE vertebrates; those of ``motif_names``."""
    source = params.motifs or "JASPAR CORE vertebrates (pyjaspar)"
    pwms = read_meme(ctx.log_input("motifs", params.motifs)) if params.motifs else jaspar_pwms()
    wanted = {name.upper() for name in split_list(params.motif_names)}
    if not wanted:
        return pwms
    kept = [p for p in pwms if wanted & {p.name.upper(), (p.alt_name or "").upper()}]
    found = {n for p in kept for n in (p.name.upper(), (p.alt_name or "").upper())}
    if wanted - found:
        raise InputError(
            source,
            f"has no motif named {', '.join(sorted(wanted - found))}.",
            record="motif_names",
            fix="use TF names or matrix ids of that motif file.",
        )
    return kept


def fluorescence_predictor(
    model: PromoterModel, task: TaskData, scanner: MotifScanner | None
) -> Callable[[np.ndarray], np.ndarray]:
    """``codes (n, L) -> (n, cells)``: the fluorescence head's predictions."""
    model.eval()

    def predict(codes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = model(backbone_input(codes, scanner), task.spec.name)
        return outputs_to_predictions(task.spec, logits)

    return predict


def motif_insertion(
    ctx: StepContext,
    params: TrainPromoterParams,
    target: TaskData,
    model: PromoterModel,
    scanner: MotifScanner | None,
    pwms: list[PWM],
) -> None:
    """Insert every motif into the fluorescence promoters with ``model``; log ``motifs/``."""
    rng = np.random.default_rng(0)
    rows = np.arange(len(target.ids))
    if 0 < params.insertion_sequences < rows.size:
        rows = np.sort(rng.choice(rows, params.insertion_sequences, replace=False))
    table = insertion_influence(
        fluorescence_predictor(model, target, scanner),
        target.codes[rows],
        pwms,
        list(target.spec.outputs),
        n_insertions=params.n_insertions,
    )
    summary = summarize_influence(table)
    with tempfile.TemporaryDirectory() as tmp:
        write_insertion_report(table, summary, Path(tmp) / "motifs")
        ctx.log_artifact_output("motifs", Path(tmp) / "motifs", "motifs")
    mlflow.log_metrics({"n_motifs_inserted": len(pwms), "n_insertion_sequences": rows.size})
