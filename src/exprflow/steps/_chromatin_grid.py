"""The grid of ``cv_chromatin``: configurations, mark sets and one fold's fit.

A configuration is a model × task × cell type × mark set; each is trained on the four
chromosome folds of :mod:`exprflow.data.chromatin_folds` (train on three groups, early
stopping on half of the fourth, test on its other half). The published grid
(epi_to_express): the seven marks alone, the 15 pairs of an active-promoter anchor
(H3K4me3, H3K9ac, H3K27ac) with any other mark, and all seven together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from exprflow.data.chromatin_dataset import ChromatinFeatures
from exprflow.data.chromatin_folds import fold_split
from exprflow.data.chromatin_meta import MARKS
from exprflow.data.chromatin_torch import ChromatinDataset
from exprflow.models.chromexpress import ChromExpress, ChromExpressConfig
from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import Chromoformer
from exprflow.steps._cli import check_choices
from exprflow.training.chromatin_fit import FitSettings, fit_model, fold_metrics, predict

__all__ = [
    "ANCHOR_MARKS",
    "MARK_SET_KINDS",
    "MODELS",
    "SIZES",
    "TASKS",
    "CvConfig",
    "FoldOutcome",
    "build_model",
    "grid",
    "mark_sets",
    "run_fold",
    "targets",
]

#: Models of the grid: the distal Chromoformer and the promoter CNN (ChromExpress).
MODELS = ("cnn", "chromoformer")
TASKS = ("regression", "classification")
SIZES = ("tiny", "published")
MARK_SET_KINDS = ("single", "pair", "all")
#: Active-promoter marks paired with every other mark (``test_chromoformer_combns.py``).
ANCHOR_MARKS = ("H3K4me3", "H3K9ac", "H3K27ac")


@dataclass(frozen=True)
class CvConfig:
    """One configuration of the grid (all four folds share it)."""

    model: str
    task: str
    eid: str
    marks: tuple[str, ...]
    mark_set: str

    @property
    def marks_label(self) -> str:
        """The marks joined by ``+`` (MARKS order), as in the result tables."""
        return "+".join(self.marks)

    @property
    def name(self) -> str:
        """Run name: ``<model>-<task>-<eid>-<marks>``."""
        return f"{self.model}-{self.task}-{self.eid}-{self.marks_label}"

    @property
    def tags(self) -> dict[str, str]:
        """MLflow tags of the configuration's runs (filterable in the UI)."""
        return {
            "exprflow.model": self.model,
            "exprflow.cv_task": self.task,
            "exprflow.cell_type": self.eid,
            "exprflow.marks": self.marks_label,
            "exprflow.mark_set": self.mark_set,
        }


@dataclass(frozen=True)
class FoldOutcome:
    """A fitted fold: its metrics, test predictions, training history and model."""

    metrics: dict[str, float]
    predictions: pd.DataFrame
    history: list[dict[str, float]]
    model: nn.Module | None


