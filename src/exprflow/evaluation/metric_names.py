"""The metric naming scheme: per task, the headline metrics every family logs, and their direction.

This table is the contract between the families' steps and the comparison
(:mod:`exprflow.evaluation.compare`): a step tagged ``exprflow.task = <task>`` that evaluates
a model logs the task's headline metrics under exactly these names (lower_snake_case, on the
step's own run; a per-tissue or per-cell-type variant is suffixed ``_<tissue>``, e.g.
``test_spearman_E116``, and is not a headline metric). Runs of different families on the
same task then line up in the MLflow UI's compare view, and ``evaluate`` logs each one again
on its own run as ``<family>.<task>.<metric>``.

- The first metric of a task is its **deciding** metric: the one the report charts and
  ranks the families on (a promotion policy for the task's models should decide on it too).
- A **required** metric is one every evaluating run of the task logs; an optional one is
  logged where the run's data allows it (e.g. cross-individual metrics need genotyped
  individuals, ``causal_gene_recall`` needs the planted truth).
- **Direction** says which way is better: ``"max"`` (higher) or ``"min"`` (lower).
- **Planted-truth** metrics score recovery of what the synthetic world planted (names in
  :data:`TRUTH_METRICS` or starting with a :data:`TRUTH_PREFIXES` prefix); they are
  collected into the report's planted-truth section whatever the task.

No file is read or written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DIRECTIONS",
    "TASK_METRICS",
    "TRUTH_METRICS",
    "TRUTH_PREFIXES",
    "Direction",
    "HeadlineMetric",
    "TaskMetrics",
    "is_truth_metric",
    "summary_name",
    "task_metrics",
]

Direction = Literal["max", "min"]
#: Allowed directions and how the report words them.
DIRECTIONS: dict[str, str] = {"max": "higher is better", "min": "lower is better"}
#: Planted-truth counters and scores that do not start with a :data:`TRUTH_PREFIXES` prefix.
TRUTH_METRICS = (
    "significant_gene_precision",
    "eqtl_genes",
    "eqtl_genes_recovered",
    "eqtl_gene_recall",
)
#: Name prefixes of planted-truth metrics (``causal_gene_recall``, ``causal_genes`` …).
TRUTH_PREFIXES = ("causal_", "planted_")


@dataclass(frozen=True)
class HeadlineMetric:
    """One headline metric of a task.

    Attributes
    ----------
    name : str
        Metric name on the run (lower_snake_case).
    direction : {"max", "min"}
        Which way is better.
    required : bool
        Whether every evaluating run of the task must log it.
    description : str
        What it measures, for the report.
    """

    name: str
    direction: Direction
    required: bool
    description: str


@dataclass(frozen=True)
class TaskMetrics:
    """The headline metrics of one task, the deciding one first.

    Attributes
    ----------
    task : str
        The ``exprflow.task`` tag value.
    description : str
        What is predicted from what, for the report.
    metrics : tuple of HeadlineMetric
        Headline metrics, deciding metric first.
    """

    task: str
    description: str
    metrics: tuple[HeadlineMetric, ...]

    @property
    def deciding(self) -> HeadlineMetric:
        """The metric the task's families are ranked on."""
        return self.metrics[0]

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the headline metrics, in order."""
        return tuple(m.name for m in self.metrics)

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the metrics every evaluating run of the task logs."""
        return tuple(m.name for m in self.metrics if m.required)

    def metric(self, name: str) -> HeadlineMetric:
        """The headline metric called ``name`` (KeyError if the task has none)."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(f"task {self.task!r} has no headline metric {name!r}; has {self.names}")


def _m(name: str, direction: Direction, description: str, required: bool = True) -> HeadlineMetric:
    return HeadlineMetric(name, direction, required, description)


_CORRELATION = "across held-out test items (genes, sequences or bins)"
#: Task → its headline metrics. Add a task here before a family logs it.
TASK_METRICS: dict[str, TaskMetrics] = {
    t.task: t
    for t in (
        TaskMetrics(
            "expression",
            "expression per gene (and tissue or individual) from sequence or genotypes",
            (
                _m("test_spearman", "max", f"Spearman rho {_CORRELATION}"),
                _m("test_pearson", "max", f"Pearson r {_CORRELATION}"),
                _m(
                    "cross_individual_spearman_median",
                    "max",
                    "median over genes of Spearman rho across individuals",
                    required=False,
                ),
                _m(
                    "fraction_significant",
                    "max",
                    "fraction of genes with a significant cross-individual correlation",
                    required=False,
                ),
                _m(
                    "fraction_wrong_sign",
                    "min",
                    "fraction of significant genes with a negative correlation",
                    required=False,
                ),
                _m(
                    "causal_gene_recall",
                    "max",
                    "planted causal genes recovered (significant, positive)",
                    required=False,
                ),
            ),
        ),
        TaskMetrics(
            "chromatin",
            "chromatin features (binary, per bin) from sequence",
            (
                _m("val_auroc", "max", "mean AUROC over features on held-out chromosomes"),
                _m("val_loss", "min", "binary cross-entropy on held-out chromosomes"),
            ),
        ),
        TaskMetrics(
            "tracks",
            "genomic tracks (e.g. lamina association, CpG methylation) from embeddings",
            (
                _m("test_pearson", "max", "Pearson r over held-out bins"),
                _m("test_spearman", "max", "Spearman rho over held-out bins", required=False),
                _m("test_auroc", "max", "AUROC of binary track states", required=False),
            ),
        ),
        TaskMetrics(
            "variant_effect",
            "the effect of a variant on expression",
            (
                _m("test_pearson", "max", "Pearson r of predicted and measured effects"),
                _m("test_spearman", "max", "Spearman rho of the effects", required=False),
                _m(
                    "causal_variant_auroc",
                    "max",
                    "AUROC separating planted causal variants from the others",
                    required=False,
                ),
            ),
        ),
        TaskMetrics(
            "mpra",
            "MPRA promoter activity from the promoter sequence",
            (
                _m("test_pearson", "max", "Pearson r on held-out promoters"),
                _m("test_spearman", "max", "Spearman rho on held-out promoters", required=False),
            ),
        ),
        TaskMetrics(
            "eqtl",
            "whether a variant is an eQTL of a gene",
            (
                _m("test_auroc", "max", "AUROC on held-out variant-gene pairs"),
                _m("test_auprc", "max", "area under precision-recall", required=False),
            ),
        ),
    )
}


def task_metrics(task: str) -> TaskMetrics | None:
    """The headline metrics of ``task``, or None for a task with none (e.g. ``world``).

    Parameters
    ----------
    task : str
        An ``exprflow.task`` tag value.

    Returns
    -------
    TaskMetrics or None
    """
    return TASK_METRICS.get(task)


def summary_name(family: str, task: str, metric: str) -> str:
    """Name under which ``evaluate`` logs a family's headline metric: ``<family>.<task>.<metric>``.

    Parameters
    ----------
    family, task, metric : str
        The run's ``exprflow.family`` and ``exprflow.task`` tags and the metric name.

    Returns
    -------
    str
    """
    return f"{family}.{task}.{metric}"


def is_truth_metric(name: str) -> bool:
    """Whether ``name`` scores recovery of the synthetic world's planted truth.

    Parameters
    ----------
    name : str
        A metric name.

    Returns
    -------
    bool
    """
    return name in TRUTH_METRICS or name.startswith(TRUTH_PREFIXES)
