"""Training a toy Basenji2 (256 bp, ``toy_params``) on hand-made tracks; saving and reloading.

The toy genome has GC-rich and AT-rich stretches; track ``gc`` is 1 + 4 × the GC
fraction around each base (learnable from sequence), ``cpg`` 1 + 5 at each CpG, and
``gappy`` is ``gc`` with no data over part of chr1 (NaN labels the loss must skip).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from exprflow.data.basenji_labels import build_labels, prepare_labels, read_labels
from exprflow.data.label_targets import LabelTarget, read_label_targets
from exprflow.errors import InputError
from exprflow.genome.bigwig import write_bigwig
from exprflow.genome.fasta import Genome
from exprflow.genome.onehot import ACGT, one_hot
from exprflow.models.basenji2.config import TINY_PARAMS, Basenji2Config, toy_params
from exprflow.models.basenji2.model import build_basenji2
from exprflow.models.basenji2.trunk import load_trunk
from exprflow.models.basenji2.weights import load_legacy_weights, read_legacy_weights
from exprflow.training.basenji2 import (
    Basenji2Fit,
    SavedBasenji2,
    save_basenji2,
    train_basenji2,
)
from exprflow.training.basenji2_batches import RegionBatches
from exprflow.training.basenji2_data import label_geometry, world_mark_targets
from exprflow.training.basenji2_metrics import TrackPearson, masked_poisson

CONTIG = 6144
LENGTH, STEP = 256, 128
TOY = Basenji2Config.from_params(toy_params())
GAP = (1000, 1600)  # chr1 bases without data in track "gappy"


def _sequence(rng: np.random.Generator) -> str:
    """Stretches of 192 bp, each with its own GC probability."""
    pieces = []
    for _ in range(CONTIG // 192):
        gc = rng.uniform(0.1, 0.9)
        probs = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        pieces.append("".join(rng.choice(list("ACGT"), 192, p=probs)))
    return "".join(pieces)


def _tracks(sequence: str) -> dict[str, np.ndarray]:
    codes = np.frombuffer(sequence.encode(), np.uint8)
    gc = np.isin(codes, [ord("C"), ord("G")]).astype(float)
    smooth = np.convolve(gc, np.ones(17) / 17, mode="same")
    cpg = np.zeros(len(codes))
    cpg[:-1] = (codes[:-1] == ord("C")) & (codes[1:] == ord("G"))
    return {"gc": 1 + 4 * smooth, "cpg": 1 + 5 * cpg}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """FASTA, three bigWigs, a silent bigWig and a sequences.bed of 94 toy regions."""
    root = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(7)
    sequences = {c: _sequence(rng) for c in ("chr1", "chr2")}
    (root / "genome.fa").write_text("".join(f">{c}\n{s}\n" for c, s in sequences.items()))
    contigs = dict.fromkeys(sequences, CONTIG)
    positions = np.arange(CONTIG)
    per_track: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for chrom, sequence in sequences.items():
        values = _tracks(sequence)
        gappy = values["gc"].copy()
        if chrom == "chr1":
            gappy[GAP[0] : GAP[1]] = np.nan
        for name, v in (*values.items(), ("gappy", gappy), ("silent", np.zeros(CONTIG))):
            per_track.setdefault(name, {})[chrom] = (positions, positions + 1, v)
    for name, intervals in per_track.items():
        write_bigwig(root / f"{name}.bw", contigs, intervals)
    folds = ("train", "train", "train", "valid", "test")
    rows = [
        f"{chrom}\t{start}\t{start + LENGTH}\t{folds[i % 5]}\n"
        for i, (chrom, start) in enumerate(
            (c, s) for c in sequences for s in range(0, CONTIG - LENGTH + 1, STEP)
        )
    ]
    (root / "sequences.bed").write_text("".join(rows))
    return {"root": root, "fasta": root / "genome.fa", "regions": root / "sequences.bed"}


def _targets(
    toy: dict[str, Path], names: tuple[str, ...] = ("gc", "cpg", "gappy")
) -> list[LabelTarget]:
    return [
        LabelTarget(i, 0, name, toy["root"] / f"{name}.bw", math.inf, 1.0, "mean")
        for i, name in enumerate(names)
    ]


def _regions(toy: dict[str, Path]) -> pd.DataFrame:
    from exprflow.data.regions import read_regions

    return read_regions(toy["regions"])


def _labels(toy: dict[str, Path], regions: pd.DataFrame, targets: list[LabelTarget]) -> Path:
    bin_size, crop = label_geometry(TOY)
    root = toy["root"] / "labels"
    return prepare_labels(regions, targets, root, bin_size=bin_size, crop_bp=crop,
                          progress=False).path  # fmt: skip


@pytest.fixture(scope="module")
def fitted(
    toy: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Basenji2Fit, SavedBasenji2]:
    regions = _regions(toy)
    labels = _labels(toy, regions, _targets(toy))
    fit = train_basenji2(TOY, toy["fasta"], regions, labels, epochs=4, batch_size=8, lr=1e-2,
                         patience=4, seed=0)  # fmt: skip
    saved = save_basenji2(fit, tmp_path_factory.mktemp("saved"), _targets(toy), {"seed": 0})
    return fit, saved


# --- geometry and targets ---------------------------------------------------------------


def test_label_geometry_matches_the_output_bins() -> None:
    assert label_geometry(TOY) == (8, 16)
    assert label_geometry(Basenji2Config.from_params(TINY_PARAMS)) == (128, 8192)
    assert label_geometry(Basenji2Config()) == (128, 8192)
    odd = replace(TOY, seq_length=252)
    with pytest.raises(InputError, match="seq_length 252 is not 32 whole bins"):
        label_geometry(odd)


def test_world_mark_targets(tiny_world: Path) -> None:
    targets = world_mark_targets(tiny_world)
    assert len(targets) == 3 * 8
    assert [t.identifier for t in targets[:8]] == [
        f"E116_{m}"
        for m in (
            "DNase",
            "H3K27ac",
            "H3K27me3",
            "H3K36me3",
            "H3K4me1",
            "H3K4me3",
            "H3K9ac",
            "H3K9me3",
        )
    ]
    assert {t.sum_stat for t in targets} == {"mean"} and all(t.file.is_file() for t in targets)
    assert not [t for t in targets if "lamina" in t.identifier or "methylation" in t.identifier]
    assert [t.index for t in targets] == list(range(24))


# --- loss, metric and batches -----------------------------------------------------------


def test_masked_poisson_skips_missing_labels() -> None:
    y = np.array([[[1.0, np.nan], [2.0, 0.0]], [[np.nan, np.nan], [np.nan, np.nan]]], "f4")
    p = np.array([[[0.5, 9.0], [1.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]]], "f4")
    terms = [0.5 - math.log(0.5 + 1e-7), 1.0 - 2 * math.log(1.0 + 1e-7), 3.0]
    got = np.asarray(masked_poisson(y, p))
    np.testing.assert_allclose(got, [sum(terms) / 3, 0.0], rtol=1e-6)


def test_track_pearson_is_the_mean_per_track_r() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(6, 10, 3)).astype("f4")
    p = (y + rng.normal(size=y.shape)).astype("f4")
    y[0, :4, 1] = np.nan
    p[..., 2] = 1.0  # no variance: left out of the mean
    metric = TrackPearson(3)
    metric.update_state(y[:2], p[:2])
    metric.update_state(y[2:], p[2:])
    expected = []
    for k in range(2):
        ok = np.isfinite(y[..., k])
        expected.append(np.corrcoef(y[..., k][ok], p[..., k][ok])[0, 1])
    assert float(metric.result()) == pytest.approx(np.mean(expected), rel=1e-5)
    metric.reset_state()
    assert math.isnan(float(metric.result()))


def test_region_batches_read_sequence_and_scaled_labels(toy: dict[str, Path]) -> None:
    regions = _regions(toy)
    labels = _labels(toy, regions, _targets(toy))
    rows = np.flatnonzero(regions["fold"] == "train")
    means = np.array([2.0, 4.0, 8.0])
    with read_labels(labels) as opened, Genome(toy["fasta"]) as genome:
        batches = RegionBatches(genome, regions, rows, opened.bins, means, 8, seed=3)
        assert len(batches) == math.ceil(len(rows) / 8)
        first = batches.order.copy()
        assert sorted(first) == list(rows)
        x, y = batches[1]
        row = int(first[8])
        region = regions.iloc[row]
        np.testing.assert_array_equal(
            x[0], one_hot(genome.fetch(region.chrom, region.start, region.end), ACGT)
        )
        np.testing.assert_array_equal(y[0], opened.bins[row] / means.astype("f4"))
        assert x.shape == (8, LENGTH, 4) and y.shape == (8, 28, 3)
        batches.on_epoch_end()
        assert sorted(batches.order) == list(rows) and list(batches.order) != list(first)
        fixed = RegionBatches(genome, regions, rows, opened.bins, means, 8)
        assert (
            list(fixed.order) == list(rows) and fixed[len(fixed) - 1][0].shape[0] == len(rows) % 8
        )


# --- training and saving ----------------------------------------------------------------


def test_training_lowers_the_loss(fitted: tuple[Basenji2Fit, SavedBasenji2]) -> None:
    fit, _ = fitted
    assert [s.epoch for s in fit.history] == [1, 2, 3, 4]
    losses = [s.valid_loss for s in fit.history]
    assert losses[-1] < losses[0] and all(math.isfinite(v) for v in losses)
    assert fit.history[-1].train_loss < fit.history[0].train_loss
    assert fit.best_epoch == int(np.argmin(losses)) + 1
    assert fit.track_names == ["gc", "cpg", "gappy"]
    assert fit.model.config.head.units == 3 and fit.model.model.output.shape[1:] == (28, 3)


def test_means_are_the_training_fold_means(
    toy: dict[str, Path], fitted: tuple[Basenji2Fit, SavedBasenji2]
) -> None:
    fit, _ = fitted
    regions = _regions(toy)
    with read_labels(_labels(toy, regions, _targets(toy))) as opened:
        train = opened.bins[()][regions["fold"].to_numpy() == "train"]
    np.testing.assert_allclose(fit.means, np.nanmean(train.astype("f8"), axis=(0, 1)), rtol=1e-9)
    assert np.isnan(train[..., 2]).any()  # the gap reached the training labels


def test_the_best_weights_are_kept(
    toy: dict[str, Path], fitted: tuple[Basenji2Fit, SavedBasenji2]
) -> None:
    fit, _ = fitted
    regions = _regions(toy)
    rows = np.flatnonzero(regions["fold"] == "valid")
    with (
        read_labels(_labels(toy, regions, _targets(toy))) as opened,
        Genome(toy["fasta"]) as genome,
    ):
        valid = RegionBatches(genome, regions, rows, opened.bins, fit.means, 8)
        loss = fit.model.model.evaluate(valid, verbose=0, return_dict=True)["loss"]
    best = fit.history[fit.best_epoch - 1].valid_loss
    assert loss == pytest.approx(best, rel=1e-4)


def test_saved_model_round_trips_exactly(fitted: tuple[Basenji2Fit, SavedBasenji2]) -> None:
    fit, saved = fitted
    config = Basenji2Config.from_params(saved.params)
    assert config == fit.model.config
    document = json.loads(saved.params.read_text())
    assert document["train"]["optimizer"] == "adam" and document["train"]["batch_size"] == 8
    assert document["exprflow"]["targets"] == ["gc", "cpg", "gappy"]
    assert document["exprflow"]["target_means"] == pytest.approx(list(fit.means))
    assert document["exprflow"]["seed"] == 0
    assert len(read_legacy_weights(saved.weights)) == len(
        [x for x in fit.model.model.layers if x.weights]
    )
    x = np.eye(4, dtype="f4")[np.random.default_rng(1).integers(0, 4, (3, LENGTH))]
    trunk = load_trunk(config, saved.weights, seed=123, precision="float32")
    np.testing.assert_array_equal(trunk(x, training=False), fit.model.trunk(x, training=False))
    model = load_legacy_weights(build_basenji2(config).model, saved.weights)
    np.testing.assert_array_equal(model(x, training=False), fit.model.model(x, training=False))
    assert [t.identifier for t in read_label_targets(saved.targets)] == ["gc", "cpg", "gappy"]


@pytest.mark.slow
def test_sgd_and_mixed_precision(toy: dict[str, Path], tmp_path: Path) -> None:
    regions = _regions(toy)
    labels = _labels(toy, regions, _targets(toy, ("gc",)))
    fit = train_basenji2(TOY, toy["fasta"], regions, labels, epochs=1, batch_size=16,
                         optimizer="sgd", lr=0.01, precision="mixed_bfloat16")  # fmt: skip
    assert fit.settings["momentum"] == 0.99 and fit.settings["clip_norm"] == 2.0
    assert math.isfinite(fit.history[0].valid_loss)
    saved = save_basenji2(fit, tmp_path, _targets(toy, ("gc",)))
    assert {a.dtype for layer in read_legacy_weights(saved.weights) for a in layer.arrays} == {
        np.dtype("float32")
    }
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_min_updates_raises_the_epochs(toy: dict[str, Path]) -> None:
    regions = _regions(toy)
    labels = _labels(toy, regions, _targets(toy, ("gc",)))
    batches = math.ceil(int((regions["fold"] == "train").sum()) / 16)
    fit = train_basenji2(TOY, toy["fasta"], regions, labels, epochs=1, batch_size=16,
                         min_updates=2 * batches + 1, patience=5)  # fmt: skip
    assert len(fit.history) == 3 and fit.settings["train_epochs_max"] == 3


# --- bad inputs -------------------------------------------------------------------------


def _train(
    toy: dict[str, Path], regions: pd.DataFrame | None = None, **changes: object
) -> Basenji2Fit:
    regions = _regions(toy) if regions is None else regions
    labels = _labels(toy, regions, _targets(toy, ("gc",)))
    settings: dict[str, object] = {"epochs": 1, "batch_size": 16} | changes
    return train_basenji2(TOY, toy["fasta"], regions, labels, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("fold", ["train", "valid"])
def test_a_missing_fold_is_refused(toy: dict[str, Path], fold: str) -> None:
    regions = _regions(toy)
    regions = regions.assign(fold=regions["fold"].replace(fold, "test"))
    with pytest.raises(InputError, match=f"has no region in fold '{fold}'"):
        _train(toy, regions)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs=0; need >= 1"),
        ({"batch_size": 0}, "batch_size=0; need >= 1"),
        ({"patience": -1}, "patience=-1; need >= 0"),
        ({"optimizer": "rmsprop"}, r"optimizer='rmsprop'; expected one of \['adam', 'sgd'\]"),
        ({"lr": 0.0}, "lr=0.0; need a positive learning rate"),
    ],
)
def test_bad_settings(toy: dict[str, Path], changes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        _train(toy, **changes)


def test_a_track_without_signal_is_named(toy: dict[str, Path]) -> None:
    regions = _regions(toy)
    labels = _labels(toy, regions, _targets(toy, ("gc", "silent")))
    with pytest.raises(InputError, match=r"track 'silent' has mean 0\.0 over the training regions"):
        train_basenji2(TOY, toy["fasta"], regions, labels, epochs=1)


def test_labels_of_other_bins_are_refused(toy: dict[str, Path], tmp_path: Path) -> None:
    regions = _regions(toy)
    labels = build_labels(regions, _targets(toy, ("gc",)), tmp_path / "l.h5", bin_size=16,
                          crop_bp=16, progress=False)  # fmt: skip
    with pytest.raises(InputError, match="labels have 14 bins per region; the model outputs 28"):
        train_basenji2(TOY, toy["fasta"], regions, labels, epochs=1)


def test_a_linear_head_is_refused(toy: dict[str, Path]) -> None:
    params = toy_params()
    params["model"]["head_human"]["activation"] = "linear"
    regions = _regions(toy)
    labels = _labels(toy, regions, _targets(toy, ("gc",)))
    with pytest.raises(InputError, match="activation is 'linear'; the Poisson loss needs"):
        train_basenji2(Basenji2Config.from_params(params), toy["fasta"], regions, labels)


def test_labels_of_other_regions_are_refused(toy: dict[str, Path]) -> None:
    regions = _regions(toy)
    labels = _labels(toy, regions, _targets(toy, ("gc",)))
    shuffled = regions.iloc[::-1].reset_index(drop=True)
    with pytest.raises(InputError, match=r"region 0 is chr1 0 256 train here but chr2 5888 6144"):
        train_basenji2(TOY, toy["fasta"], shuffled, labels, epochs=1)
