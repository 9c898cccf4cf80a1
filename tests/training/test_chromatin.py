from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.load import load_checkpoint, save_checkpoint
from exprflow.models.beluga.predict import predict_windows
from exprflow.simulate.world import load_manifest
from exprflow.training.chromatin import mean_auroc, train_chromatin_model
from exprflow.training.chromatin_data import (
    LOCAL_TRACKS,
    ChromatinLabels,
    chromatin_labels,
    encode_regions,
    sample_windows,
    track_files,
)


@pytest.fixture(scope="module")
def world_data(tiny_world: Path) -> tuple[np.ndarray, ChromatinLabels]:
    manifest = load_manifest(tiny_world)
    genome = Genome(manifest.path("fasta"))
    genes = read_genes(manifest.path("gene_list"))
    tracks = track_files(manifest.path("tracks"), LOCAL_TRACKS)
    regions = sample_windows(
        genome,
        zip(genes["chrom"], genes["tss"], strict=True),
        n_background=400,
        tss_flank=3000,
        seed=0,
    )
    labels = chromatin_labels(genome, tracks, regions)
    return encode_regions(genome, regions), labels


@pytest.mark.parametrize("seed", [0, 1])
def test_learns_held_out_chromatin(
    world_data: tuple[np.ndarray, ChromatinLabels], seed: int, tmp_path: Path
) -> None:
    onehot, labels = world_data
    assert labels.feature_names[:2] == ["E116|DNase", "E116|H3K27ac"]
    config = BelugaConfig.tiny(len(labels.feature_names))
    model, history = train_chromatin_model(
        config,
        onehot,
        labels.labels,
        labels.chroms,
        epochs=4,
        lr=3e-3,
        batch_size=64,
        held_out_chroms=["chr4"],
        seed=seed,
        progress=False,
    )
    assert [h.epoch for h in history] == [1, 2, 3, 4]
    assert history[-1].train_loss < history[0].train_loss
    assert history[-1].n_auroc_features == 12
    assert history[-1].val_auroc > 0.8  # 0.94–0.95 for seeds 0–4
    path = save_checkpoint(
        tmp_path / "beluga.pt",
        model,
        config,
        {"epochs": 4, "lr": 3e-3, "seed": seed},
        labels.data_params("tiny-seed0", ["chr4"], config.seq_len),
    )
    checkpoint = load_checkpoint(path)
    assert checkpoint.data_params["feature_names"] == labels.feature_names
    held = labels.chroms == "chr4"
    np.testing.assert_array_equal(
        predict_windows(checkpoint.model, onehot[held], batch_size=64),
        predict_windows(model, onehot[held], batch_size=64),
    )


def _random_data(n: int = 48) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, 2000))].transpose(0, 2, 1)
    labels = (rng.random((n, 2)) < 0.3).astype(np.uint8)
    chroms = ["chr1", "chr2", "chr3"] * (n // 3)
    return onehot, labels, chroms


def test_deterministic_and_leaves_global_rng_alone() -> None:
    onehot, labels, chroms = _random_data()
    config = BelugaConfig.tiny(2)
    state = torch.random.get_rng_state()
    kwargs = {"epochs": 2, "lr": 1e-3, "batch_size": 16, "held_out_chroms": ["chr3"]}
    first = train_chromatin_model(config, onehot, labels, chroms, seed=5, progress=False, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = train_chromatin_model(config, onehot, labels, chroms, seed=5, progress=False, **kwargs)
    assert [(h.train_loss, h.val_loss, h.val_auroc) for h in first.history] == [
        (h.train_loss, h.val_loss, h.val_auroc) for h in second.history
    ]
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not first.model.training


def test_early_stopping_keeps_the_best_epoch() -> None:
    onehot, labels, chroms = _random_data()
    config = BelugaConfig.tiny(2)
    fit = train_chromatin_model(
        config, onehot, labels, chroms, epochs=8, lr=3e-2, batch_size=16,
        held_out_chroms=["chr3"], seed=0, progress=False, patience=1,
    )  # fmt: skip
    losses = [h.val_loss for h in fit.history]
    assert len(losses) < 8  # random labels: the validation loss stops improving
    assert losses[-1] >= min(losses)
    held = np.array(chroms) == "chr3"
    scores = predict_windows(fit.model, onehot[held], batch_size=16)
    loss = torch.nn.functional.binary_cross_entropy(
        torch.from_numpy(scores).double(), torch.from_numpy(labels[held]).double()
    )
    assert float(loss) == pytest.approx(min(losses), abs=1e-12)


def test_mean_auroc_exact() -> None:
    labels = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    scores = np.array([[0.9, 0.1, 0.2], [0.8, 0.2, 0.3], [0.7, 0.3, 0.4], [0.1, 0.4, 0.5]])
    # feature 0: positives 0.9, 0.7 vs negatives 0.8, 0.1 → 3 of 4 pairs ordered
    assert mean_auroc(labels, scores) == (0.75, 1)
    assert np.isnan(mean_auroc(labels[:, 1:], scores[:, 1:])[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"onehot": np.zeros((48, 2000, 4), np.float32)}, r"onehot must be \(N, 4, 2000\)"),
        ({"labels": np.zeros((48, 3), np.uint8)}, r"labels must be \(N, n_outputs\) = \(48, 2\)"),
        ({"chroms": ["chr1"] * 47}, "chroms has 47 entries for 48 windows"),
        ({"held_out_chroms": ["chrX"]}, r"held_out_chroms=\['chrX'\] must select some but not"),
        ({"epochs": 0}, "epochs, batch_size and patience must be positive"),
    ],
)
def test_bad_inputs(change: dict, message: str) -> None:
    onehot, labels, chroms = _random_data()
    kwargs = {
        "onehot": onehot, "labels": labels, "chroms": chroms, "epochs": 1, "lr": 1e-3,
        "batch_size": 16, "held_out_chroms": ["chr3"], "seed": 0, "progress": False,
    }  # fmt: skip
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        train_chromatin_model(BelugaConfig.tiny(2), **kwargs)
