"""Tests of the ENCODETFChIPSeq task builder on hand-made ENCODE files with known answers."""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pysam
import pytest

from exprflow.data.promoter_chip import build_chip_task, read_narrowpeak
from exprflow.data.promoter_chromsplit import PUBLISHED_SPLIT, chromosome_split
from exprflow.data.promoter_codes import decode_codes
from exprflow.data.promoter_tasks import TaskData
from exprflow.errors import InputError

_RNG = np.random.default_rng(11)
SEQS = {
    "chr1": "".join(_RNG.choice(list("ACGT"), 2000)),
    "chr2": "".join(_RNG.choice(list("ACGT"), 720)),
    "chr4": "".join(_RNG.choice(list("ACGT"), 1000)),
    "chrX": "".join(_RNG.choice(list("ACGT"), 500)),
}
HEADER = (
    "File accession\tFile format\tOutput type\tExperiment accession\t"
    "Biosample term name\tExperiment target\tFile assembly\n"
)
#: accession → (biosample, target, assembly, peaks as (chrom, summit, qValue))
FILES: dict[str, tuple[str, str, str, list[tuple[str, int, float]]]] = {
    "ENCFF001": (
        "K562",
        "GATA1-human",
        "GRCh38",
        [
            ("chr1", 300, 5.0),
            ("chr1", 1000, 5.0),
            ("chr1", 1030, 5.0),
            ("chr4", 500, 5.0),
            ("chrX", 200, 5.0),
            ("chr1", 1500, 1.0),  # q > 0.05: not significant
        ],
    ),
    "ENCFF002": ("K562", "TAL1-human", "GRCh38", [("chr1", 310, 3.0), ("chr2", 700, 2.0)]),
    "ENCFF003": ("HepG2", "FOXA1-human", "GRCh38", [("chr1", 1015, 9.0), ("chr1", 1600, 4.0)]),
    "ENCFF004": ("HepG2", "CTCF-human", "GRCh38", [("chr1", 800, 9.0), ("chr1", 900, 9.0)]),
    "ENCFF005": ("GM12878", "SPI1-human", "GRCh38", [("chr1", 1600, 5.0), ("chr1", 400, 0.5)]),
    "ENCFF006": ("K562", "GATA1-human", "hg19", []),  # other assembly: skipped, no file
}


def _peak_line(chrom: str, summit: int, qvalue: float) -> str:
    start = summit - 40
    return f"{chrom}\t{start}\t{summit + 60}\t.\t1000\t.\t10.0\t8.0\t{qvalue}\t40\n"


def _write(root: Path) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    fasta = root / "genome.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in SEQS.items()))
    pysam.faidx(str(fasta))
    chip = root / "chip"
    chip.mkdir()
    rows = []
    for accession, (biosample, target, assembly, peaks) in FILES.items():
        rows.append(
            f"{accession}\tbed narrowPeak\tIDR thresholded peaks\tENCSR{accession[-3:]}\t"
            f"{biosample}\t{target}\t{assembly}\n"
        )
        if assembly == "GRCh38":
            with gzip.open(chip / f"{accession}.bed.gz", "wt") as out:
                out.writelines(_peak_line(*peak) for peak in peaks)
    (chip / "metadata.tsv").write_text(HEADER + "".join(rows))
    return chip, fasta


def _build(root: Path, **kwargs: Any) -> TaskData:
    chip, fasta = _write(root)
    options = {"min_peaks": 2, "window": 100, "merge_distance": 20} | kwargs
    return build_chip_task(chip / "metadata.tsv", chip, fasta, **options)


