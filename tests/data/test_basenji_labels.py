from __future__ import annotations

import gzip
import logging
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyBigWig
import pysam
import pytest

from exprflow.data.basenji_labels import (
    LABELS_FILE,
    bins_dataset,
    build_labels,
    check_same_regions,
    labels_key,
    prepare_labels,
    read_labels,
)
from exprflow.data.label_targets import (
    LabelTarget,
    read_label_targets,
    world_label_targets,
    write_label_targets,
)
from exprflow.data.regions import read_regions
from exprflow.errors import InputError
from exprflow.genome.bigwig import write_bigwig
from exprflow.genome.fasta import Genome
from exprflow.simulate.world import load_manifest

# Geometry of the hand-made tests: a 32 bp region, 8 bp cropped each end, 4 bins of 4 bp;
# the window of chr1:0-32 is [8, 24), bins [8,12) [12,16) [16,20) [20,24).
BIN, CROP = 4, 8
CONTIGS = {"chr1": 4096, "chr2": 4096}
# bigWig on chr1: 100 outside the window (cropped away), 1 and 3 in bin 0, no data in
# bin 1, 2 over bin 2, -1 then no data in bin 3.
SIGNAL = ([0, 8, 10, 16, 20], [8, 10, 12, 20, 22], [100.0, 1.0, 3.0, 2.0, -1.0])
# BED on chr1, unsorted and overlapping: covered bases 9-13 and 19-23 of the window.
BED_LINES = ["chr1\t19\t30\n", "chr1\t0\t2\n", "chr1\t10\t14\n", "chr1\t9\t11\n", "chr3\t0\t9\n"]


def _region(chrom: str = "chr1", start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"chrom": [chrom], "start": [start], "end": [start + 32], "fold": ["test"]})


def _target(
    file: Path,
    stat: str,
    *,
    clip: float = math.inf,
    scale: float = 1.0,
    soft: float | None = None,
    name: str = "t",
) -> LabelTarget:
    return LabelTarget(0, 0, name, file, clip, scale, stat, "", soft)


