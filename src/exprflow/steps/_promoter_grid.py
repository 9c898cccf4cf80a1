"""Body of ``train_promoter``: pretrainings, the configuration grid as nested runs, reports.

Every split × seed run is written to the work folder as soon as it is fitted (its test
metrics, history, test predictions and model folder), so a rerun after an interruption
re-logs it instead of fitting it again; pretrained backbones are cached there too, under
the key of their own settings (:func:`~exprflow.training.promoter_pretrain.pretrain_key`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.data.promoter_codes import decode_codes
from exprflow.data.promoter_tasks import TaskData, read_tasks
from exprflow.errors import InputError
from exprflow.evaluation.promoter_summary import (
    strategy_ranking,
    summarize_runs,
    write_promoter_report,
)
from exprflow.evaluation.promoter_transfer import (
    CellMapping,
    transfer_metrics,
    transfer_predictions,
)
from exprflow.models.promoter import (
    BACKBONES,
    PromoterModel,
    PromoterModelConfig,
    load_promoter_model,
    save_promoter_model,
)
from exprflow.models.promoter.motif_counts import MotifScanner
from exprflow.models.promoter_pyfunc import log_promoter_model
from exprflow.steps._cli import check_choices, parse_flag, split_list
from exprflow.steps._promoter_motifs import motif_insertion, motif_set
from exprflow.steps.train_promoter import STEP, WORK_ROOT, TrainPromoterParams, registered_name
from exprflow.tracking.fingerprint import fingerprint
from exprflow.tracking.history import log_history
from exprflow.tracking.step import StepContext, step_tags
from exprflow.tracking.work import keyed_work_folder
from exprflow.training.promoter_fit import PromoterFitSettings, monitor_for
from exprflow.training.promoter_predict import head_outputs
from exprflow.training.promoter_pretrain import pretrained_backbone
from exprflow.training.promoter_strategies import (
    STRATEGIES,
    StrategyConfig,
    StrategyOutcome,
    StrategySettings,
    run_strategy,
)

__all__ = ["GridConfig", "grid", "task_sets", "train_grid"]

log = logging.getLogger(__name__)

#: Fluorescence tasks the grid is trained and scored on.
TARGET_TASKS = ("FluorescenceData", "FluorescenceData_classification")
#: Strategies that start from a pretrained backbone.
PRETRAINED = ("pretrain+linear_probing", "pretrain+finetune")
#: Step parameters that choose what runs, not how a run is fitted (left out of the work key;
#: a motif-count model's runs carry the digest of their motif set in their folder name).
_NOT_KEYED = (
    "promoter",
    "models",
    "strategies",
    "task_sets",
    "splits",
    "seeds",
    "transfer",
    "motifs",
    "motif_names",
    "n_insertions",
    "insertion_sequences",
    "device",
    "threads",
    "register",
)


@dataclass(frozen=True)
class GridConfig:
    """One configuration: a model, a strategy and its pretraining / joint task set."""

    model: str
    strategy: str
    tasks: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Run name: ``<model>-<strategy>[-<task>+<task>]``."""
        return "-".join(
            [self.model, self.strategy, *(["+".join(self.tasks)] if self.tasks else [])]
        )

    @property
    def tags(self) -> dict[str, str]:
        """MLflow tags of the configuration's runs (filterable in the UI)."""
        return {
            "exprflow.model": self.model,
            "exprflow.strategy": self.strategy,
            "exprflow.tasks": "+".join(self.tasks),
        }


def task_sets(text: str) -> list[tuple[str, ...]]:
    """``a+b,c`` → ``[("a", "b"), ("c",)]`` (sets in order, duplicates dropped)."""
    sets = [tuple(dict.fromkeys(t for t in part.split("+") if t)) for part in split_list(text)]
    return list(dict.fromkeys(s for s in sets if s))


def grid(models: list[str], strategies: list[str], sets: list[tuple[str, ...]]) -> list[GridConfig]:
    """Every configuration: models × strategies × task sets (single_task has none)."""
    check_choices("models", models, BACKBONES)
    check_choices("strategies", strategies, STRATEGIES)
    if not sets and any(s != "single_task" for s in strategies):
        raise InputError(
            "argument task_sets",
            "is empty, but pretraining or joint strategies need tasks.",
            fix="pass -P task_sets=Sharpr_MPRA (sets: ',' between, '+' within), or single_task.",
        )
    return [
        GridConfig(model, strategy, () if strategy == "single_task" else chosen)
        for model in models
        for strategy in strategies
        for chosen in ([()] if strategy == "single_task" else sets)
    ]


