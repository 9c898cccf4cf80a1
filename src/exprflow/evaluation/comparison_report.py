"""The comparison report of ``evaluate``: Markdown with a bar chart per task, and what was planted.

Writes, into one folder (atomically, file by file): ``report.md`` and ``plots/<task>.png``
(the task's deciding metric, one bar per finished scored run, coloured by family). The
report's sections: the scope; per task, the chart and its part of the headline table; runs
lacking headline metrics; runs that did not finish; planted-truth recovery (the runs'
truth metrics and, with a world, what the world planted); every run; the naming scheme.

Reads a world's ``truth.json`` (:mod:`exprflow.simulate.truth`) for :func:`read_planted`:
``size.name``, ``seed``, ``lcl_cell_type``, ``cell_types``, ``gene_baseline_log2_rpkm``,
``causal_variants`` (``gene_id``, ``region``, ``change``), ``motif_sites``, ``enhancers``
and ``components.population.n_individuals``; only ``causal_variants`` is required.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.evaluation.compare import HEADLINE_COLUMNS, Comparison
from exprflow.evaluation.gather import RunRecord, Scope
from exprflow.evaluation.metric_names import DIRECTIONS, TASK_METRICS, TaskMetrics
from exprflow.evaluation.plots import plot_metric_bars
from exprflow.evaluation.report import markdown_table

__all__ = ["read_planted", "run_link", "write_comparison_report"]

_TRUTH_FIX = "give the world folder written by the simulate step (world.json, truth.json)."


def _count(items: Any) -> int:
    return len(items) if isinstance(items, list | dict) else 0


def _tally(variants: list[dict[str, Any]], key: str) -> str:
    counts = Counter(str(v.get(key, "?")) for v in variants)
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "none"


def read_planted(path: str | Path) -> dict[str, object]:
    """Summarise what a synthetic world planted, from its ``truth.json``.

    Parameters
    ----------
    path : str or Path
        The world's ``truth.json``.

    Returns
    -------
    dict of str to object
        Label → value, in report order: world, LCL cell type, cell types, individuals,
        genes, causal variants, causal genes, causal variants by region and by change,
        motif sites, enhancers.

    Raises
    ------
    InputError
        Unreadable JSON, not an object, or no list ``causal_variants`` of objects with a
        ``gene_id``.
    """
    path = Path(path)
    try:
        truth: Any = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read the truth document: {err}.", fix=_TRUTH_FIX) from err
    if not isinstance(truth, dict) or not isinstance(truth.get("causal_variants"), list):
        raise InputError(path, "has no list 'causal_variants'.", record="causal_variants")
    variants = truth["causal_variants"]
    for i, variant in enumerate(variants):
        if not isinstance(variant, dict) or "gene_id" not in variant:
            raise InputError(
                path, "causal variant without gene_id.", record=f"causal_variants[{i}]"
            )
    population = truth.get("components", {}).get("population", {})
    size = truth.get("size", {})
    return {
        "world": f"{size.get('name', '?')} (seed {truth.get('seed', '?')})",
        "LCL cell type": truth.get("lcl_cell_type", "?"),
        "cell types": _count(truth.get("cell_types")),
        "individuals": population.get("n_individuals", "?"),
        "genes": _count(truth.get("gene_baseline_log2_rpkm")),
        "causal variants": len(variants),
        "causal genes": len({v["gene_id"] for v in variants}),
        "causal variants by region": _tally(variants, "region"),
        "causal variants by change": _tally(variants, "change"),
        "motif sites": _count(truth.get("motif_sites")),
        "enhancers": _count(truth.get("enhancers")),
    }


def run_link(run: RunRecord, ui_url: str = "") -> str:
    """A run's id as Markdown: a link into the MLflow UI when its address is known.

    Parameters
    ----------
    run : RunRecord
        The run.
    ui_url : str, default ""
        The tracking server's address (``http://host:5000``); empty: the id in code.

    Returns
    -------
    str
    """
    if not ui_url:
        return f"`{run.run_id}`"
    return (
        f"[{run.run_id}]({ui_url.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id})"
    )


def _task_plot(comparison: Comparison, scheme: TaskMetrics, folder: Path) -> str:
    """Chart the deciding metric of a task; return the image link (empty: nothing to chart)."""
    metric = scheme.deciding
    rows = comparison.headline
    rows = rows[
        (rows["task"] == scheme.task) & (rows["model"] == "") & (rows["status"] == "FINISHED")
    ]
    rows = rows[np.isfinite(rows[metric.name].to_numpy(dtype=float))]
    if rows.empty:
        return ""
    name = f"plots/{scheme.task}.png"
    plot_metric_bars(
        [f"{f}\n{s}" for f, s in zip(rows["family"], rows["step"], strict=True)],
        rows[metric.name].tolist(),
        rows["family"].tolist(),
        folder / name,
        title=f"{scheme.task}: {metric.name} ({DIRECTIONS[metric.direction]})",
        ylabel=metric.name,
    )
    return f"![{scheme.task}: {metric.name}]({name})\n"


def _task_section(comparison: Comparison, scheme: TaskMetrics, folder: Path, ui_url: str) -> str:
    metric = scheme.deciding
    best = comparison.best(scheme.task)
    table = comparison.headline[comparison.headline["task"] == scheme.task]
    ids = {r.run_id: r for r in comparison.runs}
    table = table.assign(run_id=[run_link(ids[i], ui_url) for i in table["run_id"]])
    columns = [c for c in HEADLINE_COLUMNS if c != "task"] + list(scheme.names)
    if not (table["model"] != "").any():
        columns = [c for c in columns if c not in ("model", "aliases")]
    lead = f"best {', '.join(best)}" if best else "no finished run logged it"
    sources = ", ".join(
        f"{family} from {run.step}"
        for (family, task), run in sorted(comparison.deciding.items())
        if task == scheme.task
    )
    parts = [
        f"### `{scheme.task}`: {scheme.description}\n",
        f"Deciding metric `{metric.name}` ({DIRECTIONS[metric.direction]}): {lead}.\n",
    ]
    if sources:
        parts.append(f"Summary metrics `<family>.{scheme.task}.*` on this run: {sources}.\n")
    parts += [
        _task_plot(comparison, scheme, folder),
        markdown_table(table[columns].replace("", "-")),
    ]
    return "\n".join(p for p in parts if p)


def _runs_table(runs: list[RunRecord], ui_url: str, extra: Mapping[str, list[str]]) -> str:
    frame = pd.DataFrame(
        {
            "family": [r.family for r in runs],
            "task": [r.task for r in runs],
            "step": [r.step for r in runs],
            "status": [r.status for r in runs],
            "run": [run_link(r, ui_url) for r in runs],
            **extra,
        }
    )
    return markdown_table(frame)


def _problem_sections(comparison: Comparison, ui_url: str) -> list[str]:
    out = ["## Runs lacking headline metrics\n"]
    if comparison.missing:
        runs = [m.run for m in comparison.missing]
        missing = [", ".join(m.missing) for m in comparison.missing]
        out.append(_runs_table(runs, ui_url, {"missing": missing}))
    else:
        out.append("None: every evaluated run logged its task's required headline metrics.\n")
    out.append("## Runs that did not finish\n")
    stopped = comparison.not_finished
    if stopped:
        errors = [(r.error or "-").splitlines()[0][:200] for r in stopped]
        out.append(_runs_table(stopped, ui_url, {"error": errors}))
    else:
        out.append("None.\n")
    return out


def _truth_section(
    comparison: Comparison, planted: Mapping[str, object] | None, ui_url: str
) -> list[str]:
    out = ["## Planted-truth recovery\n"]
    if planted is not None:
        out.append("What the synthetic world planted (from its truth.json):\n")
        out.append("".join(f"- {label}: {value}\n" for label, value in planted.items()))
    if comparison.truth.empty:
        out.append("No run logged a planted-truth metric.\n")
    else:
        ids = {r.run_id: r for r in comparison.runs}
        links = [run_link(ids[i], ui_url) for i in comparison.truth["run_id"]]
        out.append(markdown_table(comparison.truth.assign(run_id=links)))
    return out


def _scheme_section(comparison: Comparison) -> list[str]:
    tasks = [t for t in TASK_METRICS if t in {r.task for r in comparison.runs}]
    rows = [
        (t, m.name, DIRECTIONS[m.direction], "yes" if m.required else "no", m.description)
        for t in tasks
        for m in TASK_METRICS[t].metrics
    ]
    frame = pd.DataFrame(rows, columns=["task", "metric", "direction", "required", "meaning"])
    return [
        "## Metric names\n",
        "Each family's deciding run logs these names on its own run; this run logs them "
        "again as `<family>.<task>.<metric>` so the MLflow compare view lines them up.\n",
        markdown_table(frame) if rows else "No run of a task with headline metrics.\n",
    ]


def write_comparison_report(
    folder: str | Path,
    comparison: Comparison,
    scope: Scope,
    *,
    planted: Mapping[str, object] | None = None,
    ui_url: str = "",
) -> Path:
    """Write ``report.md`` and its charts into ``folder``.

    Parameters
    ----------
    folder : str or Path
        Folder to write into (created if needed).
    comparison : Comparison
        From :func:`~exprflow.evaluation.compare.compare`.
    scope : Scope
        The compared runs' scope.
    planted : Mapping, optional
        :func:`read_planted` output. Default None: no description of the world.
    ui_url : str, default ""
        The tracking server's address, to link runs; empty: ids only.

    Returns
    -------
    Path
        ``folder / "report.md"``.
    """
    folder = Path(folder)
    families = comparison.families
    parts = [
        "# Comparison of the families\n",
        f"Compared: {scope.describe()}: {len(comparison.runs)} step runs of "
        f"{len(families)} families ({', '.join(families) or 'none'}).\n",
        "## Headline table\n",
    ]
    tasks = [t for t in TASK_METRICS if t in set(comparison.headline["task"])]
    parts += [_task_section(comparison, TASK_METRICS[t], folder, ui_url) for t in tasks]
    if not tasks:
        parts.append("No run of a task with headline metrics.\n")
    parts += _problem_sections(comparison, ui_url)
    parts += _truth_section(comparison, planted, ui_url)
    parts += ["## All runs\n", _runs_table(list(comparison.runs), ui_url, {})]
    parts += _scheme_section(comparison)
    dest = folder / "report.md"
    with atomic_path(dest) as tmp:
        tmp.write_text("\n".join(parts))
    return dest
