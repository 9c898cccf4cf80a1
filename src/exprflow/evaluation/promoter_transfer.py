"""Zero-shot transfer: pretrained task heads correlated with fluorescence, no fine-tuning.

A model pretrained on genomic tasks (RNASeq, Sharpr_MPRA, SuRE_classification …) predicts
every fluorescence promoter with its pretraining heads; each fluorescence cell is compared
with the head outputs measuring the "same" cell (the published ``eval_transfer_performance``).
Which output stands for which cell is a :class:`CellMapping`, written either as

- our form: comma-separated ``cell=task:output`` entries, ``output`` an output name of the
  task or its integer index, e.g.
  ``K562=Sharpr_MPRA:k562_minp_avg,K562=SuRE_classification:K562,K562=RNASeq:E123``
  (the task is the text before the first ``:``, so ChIP outputs such as ``K562:GATA1``
  need no quoting); or
- the published ``--output_inds_to_compare``: one space-separated entry per pretraining
  head (task), in the order of the heads, each a comma triple of output indices aligned to
  (JURKAT, K562, THP1), −1 = skip; e.g. ``"-1,0,-1 -1,2,-1"`` with heads
  ``[SuRE_classification, Sharpr_MPRA]``.

Head outputs become one value per promoter (:func:`transfer_predictions`): regression as
given; binary as P(1) (sigmoid); multiclass (SuRE) logits laid out
``(n_heads, n_outputs, n_classes)`` per row are softmaxed per head and output, averaged
over the heads (the 4 genomes) and turned into the expected bin Σ k·p_k.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from exprflow.data.promoter_tasks import TaskSpec
from exprflow.errors import InputError
from exprflow.evaluation.stats import correlation

__all__ = [
    "FLUORESCENCE_CELLS",
    "METRIC_COLUMNS",
    "CellMapping",
    "TransferTarget",
    "task_values",
    "transfer_metrics",
    "transfer_predictions",
]

#: Cells of the fluorescence data, the published order of ``--output_inds_to_compare``.
FLUORESCENCE_CELLS: Final = ("JURKAT", "K562", "THP1")
#: Columns of :func:`transfer_metrics`.
METRIC_COLUMNS: Final = ("cell", "task", "output", "pearson", "spearman", "n")
_SOURCE = "transfer mapping"
_FIX = "write cell=task:output entries joined by ',' (output: a name or an index of the task)."
_PUBLISHED = "--output_inds_to_compare"
_SHOWN = 12


@dataclass(frozen=True)
class TransferTarget:
    """One cell's comparison: a task head's output.

    Parameters
    ----------
    cell : str
        Fluorescence cell (e.g. ``K562``).
    task : str
        Pretraining task whose head predicts it.
    output : str or int
        The task's output name or its index in ``TaskSpec.outputs``.
    """

    cell: str
    task: str
    output: str | int

    def __str__(self) -> str:
        """The entry in our string form, ``cell=task:output``."""
        return f"{self.cell}={self.task}:{self.output}"


@dataclass(frozen=True)
class CellMapping:
    """Which task outputs are compared with which fluorescence cells.

    Parameters
    ----------
    targets : tuple of TransferTarget
        The comparisons, in order; no two alike.
    """

    targets: tuple[TransferTarget, ...]

    def __str__(self) -> str:
        """The mapping in our string form (what :meth:`parse` reads)."""
        return ",".join(map(str, self.targets))

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks the mapping uses, in order of first mention."""
        return tuple(dict.fromkeys(t.task for t in self.targets))

    @classmethod
    def parse(cls, text: str, cells: Sequence[str] = FLUORESCENCE_CELLS) -> CellMapping:
        """Read our form, ``cell=task:output[,cell=task:output…]``.

        Parameters
        ----------
        text : str
            The mapping; ``output`` all digits is an index, else a name. Blank: no
            comparison (an empty mapping).
        cells : sequence of str, optional
            Allowed cells. Default :data:`FLUORESCENCE_CELLS`.

        Returns
        -------
        CellMapping

        Raises
        ------
        InputError
            An entry without ``=`` or ``:``, an empty part, an unknown cell, or an entry
            given twice; the error names the entry.
        """
        targets = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            cell, equals, rest = item.partition("=")
            task, colon, output = rest.partition(":")
            cell, task, output = cell.strip(), task.strip(), output.strip()
            if not (equals and colon and cell and task and output):
                raise InputError(_SOURCE, "is not cell=task:output.", record=repr(item), fix=_FIX)
            index = output.isdigit()
            targets.append(TransferTarget(cell, task, int(output) if index else output))
        return cls._checked(targets, cells, lambda t: repr(str(t)))

    @classmethod
    def from_output_inds(
        cls, text: str, tasks: Sequence[str], cells: Sequence[str] = FLUORESCENCE_CELLS
    ) -> CellMapping:
        """Read the published ``--output_inds_to_compare`` form.

        Parameters
        ----------
        text : str
            One space-separated entry per head, each ``len(cells)`` comma-separated
            integers (output index of that head per cell; −1 = skip), e.g.
            ``"-1,0,-1 -1,2,-1"``.
        tasks : sequence of str
            The heads' tasks, in the order of the entries (the published
            ``--pretrain_tasks`` order).
        cells : sequence of str, optional
            The cells the triples are aligned to. Default :data:`FLUORESCENCE_CELLS`.

        Returns
        -------
        CellMapping
            Targets head by head, cell by cell, skips left out.

        Raises
        ------
        InputError
            A different number of entries than tasks, an entry with a different number of
            values than cells, a value that is not an integer ≥ −1.
        """
        entries = text.split()
        source = f"{_PUBLISHED} {text!r}"
        if len(entries) != len(tasks):
            raise InputError(
                source,
                f"has {len(entries)} entries, expected one per head ({len(tasks)}: {list(tasks)}).",
                fix="give one comma-separated entry per pretraining task, separated by spaces.",
            )
        targets = []
        for number, (entry, task) in enumerate(zip(entries, tasks, strict=True), start=1):
            values = entry.split(",")
            record = f"entry {number} ({entry!r}, head {task})"
            ok = len(values) == len(cells) and all(_is_index(v) for v in values)
            if not ok:
                raise InputError(
                    source,
                    f"has {values}, expected {len(cells)} integers ≥ -1 for {list(cells)}.",
                    record=record,
                    fix="write e.g. -1,0,-1 (-1 = no output of this head for that cell).",
                )
            for cell, value in zip(cells, values, strict=True):
                if int(value) >= 0:
                    targets.append(TransferTarget(cell, task, int(value)))
        return cls._checked(targets, cells, lambda t: f"{t} of {source}")

    @classmethod
    def _checked(
        cls,
        targets: list[TransferTarget],
        cells: Sequence[str],
        name: Callable[[TransferTarget], str],
    ) -> CellMapping:
        seen = set()
        for target in targets:
            record = name(target)
            if target.cell not in cells:
                raise InputError(
                    _SOURCE,
                    f"unknown cell {target.cell!r}, expected one of {list(cells)}.",
                    record=record,
                    fix=_FIX,
                )
            if target in seen:
                raise InputError(_SOURCE, "is given twice.", record=record, fix=_FIX)
            seen.add(target)
        return cls(tuple(targets))


