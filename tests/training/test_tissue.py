from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from exprflow.data.roadmap import read_roadmap_rpkm
from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.load import save_checkpoint
from exprflow.models.expecto.features import spatial_features, window_starts
from exprflow.models.expecto.plugins import BelugaChromatin, SpatialReduce, expecto_plugins
from exprflow.models.expecto.tissue import load_json, load_tissue_models, train_tissue_model
from exprflow.scoring.engine import score_genes
from exprflow.scoring.merge import predictions_table
from exprflow.simulate.world import load_manifest
from exprflow.training.chromatin import train_chromatin_model
from exprflow.training.chromatin_data import (
    LOCAL_TRACKS,
    chromatin_labels,
    encode_regions,
    sample_windows,
    track_files,
)
from exprflow.training.tissue import (
    METRICS_FILE,
    TissueFit,
    reference_features,
    train_tissue_models,
    write_tissue_models,
)


class Trained(NamedTuple):
    genome: Genome
    genes: pd.DataFrame
    rpkm: pd.DataFrame
    checkpoint: Path
    features: np.ndarray


@pytest.fixture(scope="module")
def trained(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """A tiny Beluga trained on the tiny world (4 epochs, chr4 held out) and its features.

    Module fixtures run before the autouse one-thread fixture, so this sets it itself.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield _train(tiny_world, tmp_path_factory.mktemp("beluga"))
    torch.set_num_threads(threads)


def _train(tiny_world: Path, out: Path) -> Trained:
    manifest = load_manifest(tiny_world)
    genome = Genome(manifest.path("fasta"))
    genes = read_genes(manifest.path("gene_list"))
    tracks = track_files(manifest.path("tracks"), LOCAL_TRACKS)
    tss = zip(genes["chrom"], genes["tss"], strict=True)
    regions = sample_windows(genome, tss, n_background=400, tss_flank=3000, seed=0)
    labels = chromatin_labels(genome, tracks, regions)
    config = BelugaConfig.tiny(len(labels.feature_names))
    fit = train_chromatin_model(
        config, encode_regions(genome, regions), labels.labels, labels.chroms, epochs=4,
        lr=3e-3, batch_size=64, held_out_chroms=["chr4"], seed=0, progress=False,
    )  # fmt: skip
    checkpoint = save_checkpoint(
        out / "beluga.pt",
        fit.model,
        config,
        {"epochs": 4},
        labels.data_params("tiny-seed0", ["chr4"], config.seq_len),
    )
    chromatin = BelugaChromatin(fit.model, batch_size=512, device="cpu")
    features = reference_features(genes, genome, chromatin, SpatialReduce(), progress=False)
    rpkm = read_roadmap_rpkm(manifest.path("roadmap_rpkm"))
    return Trained(genome, genes, rpkm, checkpoint, features)


def test_end_to_end_on_the_tiny_world(trained: Trained, tmp_path: Path) -> None:
    assert trained.features.shape == (24, 10 * 12) and trained.features.dtype == np.float32
    fits = train_tissue_models(trained.features, trained.genes, trained.rpkm, progress=False)
    assert [fit.tissue for fit in fits] == ["E116", "E123", "E118"]
    for fit in fits:
        assert (fit.n_train, fit.n_test) == (18, 6)
        assert np.isfinite(list(fit.metrics().values())).all()
        assert fit.model.training["pseudocount"] == 0.01
    modellist = write_tissue_models(fits, tmp_path / "models")
    for fit in fits:
        loaded = load_json(tmp_path / "models" / f"{fit.tissue}.json")
        np.testing.assert_array_equal(loaded.weights, fit.model.weights)
        assert (loaded.bias, loaded.base_score, loaded.training) == (
            fit.model.bias,
            fit.model.base_score,
            fit.model.training,
        )
    metrics = pd.read_csv(tmp_path / "models" / METRICS_FILE, sep="\t")
    assert metrics["tissue"].tolist() == ["E116", "E123", "E118"]
    assert [m.tissue for m in load_tissue_models(modellist)] == ["E116", "E123", "E118"]

    # Scoring the reference with the trained models reproduces the training predictions.
    plugins = expecto_plugins(trained.checkpoint, modellist, device="cpu")
    chosen = ["ENSG90000000001", "ENSG90000000020"]  # one training gene, one held out
    score_genes(
        trained.genes, trained.genome, None, [], *plugins, tmp_path / "scores",
        gene_ids=chosen, progress=False,
    )  # fmt: skip
    table = predictions_table([tmp_path / "scores"]).set_index("gene_id")
    rows = trained.genes.index[trained.genes["gene_id"].isin(chosen)]
    for fit in fits:
        expected = fit.model.predict(trained.features[rows].astype(np.float64))
        np.testing.assert_allclose(table.loc[chosen, fit.tissue], expected, rtol=1e-5)


def _composition(onehot: np.ndarray) -> np.ndarray:
    """A stand-in chromatin model: the A, G, C, T fractions of each window."""
    return onehot.mean(axis=2)


def test_reference_features_follow_expecto_geometry(trained: Trained) -> None:
    genes, genome = trained.genes, trained.genome
    got = reference_features(genes, genome, _composition, SpatialReduce(), progress=False)
    one_by_one = reference_features(
        genes, genome, _composition, SpatialReduce(), genes_per_batch=1, batch_size=7,
        progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(got, one_by_one)
    # Independently: the window starts of models.expecto.features and plain base counts.
    starts = window_starts(genes["tss"].to_numpy(), genes["strand"].to_numpy())
    composition = np.array(
        [
            [
                [(seq := genome.fetch(f"chr{chrom}", s, s + 2000)).count(b) for b in "AGCT"]
                for s in row
            ]
            for chrom, row in zip(genes["chrom"], starts, strict=True)
        ],
        dtype=np.float32,
    ) / np.float32(2000)
    assert seq  # the windows hold bases
    np.testing.assert_allclose(got, spatial_features(composition), rtol=1e-6)


def _toy() -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """12 genes on chr1–chr3 and chrX; G11 has no expression; versioned ids in the table."""
    rng = np.random.default_rng(0)
    genes = pd.DataFrame(
        {
            "gene_id": [f"ENSG{i:02d}.{i % 3 + 1}" for i in range(12)],
            "chrom": ["chr1"] * 4 + ["2"] * 3 + ["chr3"] * 3 + ["chrX"] * 2,
        }
    )
    features = rng.normal(size=(12, 20))
    rpkm = pd.DataFrame(
        rng.gamma(1.0, 5.0, size=(11, 2)),
        index=pd.Index([f"ENSG{i:02d}" for i in range(11)], name="gene_id"),
        columns=["E001", "E002"],
    )
    rpkm.iloc[10, 0] = 0.0  # zero RPKM: ln(0 + pseudocount)
    return features, genes, rpkm


def test_training_split_target_and_metrics_are_exact() -> None:
    features, genes, rpkm = _toy()
    fits = train_tissue_models(
        features, genes, rpkm, held_out_chroms=["chr2"], pseudocount=0.1, rounds=20,
        progress=False,
    )  # fmt: skip
    train = np.r_[0:4, 7:10]  # chr1 and chr3; chrX and the unexpressed gene left out
    test = np.r_[4:7]  # "2" matches chr2
    for fit, column in zip(fits, ["E001", "E002"], strict=True):
        assert isinstance(fit, TissueFit) and fit.tissue == column
        y = np.log(rpkm[column].to_numpy() + 0.1)
        direct = train_tissue_model(features[train], y[train], rounds=20, tissue=column)
        np.testing.assert_array_equal(fit.model.weights, direct.weights)
        assert (fit.n_train, fit.n_test) == (7, 3)
        predicted = direct.predict(features)
        assert fit.spearman_test == pytest.approx(stats.spearmanr(predicted[test], y[test])[0])
        assert fit.pearson_train == pytest.approx(stats.pearsonr(predicted[train], y[train])[0])
        assert fit.model.training["held_out_chroms"] == ["chr2"]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"features": np.zeros((11, 20))}, ValueError, r"shape \(12, D\) .*got \(11, 20\)"),
        ({"features": np.full((12, 20), np.nan)}, ValueError, "must be finite"),
        ({"pseudocount": 0.0}, ValueError, "pseudocount must be > 0"),
        ({"held_out_chroms": ["chr9"]}, ValueError, r"leaves 10 training and 0 test genes"),
        ({"held_out_chroms": ["chr1", "2", "3"]}, ValueError, "leaves 0 training"),
        ({"genes": "dup"}, InputError, "genes.csv: ENSG01: gene id appears twice"),
        ({"genes": "nochrom"}, InputError, r"lacks column\(s\) \['chrom'\]"),
        ({"rpkm": "other"}, InputError, r"rpkm.tsv: none of the 12 genes \(e.g. ENSG00\)"),
    ],
)
def test_bad_training_inputs(change: dict, error: type, message: str) -> None:
    features, genes, rpkm = _toy()
    if change.get("genes") == "dup":
        genes.loc[2, "gene_id"] = "ENSG01.9"
    if change.get("genes") == "nochrom":
        genes = genes.drop(columns="chrom")
    genes.attrs["path"] = "genes.csv"
    if change.get("rpkm") == "other":
        rpkm.index = [f"OTHER{i}" for i in range(11)]
    rpkm.attrs["path"] = "rpkm.tsv"
    kwargs = {"features": features, "held_out_chroms": ["chr2"], "rounds": 1, "progress": False}
    kwargs.update({k: v for k, v in change.items() if k not in ("genes", "rpkm")})
    with pytest.raises(error, match=message):
        train_tissue_models(genes=genes, rpkm=rpkm, **kwargs)


def test_bad_feature_calls(trained: Trained, tmp_path: Path) -> None:
    genes = trained.genes.assign(strand="x")
    with pytest.raises(InputError, match="strand 'x' is not"):
        reference_features(genes, trained.genome, _composition, SpatialReduce(), progress=False)
    with pytest.raises(ValueError, match="empty"):
        reference_features(genes[:0], trained.genome, _composition, SpatialReduce())
    with pytest.raises(ValueError, match="reduce returned"):
        reference_features(trained.genes[:2], trained.genome, _composition, lambda w: w[0])
    features, toy_genes, rpkm = _toy()
    fits = train_tissue_models(features, toy_genes, rpkm, held_out_chroms=["chr2"], rounds=1)
    with pytest.raises(ValueError, match="file-name-safe"):
        write_tissue_models([fits[0], fits[0]], tmp_path)
