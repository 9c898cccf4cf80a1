"""Entry point ``train_chromatin``: train the Beluga chromatin model on bigWig tracks.

The synthetic world has no released weights, so ExPecto's first stage is trained here:
2,000 bp windows around TSSs and across the genome, DeepSEA-style binary labels per
track (central 200 bp bin above the track's genome-wide quantile), BCE, held-out
chromosomes for validation (see :mod:`exprflow.training.chromatin_data`).

Inputs (empty: from ``world``): ``fasta``; ``tracks`` a folder of
``<eid>/<track>.bigWig``; ``genes`` (GTF / gene_list.csv / geneanno.csv) for the TSSs.
Outputs:
    ``chromatin_model`` — ``runs:/<id>/chromatin_model/beluga.pt``, a self-describing
    checkpoint (config, weights, training and data parameters incl. feature names).
Metrics per epoch: ``train_loss``, ``val_loss``, ``val_auroc`` (mean over features).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow

from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.load import save_checkpoint
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.steps._world import fill_from_world
from exprflow.tracking.step import step_run
from exprflow.training.chromatin import train_chromatin_model
from exprflow.training.chromatin_data import (
    LOCAL_TRACKS,
    chromatin_labels,
    encode_regions,
    sample_windows,
    track_files,
)

__all__ = ["STEP", "TrainChromatinParams", "main", "run"]

_FROM_WORLD = {"fasta": "fasta", "tracks": "tracks", "genes": "gene_list"}


@dataclass(frozen=True)
class TrainChromatinParams:
    """Parameters of the ``train_chromatin`` step."""

    world: str = field(default="", metadata={"help": "synthetic world folder (world.json)"})
    fasta: str = field(default="", metadata={"help": "genome FASTA; empty: the world's"})
    tracks: str = field(default="", metadata={"help": "folder of <eid>/<track>.bigWig"})
    genes: str = field(default="", metadata={"help": "annotation giving the TSSs"})
    track_names: str = field(
        default=",".join(LOCAL_TRACKS),
        metadata={"help": "comma-separated tracks to learn (all cell types)"},
    )
    held_out: str = field(default="chr4", metadata={"help": "comma-separated validation contigs"})
    model_size: str = field(
        default="tiny", metadata={"help": "'tiny' or 'full' (the published Beluga)"}
    )
    epochs: int = field(default=4, metadata={"help": "training epochs"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate"})
    batch_size: int = field(default=64, metadata={"help": "windows per batch"})
    n_background: int = field(default=2000, metadata={"help": "random genome-wide windows"})
    tss_flank: int = field(default=3000, metadata={"help": "bp around each TSS to tile"})
    seed: int = field(default=0, metadata={"help": "seed of sampling and training"})


STEP = StepSpec(
    name="train_chromatin",
    params=TrainChromatinParams,
    family="expecto",
    task="chromatin",
    outputs=("chromatin_model",),
    upstream={"world": ("simulate", "world")},
)


def _check_model_size(model_size: str) -> None:
    if model_size not in ("tiny", "full"):
        raise InputError(
            "train_chromatin parameters", f"model_size={model_size!r}.", fix="use 'tiny' or 'full'."
        )


def _config(model_size: str, n_outputs: int) -> BelugaConfig:
    if model_size == "tiny":
        return BelugaConfig.tiny(n_outputs)
    return BelugaConfig(n_outputs=n_outputs)


def run(params: TrainChromatinParams) -> dict[str, str]:
    """Train the chromatin model; return the step's outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        _check_model_size(params.model_size)
        params = fill_from_world(params, _FROM_WORLD, STEP.name)
        fasta = ctx.log_input("fasta", params.fasta)
        tracks_dir = ctx.log_input("tracks", params.tracks)
        genes = read_genes(ctx.log_input("genes", params.genes))
        held_out = split_list(params.held_out)
        with Genome(fasta) as genome:
            regions = sample_windows(
                genome,
                zip(genes["chrom"], genes["tss"], strict=True),
                n_background=params.n_background,
                tss_flank=params.tss_flank,
                seed=params.seed,
            )
            labels = chromatin_labels(
                genome, track_files(tracks_dir, split_list(params.track_names)), regions
            )
            onehot = encode_regions(genome, regions)
        config = _config(params.model_size, len(labels.feature_names))
        mlflow.log_params({"n_windows": len(regions), "n_features": len(labels.feature_names)})
        fit = train_chromatin_model(
            config,
            onehot,
            labels.labels,
            list(labels.chroms),
            epochs=params.epochs,
            lr=params.lr,
            batch_size=params.batch_size,
            held_out_chroms=held_out,
            seed=params.seed,
        )
        for stats in fit.history:
            mlflow.log_metrics(
                {
                    "train_loss": stats.train_loss,
                    "val_loss": stats.val_loss,
                    "val_auroc": stats.val_auroc,
                },
                step=stats.epoch,
            )
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = save_checkpoint(
                Path(tmp) / "beluga.pt",
                fit.model,
                config,
                {k: v for k, v in asdict(params).items() if k not in _FROM_WORLD and k != "world"},
                labels.data_params(str(params.fasta), held_out, config.seq_len),
            )
            ctx.log_artifact_output("chromatin_model", checkpoint, "chromatin_model")
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(TrainChromatinParams, argv, prog="train_chromatin"))


if __name__ == "__main__":
    main()
