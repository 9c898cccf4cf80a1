"""Entry point ``expecto_reference``: ExPecto predictions per gene × tissue on the reference.

Each gene's 200 reference windows go through the chromatin model (Beluga), ExPecto's
spatial transform and the tissue models (:func:`~exprflow.scoring.engine.score_genes`
with no VCF, into a temporary folder); the predictions become one table.

Inputs (empty: from ``world``):
    ``fasta`` the genome; ``genes`` benchmark ``gene_list.csv``, GTF or ``geneanno.csv``
    (the world's ``gene_list``); ``chromatin_model`` a Beluga checkpoint (path or URI;
    ``train_chromatin``'s ``chromatin_model``); ``tissue_models`` a folder with a
    ``modellist`` (``train_tissue``'s output), a model list, a ``.save`` or a ``.json``.
Step parameters:
    ``batch_size`` windows per chromatin batch; ``dtype`` ``auto`` (bf16 autocast on
    CUDA, fp32 on the CPU), ``fp32`` or ``bf16``; ``genes_per_batch``.
Outputs:
    ``predictions`` — run artifact ``predictions/reference_predictions.tsv``, tab-separated
    with a header line, one row per gene in gene-file order:

    ============ ======= ==========================================================
    column       type    meaning
    ============ ======= ==========================================================
    ``gene_id``  str     gene id as in the gene file
    ``chrom``    str     contig as the gene file spells it (``1`` or ``chr1``)
    ``tss``      int     **1-based** TSS position (as in ``gene_list.csv``)
    ``strand``   str     ``+`` or ``-``
    ``<tissue>`` float   one column per tissue model, named as the model list names
                         it, in list order: predicted ``ln(RPKM + pseudocount)``
    ============ ======= ==========================================================
Metrics: ``n_genes``, ``windows_evaluated`` (chromatin model evaluations after window
de-duplication), ``seconds`` (wall time of the step body: inputs to logged output).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.errors import ExprflowError
from exprflow.genome.fasta import Genome
from exprflow.pipeline.spec import StepSpec
from exprflow.scoring.engine import score_genes
from exprflow.scoring.store import gene_path, read_gene
from exprflow.steps._cli import parse_params, setup_logging
from exprflow.steps._expecto import (
    SCORING_UPSTREAM,
    ExpectoScoringParams,
    build_plugins,
    check_scoring_params,
    log_inputs,
    read_gene_table,
    resolve_dtype,
)
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import step_run

__all__ = ["ID_COLUMNS", "PREDICTIONS_FILE", "STEP", "ExpectoReferenceParams", "main", "run"]

log = logging.getLogger(__name__)

#: The output table's file name and its leading (non-tissue) columns.
PREDICTIONS_FILE = "reference_predictions.tsv"
ID_COLUMNS = ("gene_id", "chrom", "tss", "strand")
_FROM_WORLD = {"fasta": "fasta", "genes": "gene_list"}


@dataclass(frozen=True)
class ExpectoReferenceParams(ExpectoScoringParams):
    """Parameters of the ``expecto_reference`` step (those of every ExPecto scoring step)."""


STEP = StepSpec(
    name="expecto_reference",
    params=ExpectoReferenceParams,
    family="expecto",
    task="expression",
    outputs=("predictions",),
    upstream=dict(SCORING_UPSTREAM),
)


def reference_table(out_dir: Path, gene_ids: Sequence[str]) -> pd.DataFrame:
    """Read the reference row of each gene file into the output table.

    Parameters
    ----------
    out_dir : Path
        Output folder of :func:`~exprflow.scoring.engine.score_genes`.
    gene_ids : sequence of str
        Genes, in output order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ID_COLUMNS` (``tss`` 1-based) then one float32 column per tissue.
    """
    genes = [read_gene(gene_path(out_dir, gene_id)) for gene_id in gene_ids]
    ids = pd.DataFrame(
        {
            "gene_id": [gene.gene_id for gene in genes],
            "chrom": [gene.chrom for gene in genes],
            "tss": np.array([gene.tss + 1 for gene in genes], dtype=np.int64),
            "strand": [gene.strand for gene in genes],
        }
    )
    tissues = genes[0].tissues if genes else []
    values = np.stack([gene.predictions[0] for gene in genes]) if genes else np.zeros((0, 0))
    return pd.concat([ids, pd.DataFrame(values.astype(np.float32), columns=tissues)], axis=1)


def _check_table(table: pd.DataFrame, n_genes: int) -> None:
    """Refuse to log a table that does not have the documented layout."""
    values = table.drop(columns=list(ID_COLUMNS)).to_numpy(dtype=np.float64)
    if len(table) != n_genes or values.shape[1] < 1 or not np.isfinite(values).all():
        raise ExprflowError(
            f"reference predictions have {len(table)} rows for {n_genes} genes and "
            f"{values.shape[1]} tissue columns, finite: {bool(np.isfinite(values).all())}; "
            "expected one finite value per gene and tissue."
        )


def run(params: ExpectoReferenceParams) -> dict[str, str]:
    """Predict every gene on the reference; log the table; return the step's outputs."""
    started = time.perf_counter()
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        check_scoring_params(params, STEP.name)
        dtype = resolve_dtype(params.dtype)
        params = fill_from_world(params, _FROM_WORLD, STEP.name)
        names = ("fasta", "genes", "chromatin_model", "tissue_models")
        paths = log_inputs(ctx, params, names)
        genes = read_gene_table(paths["genes"])
        plugins = build_plugins(
            paths["chromatin_model"], paths["tissue_models"], params.batch_size, dtype
        )
        with tempfile.TemporaryDirectory() as tmp, Genome(paths["fasta"]) as genome:
            result = score_genes(
                genes, genome, None, [], *plugins, Path(tmp) / "scores",
                batch_size=params.batch_size, genes_per_batch=params.genes_per_batch,
            )  # fmt: skip
            table = reference_table(result.out_dir, genes["gene_id"].tolist())
            _check_table(table, len(genes))
            dest = Path(tmp) / PREDICTIONS_FILE
            with atomic_path(dest) as partial:
                table.to_csv(partial, sep="\t", index=False)
            ctx.log_artifact_output("predictions", dest, "predictions")
        mlflow.log_metrics(
            {
                "n_genes": len(table),
                "windows_evaluated": result.evaluations,
                "seconds": time.perf_counter() - started,
            }
        )
        log.info("reference predictions for %d genes logged", len(table))
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(ExpectoReferenceParams, argv, prog="expecto_reference"))


if __name__ == "__main__":
    main()
