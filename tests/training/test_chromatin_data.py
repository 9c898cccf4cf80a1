from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.genome.bigwig import write_bigwig
from exprflow.genome.fasta import Genome
from exprflow.genome.intervals import Interval
from exprflow.training.chromatin_data import (
    chromatin_labels,
    encode_regions,
    sample_windows,
    track_files,
)

CONTIGS = {"chr1": 10_000, "chr2": 6_100}


@pytest.fixture
def genome(tmp_path: Path) -> Genome:
    rng = np.random.default_rng(0)
    lines = []
    for chrom, length in CONTIGS.items():
        seq = "".join(rng.choice(list("ACGT"), length))
        lines += [f">{chrom}", *(seq[i : i + 60] for i in range(0, length, 60))]
    path = tmp_path / "genome.fa"
    path.write_text("\n".join(lines) + "\n")
    return Genome(path)


def _random_track(rng: np.random.Generator, length: int) -> tuple[np.ndarray, ...]:
    """Sorted, disjoint intervals with values, and the per-base signal they make."""
    edges = np.sort(rng.choice(np.arange(1, length), 120, replace=False))
    starts, ends = edges[0::2], edges[1::2]
    values = rng.exponential(2.0, len(starts)).round(2)
    per_base = np.zeros(length)
    for start, end, value in zip(starts, ends, values, strict=True):
        per_base[start:end] = value
    return starts, ends, values, per_base


