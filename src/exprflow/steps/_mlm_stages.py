"""The work of ``train_mlm``: pretraining, imputation metrics, embeddings, expression, SNPs.

Kept apart from :mod:`exprflow.steps.train_mlm` because it imports torch, Lightning and
scikit-learn (seconds), and the pipeline registry imports every step module: the step
imports this only when it runs. Each stage logs its metrics and artifacts to the step's
run; see the step's docstring for what each stage does.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Final

import mlflow
import numpy as np
import pandas as pd
import torch

from exprflow.data.geuvadis import read_eqtls, read_expression
from exprflow.data.mlm_dataset import DATASET_FILE, META_FILE, gene_maf, read_meta, read_mlm_dataset
from exprflow.data.mlm_haplotypes import haplotype_batch
from exprflow.embedding.mlm_embed import (
    HaplotypeEmbeddings,
    rolling_embeddings,
    write_mlm_embeddings,
)
from exprflow.errors import InputError
from exprflow.evaluation.mlm_attribution import allele_contrast_gradient, rank_snps
from exprflow.evaluation.mlm_attribution_report import write_attribution
from exprflow.evaluation.mlm_baselines import GeneDosages, genotype_dosages
from exprflow.evaluation.mlm_enrichment import (
    chromatin_enrichment,
    planted_recovery,
    read_causal_variants,
)
from exprflow.evaluation.mlm_expression import (
    ExpressionSettings,
    GeneEmbeddings,
    compare_expression,
    comparison_metrics,
    observed_expression,
    write_comparison,
)
from exprflow.evaluation.mlm_imputation import evaluate_imputation
from exprflow.evaluation.mlm_regression import make_model
from exprflow.models.mlm.config import mlm_config
from exprflow.models.mlm.expression import (
    EmbeddingReadout,
    ExpressionModel,
    save_expression_model,
)
from exprflow.models.mlm.model import HaplotypeMLM
from exprflow.models.mlm.pyfunc import log_expression_model
from exprflow.models.mlm.saved import load_mlm, save_mlm
from exprflow.simulate.world import load_manifest
from exprflow.steps._cli import parse_flag
from exprflow.steps.train_mlm import REGISTERED_NAME, STEP, TrainMlmParams
from exprflow.tracking.step import StepContext
from exprflow.tracking.uris import local_path
from exprflow.training.mlm_finetune import (
    FinetuneSettings,
    GeneGenotypes,
    finetune,
    finetune_cv,
)
from exprflow.training.mlm_masking import MaskSettings, one_hot
from exprflow.training.mlm_pretrain import PretrainSettings, pretrain_mlm, validation_samples

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MlmData", "load_data", "run_stages"]

log = logging.getLogger(__name__)

#: Units of the registered model's de-standardised output.
UNITS = "rank-inverse-normal log2(RPKM + 0.01) over the training individuals"
_TRANSFORM: Final = "rank_inverse_normal"
_CHROMATIN_MARKS = ("H3K27ac", "DNase")


@dataclass(frozen=True)
class MlmData:
    """The MLM dataset as the stages use it.

    Attributes
    ----------
    table : pd.DataFrame
        ``split, sample, gene_id, seq`` rows.
    meta : pd.DataFrame
        ``meta.csv.gz`` rows.
    gene_index : dict of str to int
        Gene id → segment label, in meta order.
    maf : dict of str to numpy.ndarray
        Per-gene MAF in ``seq`` order.
    """

    table: pd.DataFrame
    meta: pd.DataFrame
    gene_index: dict[str, int]
    maf: dict[str, np.ndarray]

    def split(self, name: str) -> pd.DataFrame:
        """Rows of one split (``train`` or ``test``)."""
        return self.table.loc[self.table["split"] == name].reset_index(drop=True)

    @cached_property
    def _seq_by_gene_sample(self) -> pd.Series:
        return self.table.set_index(["gene_id", "sample"])["seq"]

    def seqs(self, gene_id: str, samples: Sequence[str]) -> list[str]:
        """The genotype strings of ``samples`` (in that order) at one gene."""
        return self._seq_by_gene_sample.loc[[(gene_id, s) for s in samples]].tolist()

    def genotypes(self, samples: Sequence[str]) -> dict[str, GeneGenotypes]:
        """Per gene, the haplotype tokens of ``samples`` (in that order)."""
        out = {}
        for gene_id, segment in self.gene_index.items():
            seqs = self.seqs(gene_id, samples)
            tokens = haplotype_batch(seqs).reshape(len(seqs), 2, -1)
            out[gene_id] = GeneGenotypes(segment, list(samples), tokens)
        return out


def load_data(ctx: StepContext, folder: str) -> MlmData:
    """Read and validate prepare's MLM folder (recorded as the run's inputs)."""
    meta = read_meta(ctx.log_input("mlm_meta", f"{folder.rstrip('/')}/{META_FILE}"))
    table = read_mlm_dataset(
        ctx.log_input("mlm_dataset", f"{folder.rstrip('/')}/{DATASET_FILE}"), meta
    )
    genes = list(dict.fromkeys(meta["GENE_ID"]))
    return MlmData(table, meta, {g: i for i, g in enumerate(genes)}, gene_maf(meta))


def _mask(params: TrainMlmParams) -> MaskSettings:
    return MaskSettings(
        mask_rate=params.mask_rate,
        maf_stratified=parse_flag("maf_stratified", params.maf_stratified),
    )


def _pretrain(ctx: StepContext, params: TrainMlmParams, data: MlmData) -> HaplotypeMLM:
    """Pretrain on the training split; save and log the model; return it."""
    train = data.split("train")
    valid = validation_samples(train["sample"].tolist(), params.folds, params.fold)
    settings = PretrainSettings(
        lr=params.lr,
        batch_size=params.batch_size,
        max_epochs=params.max_epochs,
        patience=params.patience,
        mask=_mask(params),
        precision=params.precision,
        seed=params.seed,
    )
    config = mlm_config(params.model_size, len(data.gene_index))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        fit = pretrain_mlm(train, data.gene_index, config, settings, valid, tmp, maf=data.maf)
        mlflow.log_metrics(
            {
                "pretrain_seconds": time.perf_counter() - started,
                "best_epoch": fit.best_epoch,
                "n_parameters": sum(p.numel() for p in fit.model.parameters()),
            }
            | {f"best_{k}": v for k, v in fit.best.items() if np.isfinite(v)}
        )
        folder = Path(tmp) / "mlm"
        extra = {"genes": list(data.gene_index), "valid_samples": valid}
        save_mlm(folder, fit.model, config, extra)
        ctx.log_artifact_output("mlm_model", folder, "mlm")
    return fit.model


def _load_model(ctx: StepContext, params: TrainMlmParams, data: MlmData) -> HaplotypeMLM:
    """The saved model given as ``model``, checked against the dataset's genes."""
    saved = load_mlm(ctx.log_input("model", params.model))
    if saved.config.n_genes != len(data.gene_index):
        raise InputError(
            params.model,
            f"was trained on {saved.config.n_genes} genes; the dataset has {len(data.gene_index)}.",
            fix="use the model pretrained on this dataset, or run the pretrain stage.",
        )
    ctx.log_output("mlm_model", local_path(params.model))
    return saved.model