def _label(
    tmp_path: Path, targets: Sequence[LabelTarget], regions: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    dest = tmp_path / "labels.h5"
    regions = _region() if regions is None else regions
    build_labels(regions, targets, dest, bin_size=BIN, crop_bp=CROP, progress=False)
    with read_labels(dest) as labels:
        return labels.bins[()], labels.single_bin[()]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A bigWig (and one naming chr1 ``1``), a plain and an indexed BED, and a FASTA."""
    signal = tmp_path / "signal.bw"
    write_bigwig(signal, CONTIGS, {"chr1": SIGNAL})
    alias = tmp_path / "alias.bw"
    write_bigwig(alias, {"1": 4096}, {"1": SIGNAL})
    bed = tmp_path / "lads.bed"
    bed.write_text("track name=lads\n" + "".join(BED_LINES))
    indexed = tmp_path / "lads_sorted.bed.gz"
    with pysam.BGZFile(str(indexed), "wb", None) as out:
        ordered = sorted(BED_LINES, key=lambda line: (line.split()[0], int(line.split()[1])))
        out.write("".join(ordered).encode())
    pysam.tabix_index(str(indexed), preset="bed", force=True)
    # CpGs start at 6 (before the window), 8 and 11 (bin 0), 14 (bin 1), 18 (bin 2,
    # lower case) and 23 (bin 3, its G outside the window).
    sequence = bytearray(b"A" * 4096)
    for i in (6, 8, 11, 14, 23):
        sequence[i : i + 2] = b"CG"
    sequence[18:20] = b"cg"
    fasta = tmp_path / "genome.fa"
    fasta.write_text(f">chr1\n{sequence.decode()}\n>chr2\n{'A' * 4096}\n")
    return {"bw": signal, "alias": alias, "bed": bed, "bed_gz": indexed, "fa": fasta}


# --- each statistic, exactly -------------------------------------------------------------


@pytest.mark.parametrize(
    ("stat", "scale", "bins", "single"),
    [
        ("sum", 1.0, [8, 0, 8, -2], 3.5),
        ("sum", 2.0, [16, 0, 16, -4], 7.0),
        ("mean", 1.0, [2, np.nan, 2, -1], 14 / 10),  # window mean over the 10 bases with data
        ("max", 1.0, [3, np.nan, 2, -1], 3.0),
        ("sum_sqrt", 1.0, [2, 0, 2, np.nan], np.nan),  # -1 + sqrt(1 + sum); sum -2 < -1
        ("sum_exp2", 1.0, [2 * 2 + 2 * 8, 0, 4 * 4, 2 * 0.5], 37 / 4),
    ],
)
def test_bigwig_statistics(
    tmp_path: Path,
    files: dict[str, Path],
    stat: str,
    scale: float,
    bins: list[float],
    single: float,
) -> None:
    values, whole = _label(tmp_path, [_target(files["bw"], stat, scale=scale)])
    assert values.shape == (1, 4, 1) and values.dtype == np.float32
    np.testing.assert_allclose(values[0, :, 0], bins, rtol=1e-6)
    np.testing.assert_allclose(whole[0, 0, 0], single, rtol=1e-6)


def test_hard_and_soft_clip(tmp_path: Path, files: dict[str, Path]) -> None:
    hard = _target(files["bw"], "sum", clip=5, name="hard")
    soft = _target(files["bw"], "sum", clip=100, soft=4, name="soft")
    both = _target(files["bw"], "sum", scale=4, clip=9, soft=4, name="both")
    values, whole = _label(tmp_path, [hard, soft, both])
    np.testing.assert_allclose(values[0, :, 0], [5, 0, 5, -2])
    np.testing.assert_allclose(values[0, :, 1], [6, 0, 6, -2])  # 4 + sqrt(8 - 4)
    # scale 4: sums 32, 0, 32, -8 → 4 + sqrt(28) = 9.29 → hard clip 9; single 14 → 4 + sqrt(10)
    np.testing.assert_allclose(values[0, :, 2], [9, 0, 9, -8])
    np.testing.assert_allclose(whole[0, 0], [3.5, 3.5, 4 + math.sqrt(10)], rtol=1e-6)


@pytest.mark.parametrize("bed", ["bed", "bed_gz"])
@pytest.mark.parametrize(
    ("stat", "bins", "single"),
    [
        ("sum", [3, 2, 1, 4], 2.5),
        ("mean", [0.75, 0.5, 0.25, 1.0], 10 / 16),
        ("max", [1, 1, 1, 1], 1.0),
        ("sum_sqrt", [1, math.sqrt(3) - 1, math.sqrt(2) - 1, math.sqrt(5) - 1], None),
    ],
)
def test_bed_coverage_counts_overlaps_once(
    tmp_path: Path,
    files: dict[str, Path],
    bed: str,
    stat: str,
    bins: list[float],
    single: float | None,
) -> None:
    values, whole = _label(tmp_path, [_target(files[bed], stat)])
    np.testing.assert_allclose(values[0, :, 0], bins, rtol=1e-6)
    np.testing.assert_allclose(whole[0, 0, 0], np.mean(bins) if single is None else single)


def test_cpg_counts_from_the_fasta(tmp_path: Path, files: dict[str, Path]) -> None:
    counts = _target(files["fa"], "count_CG", scale=10, name="CpG")
    kmer = _target(files["fa"], "count_ACG", name="ACG")  # not at 8: the G of 6 precedes it
    values, whole = _label(tmp_path, [counts, kmer])
    np.testing.assert_allclose(values[0, :, 0], [20, 10, 10, 10])
    np.testing.assert_allclose(whole[0, 0], [12.5, 1.0])
    np.testing.assert_allclose(values[0, :, 1], [1, 1, 1, 1])  # ACG at 10, 13, 17, 22


def test_contig_aliases_read_the_same(tmp_path: Path, files: dict[str, Path]) -> None:
    plain, _ = _label(tmp_path, [_target(files["bw"], "sum")])
    aliased, _ = _label(tmp_path, [_target(files["alias"], "sum")])
    np.testing.assert_array_equal(plain, aliased)


def test_missing_contig_has_no_data_with_a_warning(
    tmp_path: Path, files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    only_chr1 = tmp_path / "chr1.bw"
    write_bigwig(only_chr1, {"chr1": 4096}, {"chr1": SIGNAL})
    targets = [
        _target(only_chr1, "sum", name="sum"),
        _target(only_chr1, "mean", name="mean"),
        _target(files["bed"], "mean", name="bed"),
    ]
    with caplog.at_level(logging.INFO):
        values, whole = _label(tmp_path, targets, _region("chr2"))
    np.testing.assert_array_equal(values[0, :, 0], 0)
    assert np.isnan(values[0, :, 1]).all() and np.isnan(whole[0, 0, 1])
    np.testing.assert_array_equal(values[0, :, 2], 0)
    warned = [r for r in caplog.records if "has no contig 'chr2'" in r.getMessage()]
    assert [r.levelno for r in warned] == [logging.WARNING, logging.INFO]  # bigWig once, BED


def test_bases_past_a_track_contig_end_have_no_data(tmp_path: Path) -> None:
    short = tmp_path / "short.bw"
    write_bigwig(short, {"chr1": 22}, {"chr1": ([16], [22], [1.0])})
    values, _ = _label(tmp_path, [_target(short, "mean")])
    np.testing.assert_array_equal(values[0, :, 0], [np.nan, np.nan, 1, 1])


def test_fasta_without_the_contig_is_an_error(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"genome\.fa: chr9: contig 'chr9' is not in the file"):
        _label(tmp_path, [_target(files["fa"], "count_CG")], _region("chr9"))
    assert not (tmp_path / "labels.h5").exists()


@pytest.mark.parametrize(
    ("name", "content", "stat", "message"),
    [
        ("bad.bed", "chr1\t1\t5\nchr1\tabc\t10\n", "mean", r"line 2: is not a BED interval"),
        ("rev.bed", "chr1\t9\t5\n", "sum", r"line 1: is not a BED interval: 'chr1\\t9\\t5'"),
        ("text.bw", "not a bigwig\n", "sum", "cannot be opened as bigWig"),
        ("gone.bw", None, "sum", r"t: label track file not found"),
    ],
)
def test_bad_track_files_are_named(
    tmp_path: Path, name: str, content: str | None, stat: str, message: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=message):
        _label(tmp_path, [_target(tmp_path / name, stat)])


def test_window_must_hold_whole_bins(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"is not a positive multiple of bin_size \(5\)"):
        build_labels(
            _region(), [_target(files["bw"], "sum")], tmp_path / "x.h5", bin_size=5, crop_bp=CROP
        )


# --- the file and its reader -------------------------------------------------------------


def test_labels_file_layout_and_region_check(tmp_path: Path, files: dict[str, Path]) -> None:
    regions = pd.concat([_region(), _region("chr2", 100)], ignore_index=True)
    targets = [_target(files["bw"], "sum", name="a"), _target(files["bed"], "mean", name="b")]
    build_labels(regions, targets, tmp_path / "l.h5", bin_size=BIN, crop_bp=CROP, progress=False)
    with h5py.File(tmp_path / "l.h5") as h5:
        assert h5["4bp_bins"].chunks == (1, 4, 2) and h5["single_bin"].shape == (2, 1, 2)
        assert (h5.attrs["bin_size"], h5.attrs["crop_bp"], h5.attrs["n_bins"]) == (4, 8, 4)
    with read_labels(tmp_path / "l.h5") as labels:
        assert labels.track_names == ["a", "b"] and len(labels) == 2
        assert labels.targets["sum_stat"].tolist() == ["sum", "mean"]
        assert np.isnan(labels.targets["clip_soft"]).all()
        pd.testing.assert_frame_equal(labels.regions, regions)
        check_same_regions(labels, regions, "emb.h5")
        moved = regions.assign(start=[0, 101], end=[32, 133])
        with pytest.raises(
            InputError,
            match=r"l\.h5: region 1: region 1 is chr2 100 132 test "
            r"here but chr2 101 133 test in emb\.h5",
        ):
            check_same_regions(labels, moved, "emb.h5")
        with pytest.raises(InputError, match=r"holds 2 regions, emb\.h5 holds 1"):
            check_same_regions(labels, regions.iloc[:1], "emb.h5")
    assert bins_dataset(128) == "128bp_bins"


def test_reading_a_file_that_is_not_labels(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["embeddings"] = np.zeros(3)
    with pytest.raises(InputError, match="is not a labels file"):
        read_labels(tmp_path / "other.h5")


def test_prepare_reuses_a_complete_file_with_the_same_key(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    targets = [_target(files["bw"], "sum")]
    first = prepare_labels(_region(), targets, tmp_path, bin_size=BIN, crop_bp=CROP)
    again = prepare_labels(_region(), targets, tmp_path, bin_size=BIN, crop_bp=CROP)
    assert (first.reused, again.reused) == (False, True) and first.path == again.path
    assert first.path.name == LABELS_FILE and read_label_targets(first.table) == targets
    other = labels_key(_region(), [_target(files["bw"], "mean")], BIN, CROP)
    assert other != first.path.parent.name


# --- the targets table -------------------------------------------------------------------

HEADER = "index\tgenome\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n"


def test_table_round_trip_and_relative_paths(tmp_path: Path, files: dict[str, Path]) -> None:
    table = tmp_path / "targets.txt"
    table.write_text(
        HEADER.replace("\n", "\tclip_soft\n")
        + "0\t0\tlamina\tsignal.bw\t384\t1\tsum_exp2\tLMNB1:x\t320\n"
        + "3\t0\tCpG\tgenome.fa\t640\t10\tcount_CG\tCpG\t\n"
    )
    targets = read_label_targets(table)
    assert targets == [
        LabelTarget(0, 0, "lamina", files["bw"].resolve(), 384, 1, "sum_exp2", "LMNB1:x", 320),
        LabelTarget(3, 0, "CpG", files["fa"].resolve(), 640, 10, "count_CG", "CpG", None),
    ]
    assert targets[1].kmer == "CG" and targets[0].kind == "bigwig"
    assert read_label_targets(write_label_targets(tmp_path / "copy.txt", targets)) == targets


def test_the_published_targets_table_parses(real_dir: Path) -> None:
    targets = read_label_targets(real_dir / "basenji2/targets_human.txt", check_files=False)
    assert len(targets) == 5313 and [t.index for t in targets] == list(range(5313))
    by_assay = pd.DataFrame(
        [(t.description.split(":")[0], t.clip, t.scale, t.sum_stat) for t in targets],
        columns=["assay", "clip", "scale", "sum_stat"],
    )
    cage = by_assay[by_assay["assay"] == "CAGE"]
    dnase = by_assay[by_assay["assay"] == "DNASE"]
    assert len(cage) == 638 and set(cage["clip"]) == {384} and set(cage["sum_stat"]) == {"sum"}
    assert len(dnase) == 674 and set(zip(dnase["clip"], dnase["scale"], strict=True)) == {(32, 2)}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0\t0\tx\tsignal.bw\t32\t1\tmedian\td\n", "unknown sum_stat 'median'"),
        ("0\t0\t \tsignal.bw\t32\t1\tsum\td\n", "line 2 \\( \\): has an empty identifier"),
        ("x\t0\tx\tsignal.bw\t32\t1\tsum\td\n", "column 'index' is 'x', not a number"),
        ("0\t0\tx\tnothere.bw\t32\t1\tsum\td\n", r"track file .*nothere\.bw not found"),
        ("0\t0\tx\tsignal.bw\tabc\t1\tsum\td\n", "column 'clip' is 'abc', not a number"),
        ("0\t0\tx\tsignal.bw\t-1\t1\tsum\td\n", "clip -1 must be > 0"),
        ("0\t0\tx\tsignal.bw\t32\t1\tcount_CG\td\n", "'count_CG' does not apply to a bigwig"),
        ("0\t0\tx\tgenome.fa\t32\t1\tmean\td\n", "'mean' does not apply to a fasta"),
        ("0\t0\tx\tlads.bed\t32\t1\tsum_exp2\td\n", "'sum_exp2' does not apply to a bed"),
        ("0\t0\tx\tsignal.wig\t32\t1\tsum\td\n", "'signal.wig' is not a known track type"),
        (
            "0\t0\tx\tsignal.bw\t32\t1\tsum\td\n1\t0\tx\tlads.bed\t1\t1\tmean\td\n",
            r"line 3: identifier 'x' is also on line 2",
        ),
    ],
)
def test_bad_tables_are_refused(
    tmp_path: Path, files: dict[str, Path], row: str, message: str
) -> None:
    table = tmp_path / "targets.txt"
    table.write_text(HEADER + row)
    with pytest.raises(InputError, match=message):
        read_label_targets(table)


def test_table_without_a_column_or_rows(tmp_path: Path) -> None:
    table = tmp_path / "targets.txt"
    table.write_text("identifier\tfile\tclip\tscale\nx\ta.bw\t1\t1\n")
    with pytest.raises(InputError, match=r"header: has no column\(s\) \['sum_stat'\]"):
        read_label_targets(table)
    table.write_text(HEADER)
    with pytest.raises(InputError, match="lists no target"):
        read_label_targets(table)


# --- real LAD calls ----------------------------------------------------------------------


def _direct_coverage(bed: Path, regions: pd.DataFrame) -> np.ndarray:
    """Covered fraction per 128 bp bin of the central 114,688 bp, by plain interval loops."""
    intervals: dict[str, list[tuple[int, int]]] = {}
    with gzip.open(bed, "rt") as lines:
        for line in lines:
            chrom, start, end = line.split("\t")[:3]
            intervals.setdefault(chrom, []).append((int(start), int(end)))
    out = np.zeros((len(regions), 896))
    for i, row in enumerate(regions.itertuples()):
        lo, hi = row.start + 8192, row.end - 8192
        covered = np.zeros(hi - lo, dtype=bool)
        for start, end in intervals.get(row.chrom, []):
            if start < hi and end > lo:
                covered[max(start, lo) - lo : min(end, hi) - lo] = True
        out[i] = covered.reshape(896, 128).mean(axis=1)
    return out


def test_real_lad_coverage_matches_interval_arithmetic(real_dir: Path, tmp_path: Path) -> None:
    regions = read_regions(real_dir / "basenji2/sequences.bed").iloc[:300]
    beds = sorted((real_dir / "lamina").glob("*.bed.gz"))
    unindexed = tmp_path / beds[0].name  # same file, no .tbi beside it: read whole
    shutil.copy(beds[0], unindexed)
    targets = [
        LabelTarget(i, 0, f"lad{i}", path, 1.0, 1.0, "mean")
        for i, path in enumerate([*beds, unindexed])
    ]
    build_labels(regions, targets, tmp_path / "real.h5", progress=False)
    with read_labels(tmp_path / "real.h5") as labels:
        values, single = labels.bins[()], labels.single_bin[()]
    for k, bed in enumerate(beds):
        expected = _direct_coverage(bed, regions)
        np.testing.assert_allclose(values[:, :, k], expected, atol=1e-7)
        np.testing.assert_allclose(single[:, 0, k], expected.mean(axis=1), atol=1e-6)
        assert 0 < expected.mean() < 1 and (expected == 1).any() and (expected == 0).any()
    np.testing.assert_array_equal(values[:, :, 0], values[:, :, 2])


# --- the world's default table -----------------------------------------------------------


def test_world_default_labels(tiny_world: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tiny_world)
    targets = world_label_targets(tiny_world)
    eids = pd.read_csv(manifest.path("tracks") / "cell_types.tsv", sep="\t")["eid"].tolist()
    kinds = ("lamina", "LADs", "CpG_methylation")
    assert [t.identifier for t in targets] == [f"{e}_{k}" for k in kinds for e in eids] + [
        "CpG_count"
    ]
    assert all(t.file.is_file() for t in targets)
    with Genome(manifest.path("fasta")) as genome:
        regions = read_regions(manifest.path("sequences_bed"), contigs=genome.contigs)
        window = genome.fetch(regions.chrom[0], regions.start[0] + 8192, regions.end[0] - 8191)
    build_labels(regions, targets, tmp_path / "world.h5", progress=False)
    with read_labels(tmp_path / "world.h5") as labels:
        values, single = labels.bins[()], labels.single_bin[()]
    assert values.shape == (len(regions), 896, 3 * len(eids) + 1)
    lads = values[:, :, len(eids) : 2 * len(eids)]
    assert ((lads >= 0) & (lads <= 1)).all() and 0 < lads.mean() < 1
    methylation = values[:, :, 2 * len(eids) : 3 * len(eids)]
    assert np.isnan(methylation).any() and np.nanmax(methylation) <= 500
    assert single[0, 0, -1] == pytest.approx(window.count("CG") * 10 / 896)
    bw = pyBigWig.open(str(targets[0].file))
    signal = bw.values(regions.chrom[0], regions.start[0] + 8192, regions.end[0] - 8192)
    bw.close()
    expected = np.exp2(np.asarray(signal)).reshape(896, 128).sum(axis=1)
    np.testing.assert_allclose(values[0, :, 0], expected, rtol=1e-5)
    assert np.nanmax(values[:, :, : len(eids)]) < targets[0].clip