@pytest.fixture
def tracks(tmp_path: Path) -> tuple[dict[str, Path], dict[str, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(42)
    paths, signal = {}, {}
    for eid, contigs in (("E1", ["chr1", "chr2"]), ("E2", ["chr1"])):
        data = {c: _random_track(rng, CONTIGS[c]) for c in contigs}
        path = tmp_path / "tracks" / eid / "DNase.bigWig"
        path.parent.mkdir(parents=True)
        write_bigwig(path, {c: CONTIGS[c] for c in contigs}, {c: d[:3] for c, d in data.items()})
        paths[f"{eid}|DNase"] = path
        signal[f"{eid}|DNase"] = {
            c: data[c][3] if c in data else np.zeros(CONTIGS[c]) for c in CONTIGS
        }
    return paths, signal


def _all_windows() -> list[Interval]:
    return [
        Interval(chrom, k * 200 - 900, k * 200 + 1100)
        for chrom, length in CONTIGS.items()
        for k in range(5, (length - 1100) // 200 + 1)
    ]


def test_labels_equal_a_direct_computation(
    genome: Genome, tracks: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    paths, signal = tracks
    regions = _all_windows()
    with caplog.at_level(logging.WARNING):
        result = chromatin_labels(genome, paths, regions, quantile=0.9)
    assert "has no contig chr2; counting it as zero signal" in caplog.text
    assert result.feature_names == ["E1|DNase", "E2|DNase"]
    assert result.labels.shape == (len(regions), 2)
    assert result.labels.dtype == np.uint8
    for j, name in enumerate(result.feature_names):
        full_bins = np.concatenate(
            [s[: len(s) // 200 * 200].reshape(-1, 200).mean(axis=1) for s in signal[name].values()]
        )
        assert full_bins.size == 50 + 30
        threshold = np.quantile(full_bins, 0.9)
        assert result.thresholds[j] == pytest.approx(threshold, rel=1e-6)
        centre = [signal[name][r.chrom][r.start + 900 : r.start + 1100].mean() for r in regions]
        expected = (np.array(centre) > threshold).astype(np.uint8)
        assert result.labels[:, j].tolist() == expected.tolist()
        assert 0 < expected.sum() < len(regions)


def test_fixed_thresholds_and_data_params(genome: Genome, tracks: tuple) -> None:
    paths, signal = tracks
    regions = _all_windows()[:10]
    result = chromatin_labels(genome, paths, regions, thresholds={"E2|DNase": 0.0})
    assert result.thresholds[1] == 0.0
    centre = np.array([signal["E2|DNase"]["chr1"][r.start + 900 : r.start + 1100].mean()
                       for r in regions])  # fmt: skip
    assert result.labels[:, 1].tolist() == (centre > 0).astype(int).tolist()
    params = result.data_params("tiny", ["chr2"], 2000)
    assert params["feature_names"] == ["E1|DNase", "E2|DNase"]
    assert (params["seq_len"], params["genome"], params["held_out_chroms"]) == (
        2000,
        "tiny",
        ["chr2"],
    )
    assert (params["bin_size"], params["quantile"], params["n_windows"]) == (200, 0.98, 10)
    assert result.chroms.tolist() == ["chr1"] * 10


def test_bad_regions_and_arguments(genome: Genome, tracks: tuple) -> None:
    paths, _ = tracks
    with pytest.raises(
        InputError, match=r"regions: chr1:50-2050: the central 200 bp bin starts at 950"
    ):
        chromatin_labels(genome, paths, [Interval("chr1", 50, 2050)])
    with pytest.raises(
        InputError, match=r"regions: chr2:4300-6300: window ends past the contig end"
    ):
        chromatin_labels(genome, paths, [Interval("chr2", 4300, 6300)])
    with pytest.raises(InputError, match=r"contig 'chr9'"):
        chromatin_labels(genome, paths, [Interval("chr9", 100, 2100)])
    with pytest.raises(ValueError, match="need 0 < quantile < 1"):
        chromatin_labels(genome, paths, [], quantile=1.0)
    with pytest.raises(ValueError, match=r"thresholds given for unknown features \['E3\|DNase'\]"):
        chromatin_labels(genome, paths, [], thresholds={"E3|DNase": 1.0})
    with pytest.raises(InputError, match=r"missing\.bigWig: bigWig file not found"):
        chromatin_labels(genome, {"x|y": paths["E1|DNase"].parent / "missing.bigWig"}, [])


def test_track_files(tracks: tuple, tmp_path: Path) -> None:
    paths, _ = tracks
    assert track_files(tmp_path / "tracks") == paths
    with pytest.raises(InputError, match=r"empty: holds no <eid>/<track>\.bigWig files"):
        track_files(tmp_path / "empty")
    names = {key.split("|")[1] for key in paths}
    kept = sorted(names)[:1]
    assert track_files(tmp_path / "tracks", kept) == {
        key: path for key, path in paths.items() if key.split("|")[1] in kept
    }
    with pytest.raises(InputError, match=r"no bigWig for track\(s\) \['H3K4me2'\]"):
        track_files(tmp_path / "tracks", [*kept, "H3K4me2"])


def test_sample_windows(genome: Genome) -> None:
    tss = [("1", 5_000), ("chr2", 100)]
    windows = sample_windows(genome, tss, n_background=12, tss_flank=1_000, seed=3)
    assert windows == sample_windows(genome, tss, n_background=12, tss_flank=1_000, seed=3)
    assert windows != sample_windows(genome, tss, n_background=12, tss_flank=1_000, seed=4)
    assert len(set(windows)) == len(windows)
    assert windows == sorted(windows, key=lambda w: (w.chrom, w.start))
    for w in windows:
        assert len(w) == 2000
        assert w.start >= 0 and w.end <= CONTIGS[w.chrom]
        assert (w.start + 900) % 200 == 0
    centres = {(w.chrom, w.start + 1000) for w in windows}
    near = {("chr1", c) for c in range(4_100, 6_000, 200)}  # bin centres within 1 kb of 5000
    assert near <= centres
    assert ("chr2", 1_100) in centres  # chr2:100's only usable bin (bins start at 1000)
    # background: 12 windows split over 40 (chr1) and 21 (chr2) usable bins → 8 and 4
    by_chrom = {c: sum(w.chrom == c for w in windows) for c in CONTIGS}
    assert 10 <= by_chrom["chr1"] <= 18
    assert 4 <= by_chrom["chr2"] <= 5
    assert len(sample_windows(genome, [], n_background=61, seed=0)) == 61  # every usable bin
    with pytest.raises(ValueError, match="need 0 < bin_size <= seq_len"):
        sample_windows(genome, tss, n_background=-1)


def test_encode_regions(genome: Genome) -> None:
    regions = [Interval("chr1", 0, 2000), Interval("chr2", 100, 2100)]
    x = encode_regions(genome, regions)
    assert x.shape == (2, 4, 2000)
    assert x.dtype == np.float32
    sequence = genome.fetch("chr2", 100, 2100)
    assert "".join("AGCT"[i] for i in x[1].argmax(axis=0)) == sequence
    assert np.all(x.sum(axis=1) == 1)