def _major_allele_accuracy(data: MlmData, frame: int) -> float:
    """Masked accuracy of always guessing each SNP's major allele (AF over all samples)."""
    af = data.meta.sort_values(["GENE_ID", "seq_idx"]).groupby("GENE_ID", sort=False)["AF"]
    inner = [v.to_numpy()[frame : len(v) - frame] for _, v in af]
    values = np.concatenate([v for v in inner if len(v)] or [np.array([np.nan])])
    return float(np.mean(np.maximum(values, 1 - values)))


def _impute(params: TrainMlmParams, data: MlmData, model: HaplotypeMLM) -> None:
    """Imputation metrics on held-out training individuals and on the test split."""
    mask = _mask(params)
    mlflow.log_metric("impute_major_allele_accuracy", _major_allele_accuracy(data, mask.frame))
    train = data.split("train")
    valid = set(validation_samples(train["sample"].tolist(), params.folds, params.fold))
    parts = {"valid": train.loc[train["sample"].isin(valid)], "test": data.split("test")}
    for name, rows in parts.items():
        if rows.empty:
            continue
        metrics = evaluate_imputation(model, rows, data.gene_index, mask, maf=data.maf)
        log.info("imputation on %s: %s", name, metrics)
        mlflow.log_metrics({f"impute_{name}_{k}": v for k, v in metrics.items() if np.isfinite(v)})


def _embed(
    ctx: StepContext, params: TrainMlmParams, model: HaplotypeMLM, genes: dict[str, GeneGenotypes]
) -> dict[str, HaplotypeEmbeddings]:
    """Rolling-mask embeddings of every test individual's haplotypes; written to HDF5."""
    started = time.perf_counter()
    per_gene = {}
    for gene_id, gg in genes.items():
        tokens = gg.tokens.reshape(-1, gg.tokens.shape[-1])
        segment = np.full(len(tokens), gg.gene)
        per_gene[gene_id] = rolling_embeddings(model, tokens, segment, stride=params.stride)
    seconds = time.perf_counter() - started
    n_haplotypes = sum(2 * len(gg.samples) for gg in genes.values())
    mlflow.log_metrics(
        {"embed_seconds": seconds, "embed_haplotypes_per_second": n_haplotypes / seconds}
    )
    samples = next(iter(genes.values())).samples
    with tempfile.TemporaryDirectory() as tmp:
        write_mlm_embeddings(
            Path(tmp) / "mlm_embeddings.h5", samples, per_gene, stride=params.stride
        )
        ctx.log_artifact_output("embeddings", Path(tmp), "embeddings")
    return per_gene