def _fit_settings(
    params: TrainPromoterParams, model: str, *, pretrain: bool
) -> PromoterFitSettings:
    """Published settings per strategy; LegNet with OneCycleLR (reference section 3)."""
    return PromoterFitSettings(
        lr=params.pretrain_lr if pretrain else params.lr,
        weight_decay=params.weight_decay,
        batch_size=params.pretrain_batch_size if pretrain else params.batch_size,
        max_epochs=params.pretrain_max_epochs if pretrain else params.max_epochs,
        patience=params.patience,
        train_mode=params.pretrain_train_mode if pretrain else params.train_mode,
        scheduler="onecycle" if model.startswith("LegNet") else "none",
        monitor_task="overall" if pretrain else "auto",
        device="gpu" if params.device == "cuda" else params.device,
        threads=params.threads,
        limit_train_batches=params.max_steps_per_epoch,
    )


def _strategy_settings(params: TrainPromoterParams, model: str, cache: Path) -> StrategySettings:
    return StrategySettings(
        fit=_fit_settings(params, model, pretrain=False),
        pretrain=_fit_settings(params, model, pretrain=True),
        probe_lr=params.probe_lr,
        finetune_lr=params.lr,
        cache_dir=str(cache),
    )


def _motif_digest(scanner: MotifScanner) -> str:
    """A short digest of the scanner's motifs and settings (MotifBasedFCN's input)."""
    digest = hashlib.sha256(repr((scanner.pvalue, scanner.pseudocount)).encode())
    for pwm in scanner.pwms:
        digest.update(pwm.name.encode())
        digest.update(np.ascontiguousarray(pwm.probs, dtype=np.float64).tobytes())
    return digest.hexdigest()[:10]


def _epoch_logger(values: dict[str, float], epoch: int) -> None:
    mlflow.log_metrics({k: float(v) for k, v in values.items() if np.isfinite(v)}, step=epoch)


@dataclass
class _Result:
    """One split × seed run: what the reports and the selection need."""

    cells: list[dict[str, Any]]
    val_best: float
    record: dict[str, Any]
    folder: Path