def _is_index(value: str) -> bool:
    text = value.strip()
    return (text.isdigit() or (text.startswith("-") and text[1:].isdigit())) and int(text) >= -1


def _listed(names: Sequence[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return f"{list(names[:_SHOWN])}{more}"


def _output_index(target: TransferTarget, spec: TaskSpec) -> int:
    """Index of ``target.output`` in ``spec.outputs``; InputError naming the entry."""
    outputs = spec.outputs
    if isinstance(target.output, int):
        if 0 <= target.output < len(outputs):
            return target.output
        problem = f"output index {target.output} is out of range: {spec.name} has "
        problem += f"{len(outputs)} outputs (0..{len(outputs) - 1}): {_listed(outputs)}."
    elif target.output in outputs:
        return outputs.index(target.output)
    else:
        problem = (
            f"{spec.name} has no output {target.output!r}; its outputs are {_listed(outputs)}."
        )
    raise InputError(_SOURCE, problem, record=repr(str(target)), fix=_FIX)


def task_values(logits: np.ndarray, spec: TaskSpec) -> np.ndarray:
    """One value per row and output of a head's logits (module docstring).

    Parameters
    ----------
    logits : numpy.ndarray
        ``(N, spec.n_logits)``.
    spec : TaskSpec
        The head's task.

    Returns
    -------
    numpy.ndarray
        float64 ``(N, len(spec.outputs))``: regression values, binary P(1), or the
        multiclass expected class index (0 … n_classes − 1) averaged over the heads.
    """
    values = np.asarray(logits, np.float64)
    if values.ndim != 2 or values.shape[1] != spec.n_logits:
        raise InputError(
            f"{spec.name} head outputs",
            f"have shape {values.shape}, expected (N, {spec.n_logits}).",
            fix="pass the model's logits of this task for every fluorescence promoter.",
        )
    if spec.kind == "binary":
        return expit(values)
    if spec.kind != "multiclass":
        return values
    shaped = values.reshape(len(values), spec.n_heads, len(spec.outputs), spec.n_classes)
    probabilities = softmax(shaped, axis=-1).mean(axis=1)
    return probabilities @ np.arange(spec.n_classes, dtype=np.float64)


def transfer_predictions(
    outputs: Mapping[str, np.ndarray],
    specs: Mapping[str, TaskSpec],
    mapping: CellMapping,
) -> dict[tuple[str, str, str], np.ndarray]:
    """The head output compared with each cell, per mapping target.

    Parameters
    ----------
    outputs : mapping of str to numpy.ndarray
        Task → the model's logits ``(N, n_logits)`` on the N fluorescence promoters (at
        least the mapping's tasks; every array the same N).
    specs : mapping of str to TaskSpec
        Task → its spec (at least the mapping's tasks).
    mapping : CellMapping
        What to compare.

    Returns
    -------
    dict of (cell, task, output name) to numpy.ndarray
        float64 ``(N,)`` per target, in mapping order (:func:`task_values`).

    Raises
    ------
    InputError
        A task with no spec or no outputs, an unknown output name, an index out of range
        (each naming the entry and what is available), or logits of the wrong shape.
    """
    values: dict[str, np.ndarray] = {}
    result = {}
    for target in mapping.targets:
        for what, known in (("spec", specs), ("outputs", outputs)):
            if target.task not in known:
                raise InputError(
                    _SOURCE,
                    f"task {target.task!r} has no {what}; the tasks are {sorted(known)}.",
                    record=repr(str(target)),
                    fix="map cells to tasks the model was pretrained on.",
                )
        spec = specs[target.task]
        index = _output_index(target, spec)
        if target.task not in values:
            values[target.task] = task_values(outputs[target.task], spec)
        result[(target.cell, target.task, spec.outputs[index])] = values[target.task][:, index]
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        sizes = {task: len(v) for task, v in values.items()}
        raise InputError("transfer outputs", f"disagree on the number of promoters: {sizes}.")
    return result


def transfer_metrics(
    predictions: Mapping[tuple[str, str, str], np.ndarray], truth: pd.DataFrame
) -> pd.DataFrame:
    """Pearson and Spearman of each transferred output with its cell's fluorescence.

    Parameters
    ----------
    predictions : mapping of (cell, task, output) to numpy.ndarray
        :func:`transfer_predictions` output, each ``(N,)``.
    truth : pandas.DataFrame
        N rows (the same promoters, same order), one column per cell (e.g. ``K562``);
        NaN rows are left out of that cell's correlation.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`METRIC_COLUMNS`, one row per prediction; ``n`` = jointly finite
        pairs; NaN correlations where undefined
        (:func:`~exprflow.evaluation.stats.correlation`).

    Raises
    ------
    InputError
        A cell with no column in ``truth``, or a prediction of a different length.
    """
    rows = []
    for (cell, task, output), predicted in predictions.items():
        record = f"{cell}={task}:{output}"
        if cell not in truth.columns:
            raise InputError(
                "fluorescence truth",
                f"has no column {cell!r}; the columns are {list(map(str, truth.columns))}.",
                record=record,
            )
        predicted = np.asarray(predicted, np.float64)
        observed = truth[cell].to_numpy(np.float64)
        if predicted.shape != observed.shape:
            raise InputError(
                "transfer predictions",
                f"have shape {predicted.shape}, the truth has {len(observed)} rows.",
                record=record,
            )
        stats = correlation(predicted, observed)
        n = int((np.isfinite(predicted) & np.isfinite(observed)).sum())
        rows.append((cell, task, output, stats.pearson, stats.spearman, n))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
