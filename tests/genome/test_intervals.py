from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from exprflow.errors import InputError
from exprflow.genome.intervals import (
    Interval,
    centered,
    fetch_bed,
    merge,
    overlaps,
    read_bed,
    write_bed,
)


def test_interval_validation_and_length() -> None:
    assert len(Interval("chr1", 5, 12)) == 7
    assert Interval("chr1", 5, 5).strand == "+"
    with pytest.raises(ValueError, match=r"0 <= start <= end, got chr1:5-4"):
        Interval("chr1", 5, 4)
    with pytest.raises(ValueError, match="0 <= start"):
        Interval("chr1", -1, 4)
    with pytest.raises(ValueError, match="strand"):
        Interval("chr1", 1, 4, strand="x")
    with pytest.raises(ValueError, match="contig name"):
        Interval("", 1, 4)


def test_centered_on_interval_and_position() -> None:
    assert centered(Interval("chr1", 10, 20, "a", "-"), 4) == Interval("chr1", 13, 17, "a", "-")
    assert centered(Interval("chr1", 10, 11), 5) == Interval("chr1", 8, 13)
    window = centered(("chr2", 100), 7)
    assert window == Interval("chr2", 97, 104)
    assert window.start + 7 // 2 == 100
    with pytest.raises(ValueError, match="0 <= start"):
        centered(("chr2", 2), 10)
    with pytest.raises(ValueError, match="width must be > 0"):
        centered(("chr2", 2), 0)


def test_merge_overlapping_and_touching() -> None:
    merged = merge(
        [
            Interval("chr2", 0, 5, "x", "-"),
            Interval("chr1", 10, 20, "a", "+"),
            Interval("chr1", 15, 25, "b", "-"),
            Interval("chr1", 25, 30, "c", "-"),
            Interval("chr1", 40, 50, "d", "+"),
            Interval("chr1", 41, 42, "e", "+"),
        ]
    )
    assert merged == [
        Interval("chr1", 10, 30, None, "."),
        Interval("chr1", 40, 50, None, "+"),
        Interval("chr2", 0, 5, None, "-"),
    ]
    assert merge([]) == []


def test_overlaps_half_open() -> None:
    items = [Interval("chr1", 0, 10), Interval("chr1", 10, 20), Interval("chr2", 0, 50)]
    assert overlaps(items, "chr1", 9, 10) == [items[0]]
    assert overlaps(items, "chr1", 10, 11) == [items[1]]
    assert overlaps(items, "chr1", 5, 15) == items[:2]
    assert overlaps(items, "chr1", 20, 30) == []


BED = (
    "browser position chr1:1-100\n"
    'track name="tiny"\n'
    "# a comment\n"
    "chr1\t0\t10\n"
    "chr1\t20\t30\tpeak\t5\t-\n"
    "\n"
    "chr2\t5\t6\t.\t0\t+\n"
)


def test_read_bed_plain_and_gzip(write_text: Callable[[str, str], Path], tmp_path: Path) -> None:
    expected = [
        Interval("chr1", 0, 10, None, "."),
        Interval("chr1", 20, 30, "peak", "-"),
        Interval("chr2", 5, 6, None, "+"),
    ]
    path = write_text("tiny.bed", BED)
    assert read_bed(path) == expected
    packed = tmp_path / "tiny.bed.gz"
    packed.write_bytes(gzip.compress(BED.encode()))
    assert read_bed(packed) == expected


def test_write_bed_round_trip(tmp_path: Path) -> None:
    items = [Interval("chr1", 3, 9, "a", "-"), Interval("chrX", 0, 1, None, ".")]
    write_bed(tmp_path / "out.bed", items)
    assert (tmp_path / "out.bed").read_text() == "chr1\t3\t9\ta\t0\t-\nchrX\t0\t1\t.\t0\t.\n"
    assert read_bed(tmp_path / "out.bed") == items
    assert [p.name for p in tmp_path.iterdir()] == ["out.bed"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chr1\t10\n", r"line 2: has 2 column\(s\), BED needs 3"),
        ("chr1\tten\t20\n", r"line 2: is not a valid interval"),
        ("chr1\t30\t20\n", r"line 2: is not a valid interval .*0 <= start <= end"),
        ("chr1\t1\t2\tn\t0\t*\n", r"line 2: is not a valid interval .*strand"),
    ],
)
def test_bad_bed_lines_name_the_line(
    write_text: Callable[[str, str], Path], line: str, message: str
) -> None:
    path = write_text("bad.bed", "chr1\t0\t5\n" + line)
    with pytest.raises(InputError, match=r"bad\.bed: " + message):
        read_bed(path)


def test_missing_bed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="BED file not found"):
        read_bed(tmp_path / "absent.bed")


@pytest.fixture
def lamina(real_dir: Path) -> Path:
    return real_dir / "lamina" / "GSM5669183_CardiacMyocytes_LADs.sorted.bed.gz"


def test_real_lamina_bed(lamina: Path, real_dir: Path) -> None:
    lads = read_bed(lamina)
    assert len(lads) == 3404
    assert lads[0] == Interval("chr1", 580_000, 680_000, "T2LAD0", "+")
    liver = read_bed(real_dir / "lamina" / "GSM5669232_Liver_LADs.sorted.bed.gz")
    assert liver[0] == Interval("chr1", 580_000, 600_000, "T1LAD0", "+")


def test_real_lamina_tabix_query(lamina: Path) -> None:
    found = fetch_bed(lamina, "1", 600_000, 3_000_000)
    assert [(iv.name, iv.start, iv.end) for iv in found] == [
        ("T2LAD0", 580_000, 680_000),
        ("T2LAD1", 2_780_000, 3_000_000),
    ]
    everything = read_bed(lamina)
    on_chr2 = fetch_bed(lamina, "chr2", 0, 300_000_000)
    assert on_chr2 == [iv for iv in everything if iv.chrom == "chr2"]
    assert fetch_bed(lamina, "chr1", 680_000, 680_001) == []
    with pytest.raises(InputError, match=r"LADs\.sorted\.bed\.gz: chrZ: contig 'chrZ'"):
        fetch_bed(lamina, "chrZ", 0, 10)


def test_fetch_bed_needs_an_index(lamina: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copy(lamina, tmp_path / "lads.bed.gz"))
    with pytest.raises(InputError, match=r"lads\.bed\.gz: has no tabix index.*tabix -p bed"):
        fetch_bed(copy, "chr1", 0, 10)