class _Grid:
    """Runs the configurations of one step run and gathers their results."""

    def __init__(
        self,
        params: TrainPromoterParams,
        tasks: dict[str, TaskData],
        work: Path,
        scanner: MotifScanner | None,
    ) -> None:
        self.params = params
        self.tasks = tasks
        self.work = work
        self.scanner = scanner
        self.target = params.task
        self.monitor, self.mode = monitor_for({self.target: tasks[self.target].spec})
        self.rows: list[dict[str, Any]] = []
        self.transfer: list[pd.DataFrame] = []
        self.best: tuple[float, GridConfig, _Result] | None = None
        self.tags = step_tags(STEP.name, STEP.family, STEP.task)

    def scanner_for(self, model: str) -> MotifScanner | None:
        """The motif scanner for the motif-count backbones, None for the sequence ones."""
        return self.scanner if model.startswith("MotifBased") else None

    def pretrain(self, model: str, chosen: tuple[str, ...]) -> None:
        """Pretrain (or reuse) ``model`` on ``chosen`` in a nested run; zero-shot transfer."""
        target = self.tasks[self.target]
        scanner = self.scanner_for(model)
        base = PromoterModelConfig(
            backbone=model,
            size=self.params.size,
            seq_length=int(target.spec.max_length or target.codes.shape[1]),
            n_motifs=scanner.n_motifs if scanner is not None else 0,
        )
        settings = _fit_settings(self.params, model, pretrain=True)
        tags = self.tags | {"exprflow.model": model, "exprflow.pretrain_tasks": "+".join(chosen)}
        name = f"pretrain-{model}-{'+'.join(chosen)}"
        with mlflow.start_run(run_name=name, nested=True, tags=tags):
            done = pretrained_backbone(
                base,
                {t: self.tasks[t] for t in chosen},
                settings,
                self.work / "pretrained",
                scanner=scanner,
                log_metrics=_epoch_logger,
            )
            mlflow.set_tags(
                {"exprflow.pretrain_key": done.key, "exprflow.reused": str(done.reused)}
            )
            self._transfer(model, chosen, done.model)

    def _transfer(self, model: str, chosen: tuple[str, ...], network: PromoterModel) -> None:
        mapping = CellMapping.parse(self.params.transfer)
        wanted = CellMapping(tuple(t for t in mapping.targets if t.task in chosen))
        if not wanted.targets or self.target != "FluorescenceData":
            return
        target = self.tasks[self.target]
        rows = np.arange(len(target.ids))
        outputs = {
            task: head_outputs(network, target, rows, task, scanner=self.scanner_for(model))
            for task in wanted.tasks
        }
        specs = {task: self.tasks[task].spec for task in wanted.tasks}
        truth = pd.DataFrame(target.targets, columns=list(target.spec.outputs))
        table = transfer_metrics(transfer_predictions(outputs, specs, wanted), truth)
        for row in table.itertuples():
            key = f"zero_shot_{row.cell}_{row.task}_{row.output}".replace(":", "_")
            mlflow.log_metrics({f"{key}_pearson": row.pearson, f"{key}_spearman": row.spearman})
        self.transfer.append(table.assign(model=model, pretrain_tasks="+".join(chosen)))

    def run_config(self, config: GridConfig, splits: list[int], seeds: list[int]) -> None:
        """Every split × seed of ``config`` in a nested run; keep the best for registration."""
        results = []
        with mlflow.start_run(run_name=config.name, nested=True, tags=self.tags | config.tags):
            for split in splits:
                for seed in seeds:
                    results.append(self._run_one(config, split, seed))
            cells = pd.DataFrame([c for r in results for c in r.cells])
            means = cells.drop(columns=["split", "seed"]).groupby("cell").mean()
            mlflow.log_metrics(
                {
                    f"mean_test_{cell}_{k}": float(v)
                    for cell, row in means.iterrows()
                    for k, v in row.items()
                }
            )
            score = float(np.nanmean([r.val_best for r in results]))
            mlflow.log_metric(f"mean_best_{self.monitor}", score)
        sign = 1.0 if self.mode == "max" else -1.0
        best_run = max(results, key=lambda r: sign * np.nan_to_num(r.val_best, nan=-np.inf))
        if self.best is None or sign * score > sign * self.best[0]:
            self.best = (score, config, best_run)

    def _run_one(self, config: GridConfig, split: int, seed: int) -> _Result:
        name = config.name
        scanner = self.scanner_for(config.model)
        if scanner is not None:
            name += "-motifs" + _motif_digest(scanner)  # the motif set is the input
        folder = self.work / "runs" / name / f"split{split}-seed{seed}"
        record_file = folder / "outcome.json"
        tags = self.tags | config.tags | {"exprflow.split": str(split), "exprflow.seed": str(seed)}
        reused = record_file.is_file()
        if reused:
            tags["exprflow.reused_run"] = "true"
        with mlflow.start_run(run_name=f"split {split} seed {seed}", nested=True, tags=tags) as run:
            if reused:
                record = json.loads(record_file.read_text())
            else:
                record = self._fit(config, split, seed, folder)
            cells = [c | {"split": split, "seed": seed} for c in record["cells"]]
            mlflow.log_metrics(
                {f"test_{k}": v for k, v in record["test"].items() if np.isfinite(v)}
            )
            mlflow.log_metrics(
                {
                    f"last_epoch_test_{k}": v
                    for k, v in record["test_last"].items()
                    if np.isfinite(v)
                }
                | {"best_epoch": record["best_epoch"], "seconds": record["seconds"]}
            )
            log_history(run.info.run_id, record["history"])
        for cell in cells:
            self.rows.append({**asdict(config), "tasks": "+".join(config.tasks), **cell})
        return _Result(cells, record["val_best"], record, folder)

    def _fit(self, config: GridConfig, split: int, seed: int, folder: Path) -> dict[str, Any]:
        strategy = StrategyConfig(
            backbone=config.model,
            strategy=config.strategy,
            size=self.params.size,
            pretrain_tasks=config.tasks if config.strategy in PRETRAINED else (),
            joint_tasks=config.tasks if config.strategy == "joint" else (),
            target_task=self.target,
            seed=seed,
            split_index=split,
        )
        settings = _strategy_settings(self.params, config.model, self.work / "pretrained")
        with tempfile.TemporaryDirectory() as tmp:
            scanner = self.scanner_for(config.model)
            outcome = run_strategy(strategy, self.tasks, settings, tmp, scanner=scanner)
        return self._save(outcome, folder)

    def _save(self, outcome: StrategyOutcome, folder: Path) -> dict[str, Any]:
        values = [
            h[self.monitor] for h in outcome.history if np.isfinite(h.get(self.monitor, np.nan))
        ]
        best = (max if self.mode == "max" else min)(values) if values else float("nan")
        outputs = self.tasks[self.target].spec.outputs
        record = {
            "cells": outcome.cell_metrics(outputs),
            "test": outcome.test,
            "test_last": outcome.test_last,
            "history": outcome.history,
            "best_epoch": outcome.best_epoch,
            "val_best": best,
            "pretrain_key": outcome.pretrain_key,
            "seconds": outcome.seconds,
            "predictions": {
                "sequence_id": [str(i) for i in outcome.test_ids],
                **{cell: outcome.predictions[:, c].tolist() for c, cell in enumerate(outputs)},
            },
        }
        save_promoter_model(outcome.model, outcome.model_config, folder / "model")
        with atomic_path(folder / "outcome.json") as tmp:
            tmp.write_text(json.dumps(record))
        return record


