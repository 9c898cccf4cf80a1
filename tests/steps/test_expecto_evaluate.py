"""``expecto_evaluate`` on prediction tables built from the tiny world's observed files.

Reference predictions are Roadmap's ``ln(RPKM + 0.01)`` exactly (cross-gene ρ = 1).
Personalized predictions: each planted causal gene's haplotypes are
``ln(1.5 R + c)`` and ``ln(0.5 R + c)`` (R: the individual's observed GEUVADIS RPKM), so
the additive combination is the observed ``ln(R + c)`` exactly — except one causal gene,
predicted reversed (wrong sign); every other gene is predicted constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from exprflow.data.geuvadis import read_expression
from exprflow.data.roadmap import read_roadmap_rpkm, strip_version
from exprflow.errors import InputError
from exprflow.evaluation.tables import read_eqtl_genes, read_truth
from exprflow.genome.annotation import read_genes
from exprflow.simulate.world import load_manifest
from exprflow.steps.expecto_evaluate import STEP, ExpectoEvaluateParams, run

C = 0.01


@dataclass(frozen=True)
class Inputs:
    reference: Path
    personalized: Path
    causal: list[str]
    reversed_gene: str
    n_chr4: int


def _reference(world: Path, dest: Path) -> int:
    manifest = load_manifest(world)
    genes = read_genes(manifest.path("gene_list"))
    rpkm = read_roadmap_rpkm(manifest.path("roadmap_rpkm"))
    table = pd.DataFrame(
        {
            "gene_id": genes["gene_id"],
            "chrom": genes["chrom"],
            "tss": genes["tss"] + 1,
            "strand": genes["strand"],
        }
    )
    logged = np.log(rpkm.loc[strip_version(list(genes["gene_id"]))] + C)
    for tissue in rpkm.columns:
        table[tissue] = logged[tissue].to_numpy()
    table["E999"] = 0.0  # a model without observed expression: ignored
    table.to_csv(dest, sep="\t", index=False)
    return int(genes["chrom"].astype(str).str.removeprefix("chr").eq("4").sum())


def _personalized(world: Path, dest: Path, causal: list[str], reversed_gene: str) -> None:
    manifest = load_manifest(world)
    observed = read_expression(manifest.path("expression"))
    observed.index = strip_version(list(observed.index))
    rows = []
    for gene_id in read_genes(manifest.path("gene_list"))["gene_id"]:
        rows.append((gene_id, "ref", 0, 1.0))
        for sample, rpkm in observed.loc[strip_version(gene_id)].items():
            if gene_id == reversed_gene:
                h1 = h2 = -np.log(rpkm + C)
            elif strip_version(gene_id) in causal:
                h1, h2 = np.log(1.5 * rpkm + C), np.log(0.5 * rpkm + C)
            else:
                h1 = h2 = 1.0
            rows += [(gene_id, sample, 1, h1), (gene_id, sample, 2, h2)]
    table = pd.DataFrame(rows, columns=["gene_id", "sample", "haplotype", "E116"])
    table["E123"] = 0.0
    table.to_csv(dest, sep="\t", index=False)


@pytest.fixture(scope="module")
def inputs(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("evaluate_inputs")
    causal = sorted(read_truth(load_manifest(tiny_world).path("truth")).causal_genes)
    n_chr4 = _reference(tiny_world, root / "reference_predictions.tsv")
    _personalized(tiny_world, root / "personalized_predictions.tsv.gz", causal, causal[0])
    return Inputs(
        root / "reference_predictions.tsv",
        root / "personalized_predictions.tsv.gz",
        causal,
        causal[0],
        n_chr4,
    )


def _run_data(outputs: dict[str, str]) -> mlflow.entities.Run:
    run_id = outputs["report"].split("/")[1]
    return mlflow.get_run(run_id)


def test_step_spec() -> None:
    assert STEP.family == "expecto" and STEP.task == "expression"
    assert STEP.upstream["personalized"] == ("expecto_personalized", "predictions")
    assert STEP.upstream["reference"] == ("expecto_reference", "predictions")


def test_recovers_the_planted_genes_of_the_tiny_world(
    tracking: str, tiny_world: Path, inputs: Inputs
) -> None:
    outputs = run(
        ExpectoEvaluateParams(
            world=str(tiny_world),
            reference=str(inputs.reference),
            personalized=str(inputs.personalized),
        )
    )
    assert set(outputs) == {"report", "plots", "cross_gene", "cross_individual"}
    finished = _run_data(outputs)
    assert finished.info.status == "FINISHED"
    assert finished.data.tags["exprflow.cell_type"] == "E116"  # the world's LCL cell type
    metrics = finished.data.metrics
    n_causal = len(inputs.causal)
    eqtl = read_eqtl_genes(load_manifest(tiny_world).path("eqtls"))
    recovered = set(inputs.causal) - {inputs.reversed_gene}
    expected = {
        "n_genes": 24,
        "n_test_genes": inputs.n_chr4,
        "test_spearman": 1.0,
        "all_pearson": 1.0,
        "test_spearman_E116": 1.0,
        "test_pearson_E118": 1.0,
        "n_individuals": 40,
        "n_genes_compared": 24,
        "n_genes_constant": 24 - n_causal,
        "n_genes_evaluated": n_causal,
        "n_genes_significant": n_causal,
        "fraction_significant": 1.0,
        "fraction_wrong_sign": 1 / n_causal,
        "cross_individual_spearman_median": 1.0,
        "cross_individual_pearson_median": 1.0,
        "cross_individual_spearman_median_meanlog": 1.0,
        "causal_genes": n_causal,
        "causal_genes_recovered": n_causal - 1,
        "causal_gene_recall": (n_causal - 1) / n_causal,
        "significant_gene_precision": 1.0,
        "eqtl_genes": len(eqtl),
        "eqtl_genes_recovered": len(eqtl & recovered),
    }
    assert {k: metrics[k] for k in expected} == pytest.approx(expected)
    assert "test_spearman_E999" not in metrics

    artifacts = Path(mlflow.artifacts.download_artifacts(run_id=finished.info.run_id))
    plots = sorted(p.name for p in (artifacts / "plots").iterdir())
    assert plots == ["causal_genes.png", "cross_gene.png", "cross_individual_spearman.png"]
    assert all((artifacts / "plots" / p).stat().st_size > 1000 for p in plots)
    report = (artifacts / "report" / "report.md").read_text()
    assert "ln((exp(h1) + exp(h2)) / 2)" in report and "libraries" in report
    assert "![Per-gene cross-individual Spearman](../plots/cross_individual_spearman.png)" in report
    assert "| causal_gene_recall |" in report and "| E116 |" in report

    per_gene = pd.read_csv(artifacts / "tables" / "cross_individual.tsv", sep="\t")
    assert list(per_gene.columns) == [
        "gene_id",
        "n_individuals",
        "spearman",
        "pearson",
        "p_value",
        "q_value",
        "significant",
        "causal",
        "status",
    ]
    genes = per_gene.set_index("gene_id")
    assert set(genes.index[genes["causal"]]) == set(inputs.causal)
    assert genes.loc[inputs.reversed_gene, "pearson"] == pytest.approx(-1.0)
    assert (genes.loc[~genes["causal"], "status"] == "constant_prediction").all()
    cross_gene = pd.read_csv(artifacts / "tables" / "cross_gene.tsv", sep="\t", index_col=0)
    assert list(cross_gene.index) == ["E116", "E123", "E118"]
    inputs_logged = {d.dataset.name for d in finished.inputs.dataset_inputs}
    assert inputs_logged == {
        "reference",
        "reference_expression",
        "personalized",
        "expression",
        "truth",
        "eqtls",
    }


def test_reference_only_without_world(tracking: str, tiny_world: Path, inputs: Inputs) -> None:
    manifest = load_manifest(tiny_world)
    outputs = run(
        ExpectoEvaluateParams(
            reference=str(inputs.reference),
            reference_expression=str(manifest.path("roadmap_rpkm")),
            held_out="4",
        )
    )
    assert set(outputs) == {"report", "plots", "cross_gene"}
    metrics = _run_data(outputs).data.metrics
    assert metrics["n_test_genes"] == inputs.n_chr4
    assert metrics["all_spearman"] == pytest.approx(1.0)
    assert "cross_individual_spearman_median" not in metrics
    report = Path(mlflow.artifacts.download_artifacts(outputs["report"])).read_text()
    assert "Cross-gene:" in report and "Cross-individual" not in report


def test_personalized_only_with_explicit_tissue(
    tracking: str, tiny_world: Path, inputs: Inputs
) -> None:
    manifest = load_manifest(tiny_world)
    outputs = run(
        ExpectoEvaluateParams(
            personalized=str(inputs.personalized),
            expression=str(manifest.path("expression")),
            tissue="E116",
        )
    )
    assert set(outputs) == {"report", "plots", "cross_individual"}
    metrics = _run_data(outputs).data.metrics
    assert metrics["n_genes_evaluated"] == len(inputs.causal)
    assert "causal_genes" not in metrics and "test_spearman" not in metrics


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"personalized": "", "reference": ""}, "neither reference nor personalized"),
        ({"world": "", "tissue": ""}, "personalized given without expression"),
        (
            {"tissue": "E118"},
            r"personalized_predictions\.tsv\.gz: header: has no tissue column 'E118'",
        ),
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"pseudocount": 0.0}, "pseudocount=0.0"),
    ],
)
def test_bad_parameters_are_refused(
    tracking: str, tiny_world: Path, inputs: Inputs, change: dict[str, object], message: str
) -> None:
    base = {"world": str(tiny_world), "personalized": str(inputs.personalized)}
    with pytest.raises(InputError, match=message):
        run(ExpectoEvaluateParams(**{**base, **change}))  # type: ignore[arg-type]
    (failed,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert failed.info.status == "FAILED"


def test_tissue_is_required_without_truth(tracking: str, tiny_world: Path, inputs: Inputs) -> None:
    expression = str(load_manifest(tiny_world).path("expression"))
    with pytest.raises(InputError, match=r"no tissue given and no truth\.json"):
        run(ExpectoEvaluateParams(personalized=str(inputs.personalized), expression=expression))


def test_no_shared_individuals_is_refused(
    tracking: str, tiny_world: Path, inputs: Inputs, tmp_path: Path
) -> None:
    table = pd.read_csv(inputs.personalized, sep="\t")
    table["sample"] = table["sample"].where(table["sample"] == "ref", "NA" + table["sample"])
    renamed = tmp_path / "renamed.tsv"
    table.to_csv(renamed, sep="\t", index=False)
    with pytest.raises(InputError, match=r"renamed\.tsv: samples NAHG.*: only 0 of its 40"):
        run(ExpectoEvaluateParams(world=str(tiny_world), personalized=str(renamed)))
