"""The Lightning module of a promoter fit: a PromoterModel plus its uncertainty loss weights.

Training steps receive ``{task: batch}`` (:func:`~exprflow.training.promoter_batching.train_loader`)
and minimise the sum of the tasks' weighted losses. Validation runs task after task
(``dataloader_idx`` = the task's position) and, at the epoch's end, logs per task
``val_<task>_loss`` (unweighted mean) and its metrics (``mean_*`` always; per output for
tasks with at most :data:`PER_OUTPUT_LIMIT` outputs), plus ``overall_val_loss``, the sum
of the weighted mean losses. Undefined means (NaN) are logged as 0 so monitors stay ordered.

Linear probing's frozen parameters are left out of the optimiser; the model itself keeps
its frozen norm layers in eval mode (:meth:`PromoterModel.train`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import Tensor

from exprflow.training.promoter_data import Batch
from exprflow.training.promoter_loss import UncertaintyWeights, task_loss
from exprflow.training.promoter_predict import score_task

if TYPE_CHECKING:
    from exprflow.data.promoter_tasks import TaskSpec
    from exprflow.models.promoter.model import PromoterModel

__all__ = ["PER_OUTPUT_LIMIT", "PromoterTask"]

#: Tasks with more outputs (RNASeq, ChIP-seq) log only their mean metrics per epoch.
PER_OUTPUT_LIMIT = 16


class PromoterTask(L.LightningModule):
    """A PromoterModel being trained on several tasks with uncertainty-weighted losses.

    Parameters
    ----------
    model : PromoterModel
        With a head per task.
    specs : mapping of str to TaskSpec
        The tasks, in the order of the validation loaders.
    lr, weight_decay : float
        AdamW settings.
    scheduler : {"none", "onecycle"}
        OneCycleLR(max_lr = lr, div 25, pct_start 0.3) stepped per batch, or none.
    """

    def __init__(
        self,
        model: PromoterModel,
        specs: Mapping[str, TaskSpec],
        lr: float,
        weight_decay: float,
        scheduler: str = "none",
    ) -> None:
        super().__init__()
        self.model = model
        self.specs = dict(specs)
        self.loss_weights = UncertaintyWeights(self.specs)
        self.lr, self.weight_decay, self.scheduler = lr, weight_decay, scheduler
        self.history: list[dict[str, float]] = []
        self._valid: dict[str, list[tuple[Tensor, ...]]] = {}

    def training_step(self, batch: Mapping[str, Batch | None], batch_idx: int) -> Tensor:
        """Sum of the weighted losses of every task's batch in this step."""
        losses = {
            task: task_loss(self.specs[task], self.model(part["x"], task), part)
            for task, part in batch.items()
            if part is not None
        }
        total, _ = self.loss_weights(losses)
        rows = sum(len(part["x"]) for part in batch.values() if part is not None)
        self.log("train_loss", total, on_step=False, on_epoch=True, batch_size=rows)
        return total

    def on_validation_epoch_start(self) -> None:
        """Start collecting the epoch's validation outputs."""
        self._valid = {task: [] for task in self.specs}

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Keep one batch's outputs, targets and loss × rows."""
        task = list(self.specs)[dataloader_idx]
        logits = self.model(batch["x"], task)
        loss = task_loss(self.specs[task], logits, batch) * len(logits)
        kept = (logits, batch["target"], batch["mask"], batch["group"], loss.reshape(1))
        self._valid[task].append(
            tuple(t.detach().float().cpu() if t is logits else t.detach().cpu() for t in kept)
        )

    def on_validation_epoch_end(self) -> None:
        """Per-task losses and metrics over the whole validation split; ``overall_val_loss``."""
        overall = torch.zeros(())
        for task, parts in self._valid.items():
            if not parts:
                continue
            logits, target, mask, group, loss = (
                torch.cat(column) for column in zip(*parts, strict=True)
            )
            mean_loss = loss.sum() / len(logits)
            with torch.no_grad():
                overall = (
                    overall + self.loss_weights.weighted(task, mean_loss.to(self.device)).cpu()
                )
            _, metrics = score_task(self.specs[task], logits, target, mask, group)
            self.log(f"val_{task}_loss", float(mean_loss))
            many = len(self.specs[task].outputs) > PER_OUTPUT_LIMIT
            for name, value in metrics.items():
                if name.startswith("mean_"):
                    self.log(f"val_{task}_{name}", value if math.isfinite(value) else 0.0)
                elif not many and math.isfinite(value):
                    self.log(f"val_{task}_{name}", value)
        self.log("overall_val_loss", float(overall))

    def configure_optimizers(self) -> Any:
        """AdamW over the trainable parameters, with OneCycleLR when asked."""
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler != "onecycle":
            return optimizer
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=self.lr,
            total_steps=max(1, int(self.trainer.estimated_stepping_batches)),
            div_factor=25.0,
            pct_start=0.3,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