def _register(ctx: StepContext, grid_run: _Grid, folder: Path) -> None:
    """Log the best configuration's best run as a pyfunc; register it."""
    assert grid_run.best is not None
    score, config, result = grid_run.best
    target = grid_run.tasks[grid_run.target]
    register = parse_flag("register", grid_run.params.register)
    info = log_promoter_model(
        folder,
        "model",
        task_spec=target.spec,
        input_example=decode_codes(target.codes[:3]),
        scanner=grid_run.scanner_for(config.model),
        registered_name=registered_name(grid_run.target) if register else None,
        metadata={"configuration": config.name, f"best_{grid_run.monitor}": result.val_best},
    )
    ctx.log_output("model", info.model_uri)
    mlflow.set_tags({"exprflow.best": config.name, "exprflow.best.score": f"{score:.4f}"})


def _reports(ctx: StepContext, grid_run: _Grid) -> None:
    table = pd.DataFrame(grid_run.rows)
    with tempfile.TemporaryDirectory() as tmp:
        write_promoter_report(table, Path(tmp) / "summary")
        ctx.log_artifact_output("summary", Path(tmp) / "summary", "summary")
        if grid_run.transfer:
            transfer = Path(tmp) / "transfer"
            transfer.mkdir()
            pd.concat(grid_run.transfer).to_csv(transfer / "zero_shot.csv", index=False)
            ctx.log_artifact_output("transfer", transfer, "transfer")
    ranking = strategy_ranking(summarize_runs(table))
    for row in ranking.itertuples():
        log.info("train_promoter: rank %d %s", row.rank, "-".join(str(v) for v in row[2:5]))


def train_grid(
    ctx: StepContext, params: TrainPromoterParams, splits: list[int], seeds: list[int]
) -> None:
    """Run the pretrainings and the grid, write the reports, register the best model."""
    if params.task not in TARGET_TASKS:
        raise InputError("argument task", f"{params.task!r} is not one of {TARGET_TASKS}.")
    configs = grid(
        split_list(params.models), split_list(params.strategies), task_sets(params.task_sets)
    )
    needed = sorted({params.task, *(t for c in configs for t in c.tasks)})
    folder = ctx.log_input("promoter", params.promoter)
    tasks = read_tasks(folder, needed)
    seeds_held = tasks[params.task].splits.shape[1]
    if max(splits) >= seeds_held:
        raise InputError(
            folder / f"{params.task}.h5",
            f"holds split seeds 0..{seeds_held - 1}, splits asks for {max(splits)}.",
            fix=f"pass -P splits=<values below {seeds_held}>, or prepare more split seeds.",
        )
    pwms = (
        motif_set(params, ctx)
        if params.n_insertions > 0 or any(c.model.startswith("MotifBased") for c in configs)
        else []
    )
    scanner = MotifScanner(pwms) if any(c.model.startswith("MotifBased") for c in configs) else None
    grid_run = _Grid(
        params,
        tasks,
        keyed_work_folder(WORK_ROOT, fingerprint(folder), params, _NOT_KEYED),
        scanner,
    )
    for model, chosen in dict.fromkeys(
        (c.model, c.tasks) for c in configs if c.strategy in PRETRAINED
    ):
        grid_run.pretrain(model, chosen)
    for config in configs:
        log.info("train_promoter: %s", config.name)
        grid_run.run_config(config, splits, seeds)
    _reports(ctx, grid_run)
    assert grid_run.best is not None
    best_folder = grid_run.best[2].folder / "model"
    if params.n_insertions > 0:
        best_model, _ = load_promoter_model(best_folder)
        scanner = grid_run.scanner_for(grid_run.best[1].model)
        motif_insertion(ctx, params, grid_run.tasks[params.task], best_model, scanner, pwms)
    _register(ctx, grid_run, best_folder)