def _targets(expression: pd.DataFrame, genes: dict[str, GeneGenotypes]) -> pd.DataFrame:
    """Each gene's transformed expression over its individuals (gene × sample)."""
    return pd.DataFrame(
        {
            g: pd.Series(observed_expression(expression, g, gg.samples, _TRANSFORM), gg.samples)
            for g, gg in genes.items()
        }
    ).T


def _expression(
    params: TrainMlmParams,
    ctx: StepContext,
    model: HaplotypeMLM,
    data: MlmData,
    genes: dict[str, GeneGenotypes],
    per_gene: dict[str, HaplotypeEmbeddings],
) -> tuple[ExpressionModel, pd.DataFrame]:
    """The expression comparison, and the fine-tuned model logged and registered.

    Returns the fine-tuned model and the transformed expression it was trained on.
    """
    expression = read_expression(ctx.log_input("expression", params.expression))
    expression.attrs["path"] = params.expression
    eqtls = read_eqtls(ctx.log_input("eqtls", params.eqtls)) if params.eqtls else None
    settings = FinetuneSettings(
        trainable_layers=params.trainable_layers,
        lr=params.finetune_lr,
        epochs=params.finetune_epochs,
        folds=params.cv_folds,
        precision=params.precision,
        seed=params.seed,
    )
    targets = _targets(expression, genes)
    samples = next(iter(genes.values())).samples
    started = time.perf_counter()
    oof = finetune_cv(model, genes, targets, samples, settings)
    mlflow.log_metric("finetune_cv_seconds", time.perf_counter() - started)
    embeddings = [
        GeneEmbeddings(g, tuple(genes[g].samples), e.vectors[0::2], e.vectors[1::2])
        for g, e in per_gene.items()
    ]
    comparison = compare_expression(
        embeddings,
        expression,
        eqtls=eqtls,
        dosages=_dosages(data, genes),
        extra_predictions={"finetuned": oof},
        settings=ExpressionSettings(n_folds=params.cv_folds, seed=params.seed),
    )
    with tempfile.TemporaryDirectory() as tmp:
        write_comparison(comparison, tmp)
        mlflow.log_artifacts(tmp, "expression")
    mlflow.log_metrics(comparison_metrics(comparison))
    final, scale = finetune(model, genes, targets, samples, settings)
    _log_expression_model(params, ctx, final, scale, data, genes)
    return final, targets


def _dosages(data: MlmData, genes: dict[str, GeneGenotypes]) -> dict[str, GeneDosages]:
    """ALT dosages of the individuals over each gene's SNPs, with the SNPs' meta rows."""
    out = {}
    for gene_id, gg in genes.items():
        seqs = data.seqs(gene_id, gg.samples)
        snps = data.meta.loc[data.meta["GENE_ID"] == gene_id].sort_values("seq_idx")
        out[gene_id] = GeneDosages(
            gene_id, tuple(gg.samples), genotype_dosages(seqs), snps.reset_index(drop=True)
        )
    return out


def _log_expression_model(
    params: TrainMlmParams,
    ctx: StepContext,
    model: ExpressionModel,
    scale: pd.DataFrame,
    data: MlmData,
    genes: dict[str, GeneGenotypes],
) -> None:
    """Save the fine-tuned model, log it with a signature and example, register it."""
    table = scale.assign(
        segment=[data.gene_index[g] for g in scale.index],
        n_snps=[genes[g].tokens.shape[-1] for g in scale.index],
    )
    first_gene = next(iter(genes))
    sample = genes[first_gene].samples[0]
    example = pd.DataFrame({"gene_id": [first_gene], "genotypes": data.seqs(first_gene, [sample])})
    register = parse_flag("register", params.register)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_expression_model(Path(tmp) / "expression_model", model, table, UNITS)
        info = log_expression_model(
            folder,
            example,
            name="expression_model",
            registered_model_name=REGISTERED_NAME if register else None,
        )
    ctx.log_output("expression_model", info.model_uri)


def _chromatin(params: TrainMlmParams) -> dict[str, Path]:
    """The bigWigs of the enrichment: ``chromatin`` pairs, or the world's LCL marks."""
    if params.chromatin:
        pairs = [item.split("=", 1) for item in params.chromatin.split(",") if item.strip()]
        if any(len(p) != 2 for p in pairs):
            raise InputError(
                "argument chromatin",
                f"{params.chromatin!r} is not name=path pairs.",
                fix="pass e.g. H3K27ac=/data/GM12878_H3K27ac.bigWig,DNase=/data/dnase.bigWig.",
            )
        return {name.strip(): local_path(path.strip()) for name, path in pairs}
    if not (params.world and params.truth):
        return {}
    lcl = json.loads(local_path(params.truth).read_text())["lcl_cell_type"]
    tracks = load_manifest(local_path(params.world)).path("tracks") / str(lcl)
    return {f"{lcl}_{mark}": tracks / f"{mark}.bigWig" for mark in _CHROMATIN_MARKS}


