"""The four training strategies of the promoter study.

- ``single_task``: the target task (fluorescence) only, with v2's per-output MLP heads.
- ``pretrain+linear_probing``: the backbone pretrained on ``pretrain_tasks`` (linear
  heads, ``overall_val_loss``; cached by its settings, :mod:`exprflow.training.promoter_pretrain`),
  a new linear target head, the backbone frozen
  (:meth:`~exprflow.models.promoter.model.PromoterModel.freeze_for_probing`; MTLucifer's
  CLS token still trains), lr ``probe_lr`` (1e-3).
- ``pretrain+finetune``: the same pretrained backbone, everything trainable, lr
  ``finetune_lr`` (1e-5).
- ``joint``: the target task and ``joint_tasks`` from scratch together, linear heads,
  monitored on the target task.

The pretraining is one run shared by every seed and split (its own seed is
``StrategySettings.pretrain.seed``); the target fit follows ``StrategyConfig.seed`` and
its split column. Test metrics come from the best checkpoint
(:func:`~exprflow.training.promoter_fit.fit_promoter`).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import lightning as L
import numpy as np

from exprflow.data.promoter_tasks import TaskData
from exprflow.models.promoter import PromoterModel, PromoterModelConfig
from exprflow.models.promoter.motif_counts import MotifScanner
from exprflow.training.promoter_fit import (
    LogMetrics,
    PromoterFit,
    PromoterFitSettings,
    fit_promoter,
    predict_task,
)
from exprflow.training.promoter_metrics import metric_name
from exprflow.training.promoter_pretrain import (
    check_compatible,
    new_model,
    pretrain_key,
    pretrained_backbone,
)

__all__ = [
    "STRATEGIES",
    "StrategyConfig",
    "StrategyOutcome",
    "StrategySettings",
    "pretrain_key",
    "pretrained_backbone",
    "run_strategy",
]

log = logging.getLogger(__name__)

#: The strategies, spelled as published.
STRATEGIES = ("single_task", "pretrain+linear_probing", "pretrain+finetune", "joint")


@dataclass(frozen=True)
class StrategyConfig:
    """One configuration of the grid: model × strategy × tasks × seed × split.

    Parameters
    ----------
    backbone : str
        A backbone name (``BACKBONES``).
    strategy : str
        One of :data:`STRATEGIES`.
    size : str, optional
        ``"published"`` or ``"tiny"``. Default "tiny".
    pretrain_tasks : tuple of str, optional
        Tasks of the pretraining (the two ``pretrain+*`` strategies).
    joint_tasks : tuple of str, optional
        Tasks trained with the target (``joint``).
    target_task : str, optional
        The task scored. Default "FluorescenceData".
    seed : int, optional
        Seed of the target fit (new heads, dropout, batch order). Default 0.
    split_index : int, optional
        Split column of the target task. Default 0.
    norm : str, optional
        CNN-block norm override (``""``: the backbone's default).
    """

    backbone: str
    strategy: str
    size: str = "tiny"
    pretrain_tasks: tuple[str, ...] = ()
    joint_tasks: tuple[str, ...] = ()
    target_task: str = "FluorescenceData"
    seed: int = 0
    split_index: int = 0
    norm: str = ""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        pretrains = self.strategy.startswith("pretrain")
        if pretrains != bool(self.pretrain_tasks):
            raise ValueError(
                f"pretrain_tasks {self.pretrain_tasks} do not fit strategy {self.strategy!r}: "
                "the pretrain+* strategies need them, the others take none"
            )
        if (self.strategy == "joint") != bool(self.joint_tasks):
            raise ValueError(
                f"joint_tasks {self.joint_tasks} do not fit strategy {self.strategy!r}"
            )
        if self.target_task in self.pretrain_tasks + self.joint_tasks:
            raise ValueError(f"the target task {self.target_task} is also listed as another task")

    @property
    def tasks(self) -> tuple[str, ...]:
        """Every task the configuration reads."""
        return (self.target_task, *self.pretrain_tasks, *self.joint_tasks)


@dataclass(frozen=True)
class StrategySettings:
    """Fit settings of the strategies.

    Parameters
    ----------
    fit : PromoterFitSettings, optional
        Target fits (``single_task``, ``joint``; others with their lr). Default v2 single task.
    pretrain : PromoterFitSettings, optional
        The pretraining fit (its seed is the pretraining's: one run shared by all seeds).
    probe_lr, finetune_lr : float, optional
        Learning rates of linear probing (1e-3) and fine-tuning (1e-5).
    cache_dir : str, optional
        Pretraining cache; ``""`` (default): ``<work_dir>/pretrained``.
    keep_checkpoints : bool, optional
        Keep the target fit's Lightning checkpoints in ``work_dir``. Default False.
    """

    fit: PromoterFitSettings = field(default_factory=PromoterFitSettings)
    pretrain: PromoterFitSettings = field(default_factory=PromoterFitSettings)
    probe_lr: float = 1e-3
    finetune_lr: float = 1e-5
    cache_dir: str = ""
    keep_checkpoints: bool = False


@dataclass
class StrategyOutcome:
    """What one configuration produced.

    Attributes
    ----------
    config : StrategyConfig
        The configuration.
    model : PromoterModel
        The best checkpoint's model (eval mode, CPU).
    model_config : PromoterModelConfig
        Its config (for saving).
    test : dict of str to float
        Target-task test metrics of the best checkpoint (flat names).
    test_last : dict of str to float
        The same for the final epoch's weights (what the published v2 reported).
    test_ids : numpy.ndarray
        str ``(n,)`` ids of the target task's test rows.
    predictions : numpy.ndarray
        float64 ``(n, n_logits)`` test predictions.
    history : list of dict
        Per-epoch figures of the target fit.
    best_epoch : int
        Its best epoch.
    pretrain_key : str
        The pretraining's cache key (``""`` without one).
    pretrain_reused : bool
        Whether the pretraining came from the cache.
    seconds : float
        Wall time of the whole configuration.
    """

    config: StrategyConfig
    model: PromoterModel
    model_config: PromoterModelConfig
    test: dict[str, float]
    test_last: dict[str, float]
    test_ids: np.ndarray
    predictions: np.ndarray
    history: list[dict[str, float]]
    best_epoch: int
    pretrain_key: str = ""
    pretrain_reused: bool = False
    seconds: float = 0.0

    def cell_metrics(self, outputs: tuple[str, ...]) -> list[dict[str, float | str]]:
        """One row per output (cell) with its test metrics, e.g. pearson, spearman, r2.

        Parameters
        ----------
        outputs : tuple of str
            The target task's outputs (``TaskSpec.outputs``).

        Returns
        -------
        list of dict
            ``{"cell": output, <metric>: value …}``.
        """
        rows: list[dict[str, float | str]] = []
        for output in outputs:
            prefix = f"{metric_name(output)}_"
            row: dict[str, float | str] = {"cell": output}
            row.update({k[len(prefix) :]: v for k, v in self.test.items() if k.startswith(prefix)})
            rows.append(row)
        return rows


def _target_config(
    config: StrategyConfig, tasks: Mapping[str, TaskData], scanner: MotifScanner | None
) -> PromoterModelConfig:
    """Model config of the target fit (heads filled in by the strategy)."""
    if config.backbone.startswith("MotifBased") and scanner is None:
        raise ValueError(
            f"{config.backbone} reads motif counts; tasks {sorted(config.tasks)} need a motif "
            "scanner (a MEME motif file or the JASPAR motifs)"
        )
    target = tasks[config.target_task]
    return PromoterModelConfig(
        backbone=config.backbone,
        size=config.size,
        seq_length=int(target.spec.max_length or target.codes.shape[1]),
        n_motifs=scanner.n_motifs if scanner is not None else 0,
        norm=config.norm,
    )


def _build(
    config: StrategyConfig,
    tasks: Mapping[str, TaskData],
    settings: StrategySettings,
    cache_dir: Path,
    scanner: MotifScanner | None,
) -> tuple[PromoterModel, dict[str, TaskData], float, str, bool]:
    """The model to fit, its tasks, the learning rate, pretrain key and whether reused."""
    base = _target_config(config, tasks, scanner)
    target = config.target_task
    n_logits = tasks[target].spec.n_logits
    if config.strategy in ("single_task", "joint"):
        names = [target, *config.joint_tasks]
        style = "mlp" if config.strategy == "single_task" else "linear"
        heads = {name: tasks[name].spec.n_logits for name in names}
        L.seed_everything(config.seed, workers=True, verbose=False)
        model = new_model(replace(base, heads=heads, head_style=style), tasks, scanner)
        return model, {name: tasks[name] for name in names}, settings.fit.lr, "", False
    pretrain = {name: tasks[name] for name in config.pretrain_tasks}
    pre = pretrained_backbone(base, pretrain, settings.pretrain, cache_dir, scanner=scanner)
    check_compatible(pre.model.backbone, config.backbone, {target: tasks[target]}, scanner)
    L.seed_everything(config.seed, workers=True, verbose=False)
    model = PromoterModel(pre.model.backbone, {target: n_logits}, "linear")
    lr = settings.finetune_lr
    if config.strategy == "pretrain+linear_probing":
        model.freeze_for_probing()
        lr = settings.probe_lr
    return model, {target: tasks[target]}, lr, pre.key, pre.reused


def run_strategy(
    config: StrategyConfig,
    tasks: Mapping[str, TaskData],
    settings: StrategySettings,
    work_dir: str | Path,
    *,
    scanner: MotifScanner | None = None,
    log_metrics: LogMetrics | None = None,
) -> StrategyOutcome:
    """Train one configuration and score its target task's test rows.

    Parameters
    ----------
    config : StrategyConfig
        Model, strategy, tasks, seed, split.
    tasks : mapping of str to TaskData
        At least every task of ``config.tasks``.
    settings : StrategySettings
        Fit settings, learning rates, cache.
    work_dir : str or Path
        Where checkpoints (and the default pretraining cache) go.
    scanner : MotifScanner, optional
        Motif scanner (MotifBasedFCN backbones).
    log_metrics : callable, optional
        Per-epoch metrics of the target fit (``log_metrics(values, epoch)``).

    Returns
    -------
    StrategyOutcome

    Raises
    ------
    ValueError
        On a task missing from ``tasks`` or a backbone that cannot read a task.
    """
    started = time.perf_counter()
    missing = [name for name in config.tasks if name not in tasks]
    if missing:
        raise ValueError(f"tasks {missing} are not loaded; have {sorted(tasks)}")
    work = Path(work_dir)
    cache = Path(settings.cache_dir) if settings.cache_dir else work / "pretrained"
    model, fitted, lr, key, reused = _build(config, tasks, settings, cache, scanner)
    fit_settings = replace(settings.fit, lr=lr, seed=config.seed)
    checkpoints = work / "checkpoints"
    fit = fit_promoter(
        model,
        fitted,
        fit_settings,
        checkpoint_dir=checkpoints,
        split_index=config.split_index,
        scanner=scanner,
        log_metrics=log_metrics,
    )
    if not settings.keep_checkpoints:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return _outcome(config, tasks[config.target_task], fit, scanner, key, reused, started)


def _outcome(
    config: StrategyConfig,
    target: TaskData,
    fit: PromoterFit,
    scanner: MotifScanner | None,
    key: str,
    reused: bool,
    started: float,
) -> StrategyOutcome:
    """Test predictions and metrics of the fitted target task."""
    rows = target.indices("test", config.split_index)
    model_config = replace(
        _target_config(config, {config.target_task: target}, scanner),
        heads=fit.model.head_sizes,
        head_style=next(iter(fit.model.head_styles.values())),
    )
    return StrategyOutcome(
        config=config,
        model=fit.model,
        model_config=model_config,
        test=fit.test[config.target_task],
        test_last=fit.test_last[config.target_task],
        test_ids=target.ids[rows],
        predictions=predict_task(fit.model, target, rows, scanner=scanner),
        history=fit.history,
        best_epoch=fit.best_epoch,
        pretrain_key=key,
        pretrain_reused=reused,
        seconds=time.perf_counter() - started,
    )