def _check(name: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    """``values`` checked (:func:`~exprflow.steps._cli.check_choices`), in ``allowed`` order."""
    check_choices(name, values, allowed)
    return [v for v in allowed if v in values]


def mark_sets(kinds: Sequence[str], marks: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Return ``(kind, marks)`` for each mark set asked, marks in MARKS order.

    Parameters
    ----------
    kinds : sequence of str
        Any of :data:`MARK_SET_KINDS`.
    marks : sequence of str
        The marks the dataset holds; pairs whose anchor is absent are skipped.
    """
    kinds = _check("mark_sets", kinds, MARK_SET_KINDS)
    ordered = [m for m in MARKS if m in marks]
    sets: list[tuple[str, tuple[str, ...]]] = []
    if "single" in kinds:
        sets += [("single", (m,)) for m in ordered]
    if "pair" in kinds:
        pairs = {
            tuple(m for m in ordered if m in (anchor, other))
            for anchor in ANCHOR_MARKS
            if anchor in ordered
            for other in ordered
            if other != anchor
        }
        sets += [("pair", p) for p in sorted(pairs, key=lambda p: [ordered.index(m) for m in p])]
    if "all" in kinds and len(ordered) > 1:
        sets.append(("all", tuple(ordered)))
    return sets


def grid(
    models: Sequence[str],
    tasks: Sequence[str],
    cells: Sequence[str],
    kinds: Sequence[str],
    marks: Sequence[str],
) -> list[CvConfig]:
    """Every configuration: models × tasks × cells × mark sets, in that nesting."""
    return [
        CvConfig(model, task, eid, chosen, kind)
        for model in _check("models", models, MODELS)
        for task in _check("tasks", tasks, TASKS)
        for eid in cells
        for kind, chosen in mark_sets(kinds, marks)
    ]


def build_model(model: str, size: str, n_marks: int, task: str) -> nn.Module:
    """A fresh model of the grid: ``size`` is ``tiny`` or ``published``."""
    _check("model size", [size], SIZES)
    if model == "cnn":
        cnn = ChromExpressConfig.published if size == "published" else ChromExpressConfig.tiny
        return ChromExpress(cnn(n_marks, task))
    distal = ChromoformerConfig.published if size == "published" else ChromoformerConfig.tiny
    return Chromoformer(distal(n_marks, task))


def targets(meta: pd.DataFrame, task: str) -> np.ndarray:
    """Training targets of one cell's rows: log2(RPKM + 1) or the above-median label."""
    if task == "regression":
        return np.log2(meta["expression"].to_numpy(dtype=np.float64) + 1.0).astype(np.float32)
    return meta["label"].to_numpy(dtype=np.int64)


def _rows(gene_ids: np.ndarray, wanted: Iterable[str]) -> np.ndarray:
    """Positions of ``wanted`` genes in the feature file's order."""
    where = {g: i for i, g in enumerate(gene_ids)}
    return np.array([where[g] for g in wanted], dtype=np.int64)


def run_fold(
    config: CvConfig,
    fold: int,
    features: ChromatinFeatures,
    meta: pd.DataFrame,
    size: str,
    settings: FitSettings,
) -> FoldOutcome:
    """Train ``config`` on fold ``fold`` and score its test half.

    Parameters
    ----------
    config : CvConfig
        The configuration.
    fold : int
        1..4: the chromosome group held out.
    features : ChromatinFeatures
        The cell type's features, restricted to ``config.marks``.
    meta : pandas.DataFrame
        The cell type's ``train.csv`` rows, in the features' gene order.
    size : str
        ``tiny`` or ``published`` model.
    settings : FitSettings
        Training settings; its task must be the configuration's.
    """
    start = time.perf_counter()
    split = fold_split(meta, fold)
    y = targets(meta, config.task)
    genes = features.gene_id
    parts = {name: _rows(genes, ids) for name, ids in split._asdict().items()}
    datasets = {name: ChromatinDataset(features, y, rows) for name, rows in parts.items()}
    fit = fit_model(
        lambda: build_model(config.model, size, len(config.marks), config.task),
        datasets["train"],
        datasets["val"],
        settings,
    )
    prediction = predict(fit.model, datasets["test"], settings)
    truth = y[parts["test"]]
    metrics: dict[str, Any] = {
        **fold_metrics(config.task, truth, prediction),
        "best_epoch": float(fit.best_epoch),
        "best_val_loss": float(fit.best_val_loss),
        "n_train": float(len(parts["train"])),
        "n_val": float(len(parts["val"])),
        "n_test": float(len(parts["test"])),
        "seconds": time.perf_counter() - start,
    }
    predictions = pd.DataFrame(
        {"gene_id": genes[parts["test"]], "target": truth, "prediction": prediction}
    )
    return FoldOutcome(metrics, predictions, list(fit.history), fit.model)