def _ridge_readout(
    model: HaplotypeMLM,
    data: MlmData,
    genes: dict[str, GeneGenotypes],
    per_gene: dict[str, HaplotypeEmbeddings],
    targets: pd.DataFrame,
) -> EmbeddingReadout:
    """The ridge on summed haplotype vectors, fitted on every individual, as a torch model."""
    weights = torch.zeros(len(data.gene_index), model.config.d_model)
    for gene_id, emb in per_gene.items():
        features = emb.vectors[0::2] + emb.vectors[1::2]
        pipe = make_model("ridge").fit(features, targets.loc[gene_id, genes[gene_id].samples])
        coef = pipe.named_steps["model"].coef_ / pipe.named_steps["scale"].scale_
        weights[data.gene_index[gene_id]] = torch.from_numpy(coef.astype(np.float32))
    return EmbeddingReadout(model, weights)


def _rankings(
    explained: torch.nn.Module, data: MlmData, genes: dict[str, GeneGenotypes]
) -> dict[str, pd.DataFrame]:
    """Per gene, SNPs ranked by the allele-contrast gradient of ``explained``."""
    rankings = {}
    for gene_id, gg in genes.items():
        x = torch.from_numpy(one_hot(gg.tokens.reshape(-1, gg.tokens.shape[-1])))
        gene = torch.full((len(x),), gg.gene)
        effects = allele_contrast_gradient(explained, x, gene)
        snps = data.meta.loc[data.meta["GENE_ID"] == gene_id].sort_values("seq_idx")
        rankings[gene_id] = rank_snps(effects, snps.reset_index(drop=True), individuals=True)
    return rankings


def _attribute(
    params: TrainMlmParams,
    explained: torch.nn.Module,
    data: MlmData,
    genes: dict[str, GeneGenotypes],
    name: str,
) -> None:
    """SNP rankings of one model, planted-variant recovery and chromatin enrichment."""
    rankings = _rankings(explained, data, genes)
    recovery = None
    if params.truth:
        recovery = planted_recovery(rankings, read_causal_variants(local_path(params.truth)))
        for row in recovery.summary.itertuples(index=False):
            mlflow.log_metrics(
                {
                    f"attr_{name}_precision_at_{row.k}": float(row.precision),
                    f"attr_{name}_recall_at_{row.k}": float(row.recall),
                    f"attr_random_precision_at_{row.k}": float(row.random_precision),
                }
            )
    enrichment = None
    tracks = _chromatin(params)
    if tracks:
        enrichment = chromatin_enrichment(rankings, tracks, params.top_k)
        for row in enrichment.itertuples(index=False):
            mlflow.log_metrics(
                {
                    f"attr_{name}_enrichment_{row.track}": float(row.ratio),
                    f"attr_{name}_enrichment_{row.track}_p": float(row.p_value),
                }
            )
    with tempfile.TemporaryDirectory() as tmp:
        write_attribution(tmp, rankings, recovery, enrichment)
        mlflow.log_artifacts(tmp, f"attribution/{name}")


def run_stages(ctx: StepContext, params: TrainMlmParams, stages: list[str]) -> None:
    """Run the asked stages in order on the step's run."""
    data = load_data(ctx, params.mlm)
    mlflow.log_metrics(
        {
            "n_genes": len(data.gene_index),
            "n_snps": len(data.meta),
            "n_train_individuals": data.split("train")["sample"].nunique(),
            "n_test_individuals": data.split("test")["sample"].nunique(),
        }
    )
    pretrain = _pretrain if "pretrain" in stages else _load_model
    model = pretrain(ctx, params, data)
    if "impute" in stages:
        _impute(params, data, model)
    test_samples = list(dict.fromkeys(data.split("test")["sample"]))
    if not test_samples and any(s in stages for s in ("embed", "expression", "attribute")):
        raise InputError(
            params.mlm, "has no test individuals to embed.", fix="build it with test samples."
        )
    genes = data.genotypes(test_samples) if test_samples else {}
    per_gene = _embed(ctx, params, model, genes) if "embed" in stages else {}
    if "expression" in stages:
        final, targets = _expression(params, ctx, model, data, genes, per_gene)
        if "attribute" in stages:
            ridge = _ridge_readout(model, data, genes, per_gene, targets)
            _attribute(params, ridge, data, genes, "ridge")
            _attribute(params, final, data, genes, "finetuned")
    log.info("%s: stages %s done", STEP.name, ", ".join(stages))