def test_windows_merge_and_labels(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        task = _build(tmp_path)
    assert "GM12878" in caplog.text and "dropped" in caplog.text
    spec = task.spec
    assert spec.name == "ENCODETFChIPSeq" and spec.kind == "binary"
    assert spec.outputs == ("HepG2:FOXA1", "K562:GATA1", "K562:TAL1")  # CTCF excluded
    assert spec.n_logits == 3 and spec.max_length == 100 and spec.monitor == "auroc"
    # 300+310 → 305; 1000+1015 → 1007.5 → 1008 (half to even); 1030 is 30 bp from its
    # group's first summit 1000, so it opens a group; chrX is outside the split.
    windows = [
        "chr1:255-355",
        "chr1:958-1058",
        "chr1:980-1080",
        "chr1:1550-1650",
        "chr2:650-750",
        "chr4:450-550",
    ]
    assert task.ids.tolist() == [x for w in windows for x in (w, f"{w}:shuffled")]
    positives = np.array(
        [[0, 1, 1], [1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32
    )
    mask = np.array([[0, 1, 1], [1, 1, 1], [0, 1, 1], [1, 0, 0], [0, 1, 1], [0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(task.targets[0::2], positives)
    np.testing.assert_array_equal(task.targets[1::2], 0.0)
    np.testing.assert_array_equal(task.mask[0::2], mask)
    np.testing.assert_array_equal(task.mask[1::2], mask)
    assert task.splits[:, 0].tolist() == [0] * 8 + [2, 2, 1, 1]
    assert task.targets.dtype == np.float32 and task.mask.dtype == bool
    np.testing.assert_array_equal(task.group, np.arange(12))
    np.testing.assert_array_equal(task.lengths, 100)


def test_sequences_and_shuffled_negatives(tmp_path: Path) -> None:
    task = _build(tmp_path)
    seqs = decode_codes(task.codes)
    assert seqs[0] == SEQS["chr1"][255:355]
    assert seqs[2] == SEQS["chr1"][958:1058]
    assert seqs[8] == SEQS["chr2"][650:720] + "N" * 30  # past the contig end: N-padded
    for row in range(0, len(seqs), 2):
        positive, negative = seqs[row], seqs[row + 1]
        assert negative != positive
        assert Counter(pairwise(negative)) == Counter(pairwise(positive))
        assert (negative[0], negative[-1]) == (positive[0], positive[-1])


def test_seeded(tmp_path: Path) -> None:
    first = _build(tmp_path / "a", seed=3)
    again = _build(tmp_path / "b", seed=3)
    other = _build(tmp_path / "c", seed=4)
    np.testing.assert_array_equal(first.codes, again.codes)
    np.testing.assert_array_equal(first.codes[0::2], other.codes[0::2])
    assert not np.array_equal(first.codes[1::2], other.codes[1::2])


def test_parameters_change_the_task(tmp_path: Path) -> None:
    task = _build(tmp_path, exclude=(), merge_distance=100, qvalue=0.2)
    assert "HepG2:CTCF" in task.spec.outputs
    ids = task.ids[0::2].tolist()
    # within 100 bp: 800+900 (CTCF) → 850; 1000, 1015, 1030 → 1015; q 0.2 (threshold
    # 0.70) lets GATA1's q=1.0 summit 1500 in, grouped with 1600 → 1550
    assert ids == [
        "chr1:255-355",
        "chr1:800-900",
        "chr1:965-1065",
        "chr1:1500-1600",
        "chr2:650-750",
        "chr4:450-550",
    ]


def test_too_few_peaks_everywhere_says_lower_min_peaks(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"min_peaks=50.*largest has 5.*lower min_peaks"):
        _build(tmp_path, min_peaks=50)


def test_missing_peak_file_names_accession_and_path(tmp_path: Path) -> None:
    chip, fasta = _write(tmp_path)
    (chip / "ENCFF002.bed.gz").unlink()
    with pytest.raises(InputError, match=r"ENCFF002.*expected .*chip/ENCFF002\.bed\.gz"):
        build_chip_task(chip / "metadata.tsv", chip, fasta, min_peaks=2)


def test_a_split_without_windows_is_refused(tmp_path: Path) -> None:
    chip, fasta = _write(tmp_path)
    with pytest.raises(InputError, match=r"no peak window lies on a val chromosome.*'4', '17'"):
        build_chip_task(chip / "metadata.tsv", chip, fasta, min_peaks=2, exclude=("GATA1",))


def test_missing_metadata_column(tmp_path: Path) -> None:
    chip, fasta = _write(tmp_path)
    meta = chip / "metadata.tsv"
    meta.write_text(meta.read_text().replace("Experiment target", "Target"))
    with pytest.raises(InputError, match="Experiment target"):
        build_chip_task(meta, chip, fasta, min_peaks=2)
    with pytest.raises(InputError, match="metadata file not found"):
        build_chip_task(chip / "none.tsv", chip, fasta, min_peaks=2)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("chr1\t10\t20\t.\t0\t.\t1\t1\t2\n", "9 columns"),
        ("chr1\tten\t20\t.\t0\t.\t1\t1\t2\t5\n", "malformed number"),
        ("chr1\t10\t20\t.\t0\t.\t1\t1\tx\t5\n", "malformed number"),
        ("chr1\t30\t20\t.\t0\t.\t1\t1\t2\t5\n", "start < end"),
        ("chr1\t10\t20\t.\t0\t.\t1\t1\t2\t15\n", "peak < end - start"),
    ],
)
def test_malformed_narrowpeak_names_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.bed.gz"
    with gzip.open(path, "wt") as out:
        out.write("track name=x\n" + _peak_line("chr1", 100, 3.0) + line)
    with pytest.raises(InputError, match=rf"bad\.bed\.gz: line 3: .*{problem}"):
        read_narrowpeak(path)


def test_narrowpeak_summit_defaults_to_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "plain.bed"
    path.write_text("chr1\t100\t200\t.\t0\t.\t1\t1\t-1\t-1\nchr2\t10\t30\t.\t0\t.\t1\t1\t4\t3\n")
    peaks = read_narrowpeak(path)
    assert peaks.chrom.tolist() == ["chr1", "chr2"]
    assert peaks.summit.tolist() == [150, 13]
    assert peaks.qvalue.tolist() == [-1.0, 4.0]


def test_published_chromosome_split() -> None:
    codes = chromosome_split(["chr1", "4", "chr17", "2", "chr21", "chrX", "Y", "chr22", "chrM"])
    assert codes.tolist() == [0, 1, 1, 2, 2, -1, -1, 0, -1]
    assert PUBLISHED_SPLIT.code("chr13") == 2
    assert chromosome_split([]).shape == (0,)
