"""``expecto_reference`` on the tiny world: the logged table equals ``score_genes`` directly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from tests.conftest import TinyExpecto
from tests.steps._runs import latest_run

from exprflow.errors import InputError
from exprflow.genome.annotation import read_gene_list
from exprflow.genome.fasta import Genome
from exprflow.models.expecto.plugins import expecto_plugins
from exprflow.models.expecto.tissue import read_model_list
from exprflow.scoring.engine import score_genes
from exprflow.scoring.store import gene_path, read_gene
from exprflow.steps.expecto_reference import ID_COLUMNS, ExpectoReferenceParams, run
from exprflow.tracking.step import OUTPUT_TAG

#: Rows of the world's gene_list.csv scored: both strands, two contigs.
GENE_ROWS = [0, 4, 7]


def _gene_list(world: Path, dest: Path, extra: str = "") -> Path:
    lines = (world / "annotation" / "gene_list.csv").read_text().splitlines()
    dest.write_text("".join(lines[i] + "\n" for i in GENE_ROWS) + extra)
    return dest


def _params(
    world: Path, genes: Path, tiny_expecto: TinyExpecto, **changes: object
) -> ExpectoReferenceParams:
    base = ExpectoReferenceParams(
        world=str(world),
        genes=str(genes),
        chromatin_model=str(tiny_expecto.checkpoint),
        tissue_models=str(tiny_expecto.tissue_models),
    )
    return replace(base, **changes)


def test_reference_predictions_equal_score_genes(
    module_tracking: Path, tiny_world: Path, tiny_expecto: TinyExpecto, tmp_path: Path
) -> None:
    genes_file = _gene_list(tiny_world, tmp_path / "genes.csv")
    outputs = run(_params(tiny_world, genes_file, tiny_expecto, genes_per_batch=2))

    uri = outputs["predictions"]
    assert uri.endswith("/predictions/reference_predictions.tsv")
    table = pd.read_csv(mlflow.artifacts.download_artifacts(uri), sep="\t", dtype={"chrom": str})
    tissues = [entry.tissue for entry in read_model_list(tiny_expecto.modellist)]
    assert list(table.columns) == [*ID_COLUMNS, *tissues]

    written = pd.read_csv(genes_file, header=None, dtype=str)
    assert table["gene_id"].tolist() == written[0].tolist()  # gene-file order
    assert table["chrom"].tolist() == written[1].tolist()  # spelled as in the file
    assert table["tss"].tolist() == written[2].astype(int).tolist()  # 1-based, as in the file
    assert table["strand"].tolist() == written[4].tolist()

    genes = read_gene_list(genes_file)
    plugins = expecto_plugins(tiny_expecto.checkpoint, tiny_expecto.modellist, dtype="fp32")
    with Genome(tiny_world / "genome" / "genome.fa") as genome:
        score_genes(genes, genome, None, [], *plugins, tmp_path / "direct", progress=False)
    direct = [read_gene(gene_path(tmp_path / "direct", g)) for g in genes["gene_id"]]
    expected = np.stack([gene.predictions[0] for gene in direct])
    np.testing.assert_array_equal(table[tissues].to_numpy(np.float32), expected)

    finished = latest_run()
    assert finished.info.status == "FINISHED"
    assert finished.data.tags["exprflow.family"] == "expecto"
    assert finished.data.tags["exprflow.task"] == "expression"
    assert finished.data.metrics["n_genes"] == len(GENE_ROWS)
    assert 0 < finished.data.metrics["windows_evaluated"] <= 200 * len(GENE_ROWS)
    assert finished.data.metrics["seconds"] > 0
    names = {d.dataset.name for d in finished.inputs.dataset_inputs}
    assert names == {"fasta", "genes", "chromatin_model", "tissue_models"}


@pytest.mark.parametrize(
    "case", ["TSS near a contig end", "folder without a modellist", "no chromatin model"]
)
def test_bad_input_is_named_and_nothing_is_logged(
    case: str, module_tracking: Path, tiny_world: Path, tiny_expecto: TinyExpecto, tmp_path: Path
) -> None:
    if case == "TSS near a contig end":
        genes = _gene_list(tiny_world, tmp_path / "genes.csv", "ENSG_EDGE,2,399000,EDGE,-\n")
        params, message = _params(tiny_world, genes, tiny_expecto), "ENSG_EDGE.*too close"
    elif case == "folder without a modellist":
        genes = _gene_list(tiny_world, tmp_path / "genes.csv")
        params = _params(tiny_world, genes, tiny_expecto, tissue_models=str(tmp_path))
        message = "is a folder without a 'modellist' file"
    else:
        genes = _gene_list(tiny_world, tmp_path / "genes.csv")
        params = _params(tiny_world, genes, tiny_expecto, chromatin_model="")
        message = "chromatin_model is required"
    with pytest.raises(InputError, match=message):
        run(params)
    failed = latest_run()
    assert failed.info.status == "FAILED"
    assert OUTPUT_TAG + "predictions" not in failed.data.tags
