"""Entry point ``expecto_evaluate``: ExPecto predictions against observed expression.

The personalized-expression benchmark's metrics (see :mod:`exprflow.evaluation.expression`
for every definition and the choices the benchmark does not state):

- **cross-gene** — reference predictions against Roadmap ``ln(RPKM + pseudocount)``
  across genes, per tissue and the median over tissues: ``test_spearman``,
  ``test_pearson`` (genes on ``held_out``), ``all_spearman``, ``all_pearson``, per tissue
  suffixed ``_<tissue>``; ``n_genes``, ``n_test_genes``.
- **per-gene cross-individual** — in cell type ``tissue`` (the GEUVADIS LCLs), each
  individual's prediction ``ln((exp(h1) + exp(h2)) / 2)`` of its two haplotypes (additive
  model) against its observed ``ln(RPKM + pseudocount)`` (RPKM averaged over the
  individual's libraries): ``cross_individual_spearman_median``,
  ``cross_individual_pearson_median``, ``n_genes_evaluated``, ``n_genes_constant``
  (constant predictions, left out), ``n_genes_constant_observed``,
  ``n_genes_significant``, ``fraction_significant`` (Pearson p, Benjamini–Hochberg FDR <
  ``alpha``), ``fraction_wrong_sign`` (significant and negative);
  ``cross_individual_{spearman,pearson}_median_meanlog`` with the mean of ``h1`` and
  ``h2`` instead, as a check.
- **planted truth** (with ``truth``) — ``causal_genes``, ``causal_genes_recovered``
  (significant and positive), ``causal_gene_recall``, ``significant_gene_precision``;
  with ``eqtls`` also ``eqtl_genes``, ``eqtl_genes_recovered``, ``eqtl_gene_recall``.

Metrics that are undefined (NaN, e.g. no significant gene for the wrong-sign fraction)
are not logged; the report shows them as ``n/a``.

Inputs (either prediction table may be empty: that half is skipped; not both):
    ``reference`` — ``reference_predictions.tsv`` (``expecto_reference``);
    ``personalized`` — ``personalized_predictions.tsv.gz`` (``expecto_personalized``);
    from ``world`` when empty: ``reference_expression`` (Roadmap RPKM table),
    ``expression`` (GEUVADIS GD660 RPKM), ``truth`` (``truth.json``), ``eqtls``
    (GEUVADIS EUR373 FDR 5% table); the last two optional.
Outputs (run artifacts):
    ``report`` — ``report/report.md``: method notes, metric tables, the plots;
    ``plots`` — ``plots/``: ``cross_gene.png``, ``cross_individual_spearman.png``,
    ``causal_genes.png`` (with truth);
    ``cross_gene`` — ``tables/cross_gene.tsv``: tissue, n_genes, n_test_genes,
    test/all Spearman/Pearson;
    ``cross_individual`` — ``tables/cross_individual.tsv``: gene_id, n_individuals,
    spearman, pearson, p_value, q_value, significant, causal (empty without truth),
    status (``evaluated``, ``constant_prediction``, ``constant_observed``,
    ``too_few_individuals``).
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.data.geuvadis import read_expression
from exprflow.data.roadmap import read_roadmap_rpkm
from exprflow.errors import InputError
from exprflow.evaluation.expression import (
    CrossGeneResult,
    cross_gene,
    cross_individual,
    log_expression,
    planted_recovery,
)
from exprflow.evaluation.plots import (
    plot_cross_gene,
    plot_cross_individual_histogram,
    plot_gene_scatter,
)
from exprflow.evaluation.report import write_report
from exprflow.evaluation.tables import (
    PlantedTruth,
    combine_haplotypes,
    read_eqtl_genes,
    read_personalized_predictions,
    read_reference_predictions,
    read_truth,
)
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import StepContext, step_run

__all__ = ["STEP", "ExpectoEvaluateParams", "main", "run"]

log = logging.getLogger(__name__)

_FROM_WORLD = {
    "reference_expression": "roadmap_rpkm",
    "expression": "expression",
    "truth": "truth",
    "eqtls": "eqtls",
}
_PARAMS = "expecto_evaluate parameters"
_GIVE = "pass -P world=<folder> or the prediction and observed tables explicitly."
#: Plot caption in the report → file under ``plots/``.
_PLOT_CAPTIONS = {
    "Reference predictions across genes": "cross_gene.png",
    "Per-gene cross-individual Spearman": "cross_individual_spearman.png",
    "Planted causal genes across individuals": "causal_genes.png",
}


@dataclass(frozen=True)
class ExpectoEvaluateParams:
    """Parameters of the ``expecto_evaluate`` step."""

    world: str = field(default="", metadata={"help": "synthetic world folder (world.json)"})
    reference: str = field(default="", metadata={"help": "reference_predictions.tsv"})
    personalized: str = field(default="", metadata={"help": "personalized_predictions.tsv.gz"})
    reference_expression: str = field(default="", metadata={"help": "Roadmap RPKM table"})
    expression: str = field(default="", metadata={"help": "GEUVADIS GD660 RPKM table"})
    truth: str = field(default="", metadata={"help": "optional truth.json of the world"})
    eqtls: str = field(default="", metadata={"help": "optional GEUVADIS eQTL table"})
    held_out: str = field(default="chr4", metadata={"help": "comma-separated test contigs"})
    tissue: str = field(
        default="", metadata={"help": "column compared with GEUVADIS; empty: the world's LCL"}
    )
    pseudocount: float = field(default=0.01, metadata={"help": "observed: ln(RPKM + this)"})
    alpha: float = field(default=0.05, metadata={"help": "Benjamini-Hochberg FDR level"})


STEP = StepSpec(
    name="expecto_evaluate",
    params=ExpectoEvaluateParams,
    family="expecto",
    task="expression",
    outputs=("report", "plots", "cross_gene", "cross_individual"),
    upstream={
        "world": ("simulate", "world"),
        "reference": ("expecto_reference", "predictions"),
        "personalized": ("expecto_personalized", "predictions"),
    },
    runtime="python",
)


def _check(params: ExpectoEvaluateParams) -> None:
    """Refuse bad values and a missing observed table for a given prediction table."""
    if not params.pseudocount > 0:
        raise InputError(_PARAMS, f"pseudocount={params.pseudocount}.", fix="use a value > 0.")
    if not 0 < params.alpha < 1:
        raise InputError(_PARAMS, f"alpha={params.alpha}.", fix="use a value in (0, 1).")
    if not (params.reference or params.personalized):
        raise InputError(
            _PARAMS, "neither reference nor personalized predictions given.", fix=_GIVE
        )
    for predictions, observed in (
        ("reference", "reference_expression"),
        ("personalized", "expression"),
    ):
        if getattr(params, predictions) and not getattr(params, observed):
            raise InputError(
                _PARAMS, f"{predictions} given without {observed} to compare with.", fix=_GIVE
            )


def _tissue(params: ExpectoEvaluateParams, truth: PlantedTruth | None) -> str:
    """The personalized table's column to compare with GEUVADIS (the world's LCL type)."""
    tissue = params.tissue or (truth.lcl_cell_type if truth else "")
    if params.personalized and not tissue:
        raise InputError(
            _PARAMS,
            "no tissue given and no truth.json to take the LCL cell type from.",
            fix="pass -P tissue=<the predictions' LCL column, e.g. E116>.",
        )
    return tissue


def _notes(params: ExpectoEvaluateParams, tissue: str) -> list[str]:
    """How each number in the report was computed, for the halves that ran."""
    notes = [
        f"Observed expression is ln(RPKM + {params.pseudocount:g}); predictions are "
        "ExPecto's ln(RPKM + pseudocount)."
    ]
    if params.reference:
        notes.append(
            "Cross-gene: reference predictions against Roadmap expression per tissue; test "
            f"genes are those on {params.held_out or 'no contig'}; summaries are medians "
            "over tissues."
        )
    if params.personalized:
        notes += [
            f"Cross-individual, in {tissue}: an individual's prediction combines its "
            "haplotypes additively, ln((exp(h1) + exp(h2)) / 2) — each haplotype's "
            "prediction is that of a homozygous genome, and a diploid expresses half of "
            "each; the mean of h1 and h2 is reported as a check (suffix _meanlog).",
            "Observed per individual: GEUVADIS RPKM averaged over the individual's "
            "libraries, then logged.",
            "Genes with constant predictions (no variant in any window) or constant observed "
            "values have no correlation: they are counted and left out.",
            f"Significant: two-sided Pearson p-value, Benjamini-Hochberg FDR < "
            f"{params.alpha:g} over the evaluated genes; wrong sign: significant with a "
            "negative Pearson r.",
            "Planted truth: a causal gene (>= 1 planted causal variant) is recovered when its "
            "correlation is significant and positive.",
        ]
    return notes


def _reference_half(
    params: ExpectoEvaluateParams, ctx: StepContext, out: Path, tissue: str
) -> CrossGeneResult:
    reference = read_reference_predictions(ctx.log_input("reference", params.reference))
    rpkm = read_roadmap_rpkm(ctx.log_input("reference_expression", params.reference_expression))
    held_out = split_list(params.held_out)
    result = cross_gene(reference, log_expression(rpkm, params.pseudocount), held_out)
    if not result.test.any():
        log.warning("no gene with observed expression on held-out contigs %s", held_out)
    plot_cross_gene(result, out / "plots" / "cross_gene.png", first=tissue or None)
    with atomic_path(out / "tables" / "cross_gene.tsv") as tmp:
        result.per_tissue.to_csv(tmp, sep="\t")
    return result


def _observed_geuvadis(params: ExpectoEvaluateParams, ctx: StepContext) -> pd.DataFrame:
    path = ctx.log_input("expression", params.expression)
    rpkm = read_expression(path)
    rpkm.attrs["path"] = str(path)
    return log_expression(rpkm, params.pseudocount)


def _personalized_half(
    params: ExpectoEvaluateParams,
    ctx: StepContext,
    out: Path,
    tissue: str,
    truth: PlantedTruth | None,
) -> tuple[dict[str, float], pd.DataFrame]:
    table = read_personalized_predictions(ctx.log_input("personalized", params.personalized))
    observed = _observed_geuvadis(params, ctx)
    result = cross_individual(combine_haplotypes(table, tissue), observed, params.alpha)
    check = cross_individual(combine_haplotypes(table, tissue, "meanlog"), observed, params.alpha)
    metrics = result.metrics()
    for name in ("spearman", "pearson"):
        metrics[f"cross_individual_{name}_median_meanlog"] = check.metrics()[
            f"cross_individual_{name}_median"
        ]
    per_gene = result.per_gene.copy()
    per_gene.insert(7, "causal", pd.array([pd.NA] * len(per_gene), dtype="boolean"))
    plot_cross_individual_histogram(result, out / "plots" / "cross_individual_spearman.png")
    eqtl_genes = read_eqtl_genes(ctx.log_input("eqtls", params.eqtls)) if params.eqtls else None
    if truth is not None:
        causal = sorted(set(per_gene["gene_id"]) & truth.causal_genes)
        plot_gene_scatter(result, causal, out / "plots" / "causal_genes.png")
        per_gene["causal"] = per_gene["gene_id"].isin(truth.causal_genes).astype("boolean")
    if truth is not None or eqtl_genes is not None:
        causal_genes = truth.causal_genes if truth is not None else None
        metrics.update(planted_recovery(result.per_gene, causal_genes, eqtl_genes))
    with atomic_path(out / "tables" / "cross_individual.tsv") as tmp:
        per_gene.to_csv(tmp, sep="\t", index=False)
    return metrics, per_gene


def _log_metrics(metrics: dict[str, float]) -> None:
    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
    undefined = sorted(set(metrics) - set(finite))
    if undefined:
        log.info("undefined metrics, not logged: %s", ", ".join(undefined))
    mlflow.log_metrics(finite)


def _log_outputs(ctx: StepContext, out: Path) -> None:
    ctx.log_artifact_output("plots", out / "plots", "plots")
    for name in ("cross_gene", "cross_individual"):
        if (out / "tables" / f"{name}.tsv").is_file():
            ctx.log_artifact_output(name, out / "tables" / f"{name}.tsv", "tables")
    ctx.log_artifact_output("report", out / "report.md", "report")


def _write_report(
    params: ExpectoEvaluateParams,
    out: Path,
    tissue: str,
    summary: dict[str, float],
    cross: CrossGeneResult | None,
    per_gene: pd.DataFrame | None,
) -> None:
    plots = {
        caption: f"../plots/{name}"
        for caption, name in _PLOT_CAPTIONS.items()
        if (out / "plots" / name).is_file()
    }
    write_report(
        out / "report.md",
        summary,
        notes=_notes(params, tissue),
        per_tissue=cross.per_tissue if cross is not None else None,
        per_gene=per_gene,
        plots=plots,
        title="ExPecto: predictions against observed expression",
    )


def run(params: ExpectoEvaluateParams) -> dict[str, str]:
    """Evaluate the predictions, log metrics, plots, tables and report; return the outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        params = fill_from_world(params, _FROM_WORLD, STEP.name, optional=tuple(_FROM_WORLD))
        _check(params)
        truth = read_truth(ctx.log_input("truth", params.truth)) if params.truth else None
        tissue = _tissue(params, truth)
        metrics: dict[str, float] = {}
        summary: dict[str, float] = {}  # the report's table: no per-tissue values
        cross, per_gene = None, None
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            if params.reference:
                cross = _reference_half(params, ctx, out, tissue)
                metrics.update(cross.metrics())
                summary.update(cross.metrics(per_tissue=False))
            if params.personalized:
                found, per_gene = _personalized_half(params, ctx, out, tissue, truth)
                metrics.update(found)
                summary.update(found)
                mlflow.set_tag("exprflow.cell_type", tissue)
            _log_metrics(metrics)
            _write_report(params, out, tissue, summary, cross, per_gene)
            _log_outputs(ctx, out)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(ExpectoEvaluateParams, argv, prog="expecto_evaluate"))


if __name__ == "__main__":
    main()
