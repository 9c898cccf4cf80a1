"""Body of ``cv_chromatin``: run the grid as nested runs, resume, report, register.

Each fold's result (metrics, epoch history, test predictions) is written to the work
folder as JSON as soon as it is fitted, so a rerun after an interruption re-logs it
instead of fitting it again. The fold models of the best configuration per model × task
are kept in memory while the grid runs; when that configuration was reused from the work
folder its folds are fitted again (seeded, so the same models) for registration.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from torch import nn

from exprflow.atomic import atomic_path
from exprflow.data.chromatin_dataset import ChromatinFeatures, read_chromatin_features
from exprflow.data.chromatin_meta import read_chromatin_meta
from exprflow.errors import InputError
from exprflow.evaluation.chromatin_activity import mark_activity, write_activity_report
from exprflow.evaluation.chromatin_report import write_cv_report
from exprflow.models.chromatin_pyfunc import log_chromatin_model, save_fold_models
from exprflow.steps._chromatin_grid import CvConfig, FoldOutcome, grid, run_fold
from exprflow.steps._cli import parse_flag, split_list
from exprflow.steps.cv_chromatin import STEP, WORK_ROOT, CvChromatinParams, registered_name
from exprflow.tracking.fingerprint import fingerprint
from exprflow.tracking.history import log_history
from exprflow.tracking.step import StepContext, step_tags
from exprflow.tracking.work import keyed_work_folder
from exprflow.training.chromatin_fit import FitSettings, fold_metrics

__all__ = ["cross_validate"]

log = logging.getLogger(__name__)

#: Parameters that choose what runs, not how a fold is fitted (left out of the work key).
_NOT_KEYED = ("chromatin", "models", "tasks", "cells", "mark_sets", "folds", "register")
#: The pooled out-of-fold metric choosing the best configuration, per task.
SELECTION_METRIC = {"regression": "pearson", "classification": "auroc"}


@dataclass
class _Best:
    """The best configuration of one model × task so far, with its fold models if fitted."""

    config: CvConfig
    score: float
    models: dict[int, nn.Module] = field(default_factory=dict)


def _settings(params: CvChromatinParams, model: str, task: str) -> FitSettings:
    """Training settings: Adam for the CNN, AdamW for Chromoformer (epi_to_express)."""
    return FitSettings(
        task=task,
        optimizer="adam" if model == "cnn" else "adamw",
        lr=params.cnn_lr if model == "cnn" else params.chromoformer_lr,
        batch_size=params.batch_size,
        max_epochs=params.max_epochs,
        patience=params.patience,
        seed=params.seed,
        device=params.device,
        threads=params.threads,
        min_steps_per_epoch=params.cnn_min_steps
        if model == "cnn"
        else params.chromoformer_min_steps,
    )


def _size(params: CvChromatinParams, model: str) -> str:
    return params.cnn_size if model == "cnn" else params.chromoformer_size


def _fold_file(work: Path, config: CvConfig, fold: int) -> Path:
    return work / "folds" / config.name / f"fold{fold}.json"


def _save_fold(path: Path, outcome: FoldOutcome) -> None:
    record = {
        "metrics": outcome.metrics,
        "history": outcome.history,
        "predictions": outcome.predictions.to_dict(orient="list"),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record))


def _load_fold(path: Path) -> FoldOutcome | None:
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return FoldOutcome(
        record["metrics"], pd.DataFrame(record["predictions"]), record["history"], None
    )


def _select(features: ChromatinFeatures, marks: tuple[str, ...]) -> ChromatinFeatures:
    """The features of ``marks`` only, channels in that order."""
    index = [features.marks.index(m) for m in marks]
    return replace(
        features,
        marks=marks,
        promoter={r: a[..., index] for r, a in features.promoter.items()},
        pcre={r: a[..., index] for r, a in features.pcre.items()},
    )


class _Grid:
    """Runs the configurations of one step run and gathers their results."""

    def __init__(self, params: CvChromatinParams, work: Path, folds: list[int]) -> None:
        self.params = params
        self.work = work
        self.folds = folds
        self.results: list[dict[str, Any]] = []
        self.predictions: list[pd.DataFrame] = []
        self.best: dict[tuple[str, str], _Best] = {}
        self.tags = step_tags(STEP.name, STEP.family, STEP.task)

    def run_config(self, config: CvConfig, features: ChromatinFeatures, meta: pd.DataFrame) -> None:
        """All folds of ``config`` in a nested run; keep its models if it is the best yet."""
        settings = _settings(self.params, config.model, config.task)
        size = _size(self.params, config.model)
        outcomes: dict[int, FoldOutcome] = {}
        with mlflow.start_run(run_name=config.name, nested=True, tags=self.tags | config.tags):
            for fold in self.folds:
                path = _fold_file(self.work, config, fold)
                outcome = _load_fold(path)
                reused = outcome is not None
                if outcome is None:
                    outcome = run_fold(config, fold, features, meta, size, settings)
                    _save_fold(path, outcome)
                outcomes[fold] = outcome
                self._log_fold(config, fold, outcome, reused)
            pooled = self._log_config(config, outcomes)
        key = (config.model, config.task)
        score = pooled[SELECTION_METRIC[config.task]]
        current = self.best.get(key)
        if current is None or (np.isfinite(score) and not score <= current.score):
            models = {f: o.model for f, o in outcomes.items() if o.model is not None}
            self.best[key] = _Best(config, score, models if len(models) == len(outcomes) else {})

    def _log_fold(self, config: CvConfig, fold: int, outcome: FoldOutcome, reused: bool) -> None:
        tags = self.tags | config.tags | {"exprflow.fold": str(fold)}
        if reused:
            tags["exprflow.reused_fold"] = "true"
        with mlflow.start_run(run_name=f"fold {fold}", nested=True, tags=tags) as run:
            mlflow.log_metrics({f"test_{k}": v for k, v in outcome.metrics.items()})
            log_history(run.info.run_id, outcome.history)
        row = {**asdict(config), "marks": config.marks_label, "fold": fold, **outcome.metrics}
        self.results.append(row)
        self.predictions.append(
            outcome.predictions.assign(
                model=config.model,
                task=config.task,
                eid=config.eid,
                marks=config.marks_label,
                fold=fold,
            )
        )

    def _log_config(self, config: CvConfig, outcomes: dict[int, FoldOutcome]) -> dict[str, float]:
        """Mean test metrics over folds and the pooled out-of-fold ones; return the pooled."""
        folds = pd.DataFrame([o.metrics for o in outcomes.values()])
        means = {f"mean_test_{k}": float(v) for k, v in folds.mean(numeric_only=True).items()}
        joined = pd.concat([o.predictions for o in outcomes.values()])
        pooled = fold_metrics(
            config.task, joined["target"].to_numpy(), joined["prediction"].to_numpy()
        )
        mlflow.log_metrics(means | {f"pooled_{k}": v for k, v in pooled.items()})
        return pooled

    def refit_best(self, cells: dict[str, tuple[ChromatinFeatures, pd.DataFrame]]) -> None:
        """Fit again the folds of a best configuration that was reused from the work folder."""
        for best in self.best.values():
            if best.models:
                continue
            config = best.config
            features, meta = cells[config.eid]
            chosen = _select(features, config.marks)
            settings = _settings(self.params, config.model, config.task)
            size = _size(self.params, config.model)
            for fold in self.folds:
                outcome = run_fold(config, fold, chosen, meta, size, settings)
                assert outcome.model is not None
                best.models[fold] = outcome.model


def _cells(params: CvChromatinParams, meta: pd.DataFrame, source: str) -> list[str]:
    present = list(dict.fromkeys(meta["eid"].astype(str)))
    asked = split_list(params.cells) or present
    missing = [c for c in asked if c not in present]
    if missing:
        raise InputError(
            source,
            f"has no cell type {', '.join(missing)}; it holds {', '.join(present)}.",
            fix="pass -P cells=<some of those>, or build the dataset with those cell types.",
        )
    return asked


def _register(ctx: StepContext, grid_run: _Grid, cells: dict) -> None:
    """Log and register the best configuration of each model × task as a fold ensemble."""
    register = parse_flag("register", grid_run.params.register)
    grid_run.refit_best(cells)
    for (model, task), best in grid_run.best.items():
        chosen = _select(cells[best.config.eid][0], best.config.marks)
        with tempfile.TemporaryDirectory() as tmp:
            folder = save_fold_models(
                Path(tmp) / "model", best.models, best.config.marks, task, model
            )
            info = log_chromatin_model(
                folder,
                chosen,
                name=f"{model}_{task}",
                registered_model_name=registered_name(model, task) if register else None,
                metadata={"cell_type": best.config.eid, "selection_score": best.score},
            )
        ctx.log_output(f"{model}_{task}_model", info.model_uri)
        mlflow.set_tags(
            {
                f"exprflow.best.{model}.{task}": best.config.name,
                f"exprflow.best.{model}.{task}.score": f"{best.score:.4f}",
            }
        )


def cross_validate(ctx: StepContext, params: CvChromatinParams, folds: list[int]) -> None:
    """Run the grid, write the reports, register the best models (see the module docs)."""
    folder = ctx.log_input("chromatin", params.chromatin)
    meta = read_chromatin_meta(folder / "train.csv")
    eids = _cells(params, meta, str(folder / "train.csv"))
    work = keyed_work_folder(WORK_ROOT, fingerprint(folder), params, _NOT_KEYED)
    grid_run = _Grid(params, work, folds)
    cells: dict[str, tuple[ChromatinFeatures, pd.DataFrame]] = {}
    activity = []
    for eid in eids:
        features = read_chromatin_features(folder, eid)
        rows = meta.loc[meta["eid"].astype(str) == eid].set_index("gene_id")
        rows = rows.loc[list(features.gene_id)].reset_index()
        cells[eid] = (features, rows)
        activity.append(mark_activity(features, rows))
        configs = grid(
            split_list(params.models),
            split_list(params.tasks),
            [eid],
            split_list(params.mark_sets),
            features.marks,
        )
        for config in configs:
            log.info("cv_chromatin: %s", config.name)
            grid_run.run_config(config, _select(features, config.marks), rows)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "cv"
        metrics = write_cv_report(
            pd.DataFrame(grid_run.results), pd.concat(grid_run.predictions), report
        )
        mlflow.log_metrics(metrics)
        ctx.log_artifact_output("report", report, "cv")
        activity_folder = Path(tmp) / "activity"
        write_activity_report(pd.concat(activity, ignore_index=True), activity_folder)
        ctx.log_artifact_output("activity", activity_folder, "activity")
    _register(ctx, grid_run, cells)
