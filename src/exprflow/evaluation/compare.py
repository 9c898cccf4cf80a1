"""Compare the gathered step runs of the families under one metric naming scheme.

Takes the runs and model versions of :mod:`exprflow.evaluation.gather` and the headline
metrics of :mod:`exprflow.evaluation.metric_names`; reads and writes nothing
(:mod:`exprflow.evaluation.comparison_report` writes the report). The rules:

- a run is **scored** when it logs at least one headline metric of its task;
- the **deciding run** of a family × task is its finished scored run with the most
  headline metrics (ties: the latest); its metrics are the family's
  ``<family>.<task>.<metric>`` summary;
- a finished scored run missing a required headline metric is reported, and so is every
  finished run of a family × task where no run is scored;
- the headline table has a row per scored, unfinished or reported run of a known task,
  each followed by a row per registered model version the run created.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from exprflow.evaluation.gather import ModelRecord, RunRecord, run_order
from exprflow.evaluation.metric_names import (
    TASK_METRICS,
    is_truth_metric,
    summary_name,
    task_metrics,
)

__all__ = ["HEADLINE_COLUMNS", "Comparison", "MissingMetrics", "compare"]

log = logging.getLogger(__name__)

#: Identifying columns of the headline table, before the metric columns.
HEADLINE_COLUMNS = ("family", "task", "step", "status", "model", "aliases", "run_id")


@dataclass(frozen=True)
class MissingMetrics:
    """A finished run of a known task that lacks required headline metrics."""

    run: RunRecord
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    """The comparison of the gathered runs.

    Attributes
    ----------
    runs : tuple of RunRecord
        Every gathered run, sorted by task (scheme order), family and start.
    headline : pandas.DataFrame
        :data:`HEADLINE_COLUMNS`, then one float column per headline metric of the tasks
        present (NaN: not logged); model rows have ``model`` and ``aliases`` set.
    deciding : dict
        ``(family, task)`` → its deciding run.
    summary : dict of str to float
        ``<family>.<task>.<metric>`` → the deciding run's value.
    missing : tuple of MissingMetrics
        Runs lacking required headline metrics.
    truth : pandas.DataFrame
        ``family, task, step, run_id`` and one column per planted-truth metric logged.
    """

    runs: tuple[RunRecord, ...]
    headline: pd.DataFrame
    deciding: dict[tuple[str, str], RunRecord]
    summary: dict[str, float]
    missing: tuple[MissingMetrics, ...]
    truth: pd.DataFrame

    @property
    def families(self) -> list[str]:
        """Families with at least one gathered run, sorted."""
        return sorted({r.family for r in self.runs})

    @property
    def not_finished(self) -> list[RunRecord]:
        """Runs that failed, were killed or are still running."""
        return [r for r in self.runs if not r.finished]

    def best(self, task: str) -> list[str]:
        """Families whose deciding run is best on the task's deciding metric (ties: all)."""
        scheme = TASK_METRICS[task]
        metric = scheme.deciding
        values = {
            family: run.headline()[metric.name]
            for (family, t), run in self.deciding.items()
            if t == task and metric.name in run.headline()
        }
        if not values:
            return []
        pick = max if metric.direction == "max" else min
        top = pick(values.values())
        return sorted(f for f, v in values.items() if v == top)


def _deciding(runs: Sequence[RunRecord]) -> dict[tuple[str, str], RunRecord]:
    best: dict[tuple[str, str], RunRecord] = {}
    for run in runs:
        if not (run.finished and run.headline()):
            continue
        key = (run.family, run.task)
        rank = (len(run.headline()), run.start_time)
        if key not in best or rank > (len(best[key].headline()), best[key].start_time):
            best[key] = run
    return best


def _missing(
    runs: Sequence[RunRecord], deciding: dict[tuple[str, str], RunRecord]
) -> list[MissingMetrics]:
    out = []
    for run in runs:
        scheme = task_metrics(run.task)
        if scheme is None or not run.finished:
            continue
        if (run.family, run.task) in deciding and not run.headline():
            continue  # a scoring or prediction step of a family × task that is evaluated
        absent = tuple(n for n in scheme.required if n not in run.headline())
        if absent:
            out.append(MissingMetrics(run, absent))
    return out


def _metric_columns(tasks: Iterable[str]) -> list[str]:
    present = set(tasks)
    columns: list[str] = []
    for task, scheme in TASK_METRICS.items():
        if task in present:
            columns += [n for n in scheme.names if n not in columns]
    return columns


def _headline_table(
    runs: Sequence[RunRecord], models: Sequence[ModelRecord], columns: Sequence[str]
) -> pd.DataFrame:
    rows = []
    for run in runs:
        ids = {"family": run.family, "task": run.task, "step": run.step, "run_id": run.run_id}
        rows.append({**ids, "status": run.status, "model": "", "aliases": "", **run.headline()})
        for model in (m for m in models if m.run_id == run.run_id):
            names = TASK_METRICS[run.task].names
            values = {n: model.metrics.get(n, run.headline().get(n)) for n in names}
            aliases = " ".join(f"@{a}" for a in model.aliases)
            label = f"{model.name} v{model.version}"
            rows.append(
                {**ids, "status": model.status, "model": label, "aliases": aliases, **values}
            )
    table = pd.DataFrame(rows, columns=[*HEADLINE_COLUMNS, *columns])
    return table.astype({c: float for c in columns})


def _truth_table(runs: Sequence[RunRecord]) -> pd.DataFrame:
    rows = []
    for run in runs:
        values = {k: v for k, v in run.metrics.items() if is_truth_metric(k)}
        if values:
            ids = {"family": run.family, "task": run.task, "step": run.step}
            rows.append({**ids, "run_id": run.run_id, **dict(sorted(values.items()))})
    return (
        pd.DataFrame(rows) if rows else pd.DataFrame(columns=["family", "task", "step", "run_id"])
    )


def compare(runs: Sequence[RunRecord], models: Sequence[ModelRecord] = ()) -> Comparison:
    """Compare the gathered runs (see the module docstring for the rules).

    Parameters
    ----------
    runs : Sequence of RunRecord
        From :func:`gather_runs`.
    models : Sequence of ModelRecord, default ()
        From :func:`model_versions`.

    Returns
    -------
    Comparison
    """
    runs = sorted(runs, key=run_order)
    deciding = _deciding(runs)
    missing = _missing(runs, deciding)
    reported = {m.run.run_id for m in missing}
    shown = [
        r
        for r in runs
        if task_metrics(r.task) and (r.headline() or not r.finished or r.run_id in reported)
    ]
    summary = {
        summary_name(family, task, name): value
        for (family, task), run in sorted(deciding.items())
        for name, value in run.headline().items()
    }
    for entry in missing:
        log.warning(
            "%s / %s / %s (run %s) lacks headline metric(s) %s",
            entry.run.family, entry.run.task, entry.run.step, entry.run.run_id,
            ", ".join(entry.missing),
        )  # fmt: skip
    return Comparison(
        tuple(runs),
        _headline_table(shown, models, _metric_columns(r.task for r in shown)),
        deciding,
        summary,
        tuple(missing),
        _truth_table(runs),
    )
