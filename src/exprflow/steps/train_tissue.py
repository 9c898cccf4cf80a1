"""Entry point ``train_tissue``: train ExPecto's tissue models and register the whole model.

ExPecto's second stage (``train.py`` on ``Xreducedall``): every expressed gene's 200
reference windows go through the chromatin model (a ``train_chromatin`` checkpoint or the
released Beluga) and the spatial decay transform
(:func:`~exprflow.training.tissue.reference_features`); one linear xgboost model per cell
type of the expression table is fitted to ``ln(RPKM + pseudocount)`` with the published
settings, genes on ``held_out`` chromosomes being the test set
(:func:`~exprflow.training.tissue.train_tissue_models`). The chromatin model and the tissue
models are then logged together as one pyfunc model
(:mod:`exprflow.models.expecto.pyfunc`), checked by predicting the input example through
the logged model, and registered.

Inputs (empty: from ``world``):
    ``fasta`` the genome; ``genes`` an annotation (benchmark ``gene_list.csv``, GTF or
    ``geneanno.csv``); ``expression`` a Roadmap-layout RPKM table (``gene_id`` then one
    column per cell type, the world's ``57epigenomes.RPKM.pc.gz``); ``chromatin_model`` a
    Beluga checkpoint reading 2,000 bp windows (path or URI; required).
Outputs:
    ``tissue_models`` — ``runs:/<id>/tissue_models``: ``<eid>.json`` per cell type
    (exprflow JSON), ``modellist`` and ``metrics.tsv``;
    ``model`` — ``models:/<registered_model>/<version>`` (``runs:/<id>/model`` when
    ``registered_model`` is empty): pyfunc, input ``sequence`` (the 41,800 bp the windows
    cover) and ``strand``, output one ``ln(RPKM + pseudocount)`` column per cell type;
    the version is tagged with the run id and the run's metrics.
Metrics: per cell type ``test_spearman_<eid>``, ``test_pearson_<eid>``,
``train_spearman_<eid>``; medians over cell types ``test_spearman``, ``test_pearson``;
``n_train``, ``n_test`` (genes). Correlations that are undefined (constant values) are
not logged.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from exprflow.data.roadmap import read_roadmap_rpkm, strip_version
from exprflow.errors import ExprflowError, InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.contigs import chrom_key
from exprflow.genome.fasta import Genome
from exprflow.models.beluga.load import load_checkpoint
from exprflow.models.expecto.plugins import BelugaChromatin, SpatialReduce
from exprflow.models.expecto.pyfunc import log_expecto_model, tss_sequence
from exprflow.pipeline.spec import StepSpec
from exprflow.scoring.windows import WINDOW
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import step_run
from exprflow.training.tissue import (
    TissueFit,
    reference_features,
    train_tissue_models,
    write_tissue_models,
)

__all__ = ["MODEL_NAME", "STEP", "TrainTissueParams", "main", "run"]

log = logging.getLogger(__name__)

#: Name of the logged pyfunc model inside the run.
MODEL_NAME = "model"
_FROM_WORLD = {"fasta": "fasta", "genes": "gene_list", "expression": "roadmap_rpkm"}
_PARAMS = "train_tissue parameters"
#: Largest gap allowed between the logged model's and training's prediction (ln units).
_TOLERANCE = 1e-3


@dataclass(frozen=True)
class TrainTissueParams:
    """Parameters of the ``train_tissue`` step."""

    world: str = field(default="", metadata={"help": "synthetic world folder (world.json)"})
    fasta: str = field(default="", metadata={"help": "genome FASTA; empty: the world's"})
    genes: str = field(default="", metadata={"help": "annotation giving the TSSs"})
    expression: str = field(default="", metadata={"help": "Roadmap-layout RPKM table"})
    chromatin_model: str = field(default="", metadata={"help": "Beluga checkpoint (path/URI)"})
    held_out: str = field(default="chr4", metadata={"help": "comma-separated test contigs"})
    exclude: str = field(default="chrX,chrY", metadata={"help": "comma-separated contigs to drop"})
    pseudocount: float = field(default=0.01, metadata={"help": "target ln(RPKM + pseudocount)"})
    l2: float = field(default=100.0, metadata={"help": "xgboost L2 penalty (lambda)"})
    eta: float = field(default=0.01, metadata={"help": "xgboost learning rate"})
    rounds: int = field(default=100, metadata={"help": "boosting rounds"})
    base_score: float = field(default=2.0, metadata={"help": "xgboost base score"})
    batch_size: int = field(default=1024, metadata={"help": "windows per chromatin pass"})
    registered_model: str = field(
        default="expecto", metadata={"help": "registered model name; empty: do not register"}
    )


STEP = StepSpec(
    name="train_tissue",
    params=TrainTissueParams,
    family="expecto",
    task="expression",
    outputs=("tissue_models", "model"),
    upstream={
        "world": ("simulate", "world"),
        "chromatin_model": ("train_chromatin", "chromatin_model"),
    },
)


def _check_params(params: TrainTissueParams) -> None:
    if not params.chromatin_model:
        raise InputError(
            _PARAMS,
            "chromatin_model is empty.",
            fix="pass -P chromatin_model=<checkpoint path or URI> (train_chromatin's output).",
        )
    if not split_list(params.held_out):
        raise InputError(_PARAMS, "held_out names no contig.", fix="pass e.g. -P held_out=chr8.")
    for name in ("pseudocount", "eta", "rounds", "batch_size"):
        if not getattr(params, name) > 0:
            raise InputError(_PARAMS, f"{name}={getattr(params, name)!r}.", fix=f"give {name} > 0.")


def _chromatin(path: Path, batch_size: int) -> BelugaChromatin:
    """The checkpoint as a chromatin plug-in, refusing one that does not read ExPecto windows."""
    checkpoint = load_checkpoint(path)
    if checkpoint.config.seq_len != WINDOW:
        raise InputError(
            path,
            f"the chromatin model reads {checkpoint.config.seq_len} bp windows, but ExPecto "
            f"feeds it {WINDOW} bp windows.",
            fix=f"give a Beluga checkpoint trained on {WINDOW} bp windows (train_chromatin's).",
        )
    feature_names = checkpoint.data_params.get("feature_names")
    return BelugaChromatin(checkpoint.model, batch_size=batch_size, feature_names=feature_names)


def _expressed(genes: pd.DataFrame, rpkm: pd.DataFrame, params: TrainTissueParams) -> pd.DataFrame:
    """Genes with expression off excluded contigs, refusing no overlap or an empty split."""
    ids = np.asarray(strip_version(genes["gene_id"].astype(str).tolist()))
    known = np.isin(ids, rpkm.index.to_numpy())
    if not known.any():
        raise InputError(
            str(rpkm.attrs.get("path", params.expression)),
            f"holds none of the {len(ids)} genes of {genes.attrs.get('path', params.genes)} "
            f"(e.g. {ids[0]}); its genes are e.g. {', '.join(map(str, rpkm.index[:3]))}.",
            fix="give the expression table of the annotation's genes (versions are ignored).",
        )
    keys = genes["chrom"].map(chrom_key).to_numpy()
    chosen = known & ~np.isin(keys, [chrom_key(c) for c in split_list(params.exclude)])
    test = chosen & np.isin(keys, [chrom_key(c) for c in split_list(params.held_out)])
    n_test, n_train = int(test.sum()), int((chosen & ~test).sum())
    if not n_test or not n_train:
        raise InputError(
            _PARAMS,
            f"held_out={params.held_out!r} leaves {n_train} training and {n_test} test genes "
            f"with expression (exclude={params.exclude!r}).",
            fix="hold out contigs that carry some, but not all, of the expressed genes.",
        )
    log.info(
        "%d of %d genes have expression: %d train, %d test", known.sum(), len(ids), n_train, n_test
    )
    selected = genes[chosen].reset_index(drop=True)
    selected.attrs = dict(genes.attrs)
    return selected


def _test_rows(genes: pd.DataFrame, held_out: Sequence[str]) -> np.ndarray:
    """Row numbers of the held-out genes."""
    keys = genes["chrom"].map(chrom_key).to_numpy()
    return np.flatnonzero(np.isin(keys, [chrom_key(c) for c in held_out]))


def _metrics(fits: Sequence[TissueFit]) -> dict[str, float]:
    """Per-tissue and median correlations and gene counts; undefined values left out."""
    values: dict[str, float] = {"n_train": fits[0].n_train, "n_test": fits[0].n_test}
    for fit in fits:
        values[f"test_spearman_{fit.tissue}"] = fit.spearman_test
        values[f"test_pearson_{fit.tissue}"] = fit.pearson_test
        values[f"train_spearman_{fit.tissue}"] = fit.spearman_train
    for name, per_tissue in (
        ("test_spearman", [fit.spearman_test for fit in fits]),
        ("test_pearson", [fit.pearson_test for fit in fits]),
    ):
        defined = [v for v in per_tissue if math.isfinite(v)]
        values[name] = float(np.median(defined)) if defined else math.nan
    undefined = sorted(k for k, v in values.items() if not math.isfinite(v))
    if undefined:
        log.warning("not logged, undefined (constant values): %s", ", ".join(undefined))
    return {k: float(v) for k, v in values.items() if math.isfinite(v)}


def _check_logged(model_uri: str, example: pd.DataFrame, expected: np.ndarray) -> None:
    """Predict the example through the logged model; it must give training's prediction."""
    got = mlflow.pyfunc.load_model(model_uri).predict(example).to_numpy(dtype=np.float64)[0]
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=_TOLERANCE):
        raise ExprflowError(
            f"the logged model {model_uri} predicts {got.tolist()} for gene "
            f"{example.index[0]}, training predicts {expected.tolist()}; not registered."
        )


def _register(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register ``model_uri`` as a new version of ``name``; leave nothing behind on failure."""
    client = MlflowClient()
    try:
        client.get_registered_model(name)
        created = False
    except MlflowException:
        created = True
    try:
        version = mlflow.register_model(model_uri, name, tags=tags)
    except BaseException:
        if created:
            try:
                client.delete_registered_model(name)
            except MlflowException:
                log.exception("could not remove the registered model %s", name)
        raise
    return f"models:/{name}/{version.version}"


def run(params: TrainTissueParams) -> dict[str, str]:
    """Train the tissue models, log and register the ExPecto model; return the outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        _check_params(params)
        params = fill_from_world(params, _FROM_WORLD, STEP.name)
        fasta = ctx.log_input("fasta", params.fasta)
        rpkm = read_roadmap_rpkm(ctx.log_input("expression", params.expression))
        genes = _expressed(read_genes(ctx.log_input("genes", params.genes)), rpkm, params)
        checkpoint = ctx.log_input("chromatin_model", params.chromatin_model)
        chromatin = _chromatin(checkpoint, params.batch_size)
        first_test = int(_test_rows(genes, split_list(params.held_out))[0])
        with Genome(fasta) as genome:
            features = reference_features(
                genes, genome, chromatin, SpatialReduce(), batch_size=params.batch_size
            )
            gene = genes.iloc[first_test]
            example = pd.DataFrame(
                {
                    "sequence": [tss_sequence(genome, gene.chrom, gene.tss, gene.strand)],
                    "strand": [gene.strand],
                },
                index=[str(gene.gene_id)],
            )
        fits = train_tissue_models(
            features,
            genes,
            rpkm,
            held_out_chroms=split_list(params.held_out),
            exclude_chroms=split_list(params.exclude),
            pseudocount=params.pseudocount,
            l2=params.l2,
            eta=params.eta,
            rounds=params.rounds,
            base_score=params.base_score,
        )
        metrics = _metrics(fits)
        mlflow.log_metrics(metrics)
        mlflow.log_params({"n_genes": len(genes), "n_tissues": len(fits)})
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_tissue_models(fits, Path(tmp) / "tissue_models").parent
            ctx.log_artifact_output("tissue_models", folder, "tissue_models")
            info = log_expecto_model(
                checkpoint, folder, name=MODEL_NAME, input_example=example,
                batch_size=params.batch_size,
            )  # fmt: skip
        expected = np.array([float(fit.model.predict(features[first_test])) for fit in fits])
        _check_logged(info.model_uri, example, expected)
        model_uri = f"runs:/{ctx.run_id}/{MODEL_NAME}"
        if params.registered_model:
            tags = {"run_id": ctx.run_id, **{k: f"{v:.6g}" for k, v in metrics.items()}}
            model_uri = _register(info.model_uri, params.registered_model, tags)
        ctx.log_output("model", model_uri)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(TrainTissueParams, argv, prog="train_tissue"))


if __name__ == "__main__":
    main()
