from __future__ import annotations

import gzip
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pysam
import pytest

from exprflow.errors import InputError
from exprflow.genome import fasta
from exprflow.genome.fasta import Genome, PaddedSequence


def test_contigs_and_upper_case_fetch(genome: Genome, seqs: dict[str, str]) -> None:
    assert genome.contigs == {name: len(seq) for name, seq in seqs.items()}
    assert genome.fetch("chr1", 0, 10) == "ACGTAGCTTA"
    assert genome.fetch("chr1", 38, 52) == seqs["chr1"][38:52].upper()
    assert genome.fetch("chr1", 38, 52) == "GGACGTACCGTTGA"
    assert genome.fetch("chr2", 5, 5) == ""
    assert genome.padded_fetches == 0


@pytest.mark.parametrize(
    ("asked", "written"), [("1", "chr1"), ("chr1", "chr1"), ("MT", "chrM"), ("M", "chrM")]
)
def test_aliases_find_the_other_spelling(genome: Genome, asked: str, written: str) -> None:
    assert genome.resolve(asked) == written
    assert genome.fetch(asked, 0, 4) == SEQ_START[written]


SEQ_START = {"chr1": "ACGT", "chrM": "GATC"}


def test_aliases_from_ensembl_names(write_fasta: Callable[..., Path]) -> None:
    with Genome(write_fasta({"1": "ACGTACGT", "MT": "GGCC"}, "ensembl.fa")) as genome:
        assert genome.fetch("chr1", 2, 6) == "GTAC"
        assert genome.fetch("chrM", 0, 2) == "GG"
        assert genome.resolve("chrMT") == "MT"


def test_unknown_contig_names_file_contig_and_available(genome: Genome) -> None:
    with pytest.raises(InputError, match=r"tiny\.fa.*'chr9'.*chr1, chr2, chrM") as info:
        genome.fetch("chr9", 0, 5)
    assert info.value.record == "chr9"


def test_padding_left_right_counted_and_logged(
    genome: Genome, seqs: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="exprflow.genome.fasta"):
        left = genome.fetch_padded("chr2", -3, 2)
        right = genome.fetch_padded("chr2", 38, 44)
        both = genome.fetch_padded("chrM", -1, 17)
        outside = genome.fetch_padded("chrM", 20, 23)
    assert left == PaddedSequence("NNNTT", 3, 0)
    assert right == PaddedSequence("GTNNNN", 0, 4)
    assert both == PaddedSequence("N" + seqs["chrM"] + "N", 1, 1)
    assert outside == PaddedSequence("NNN", 3, 0)
    assert genome.padded_fetches == 4
    assert genome.padded_bases == 3 + 4 + 2 + 3
    assert len([r for r in caplog.records if "padded" in r.message]) == 4
    assert "chr2:-3-2" in caplog.records[0].message


def test_fetch_rejects_reversed_interval(genome: Genome) -> None:
    with pytest.raises(ValueError, match="start <= end"):
        genome.fetch("chr1", 5, 4)


def test_builds_missing_index_next_to_fasta(write_fasta: Callable[..., Path]) -> None:
    path = write_fasta({"chrA": "ACGTN"}, "noindex.fa", index=False)
    with Genome(path) as genome:
        assert genome.fetch("chrA", 0, 5) == "ACGTN"
    assert path.with_name("noindex.fa.fai").is_file()
    assert not list(path.parent.glob("*partial*"))


def test_index_dir_holds_the_index(write_fasta: Callable[..., Path], tmp_path: Path) -> None:
    path = write_fasta({"chrA": "ACGTN"}, "elsewhere.fa", index=False)
    with Genome(path, index_dir=tmp_path / "idx") as genome:
        assert genome.contigs == {"chrA": 5}
    assert (tmp_path / "idx" / "elsewhere.fa.fai").is_file()
    assert not path.with_name("elsewhere.fa.fai").exists()


def test_read_only_folder_without_index_says_run_samtools_faidx(
    write_fasta: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_fasta({"chrA": "ACGT"}, "ro.fa", index=False)
    monkeypatch.setattr(fasta, "_index_folder_writable", lambda folder: False)
    with pytest.raises(InputError, match=r"ro\.fa: has no index.*not writable.*samtools faidx"):
        Genome(path)
    assert not path.with_name("ro.fa.fai").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_for_real(write_fasta: Callable[..., Path], tmp_path: Path) -> None:
    path = write_fasta({"chrA": "ACGT"}, "ro.fa", index=False)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(InputError, match="samtools faidx"):
            Genome(path)
    finally:
        tmp_path.chmod(0o755)


def test_missing_and_unindexable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothing\.fa: FASTA file not found"):
        Genome(tmp_path / "nothing.fa")
    plain_gzip = tmp_path / "plain.fa.gz"
    plain_gzip.write_bytes(gzip.compress(b">chrA\nACGT\n"))
    with pytest.raises(InputError, match=r"plain\.fa\.gz: cannot be indexed.*bgzip"):
        Genome(plain_gzip)
    not_fasta = tmp_path / "notes.fa"
    not_fasta.write_text("hello\n")
    with pytest.raises(InputError, match=r"notes\.fa: cannot be indexed"):
        Genome(not_fasta)


def test_bgzip_fasta_gets_fai_and_gzi(write_fasta: Callable[..., Path], tmp_path: Path) -> None:
    path = write_fasta({"chrA": "ACGTACGTAA" * 5}, "packed.fa", index=False)
    packed = tmp_path / "packed.fa.gz"
    pysam.tabix_compress(str(path), str(packed))
    with Genome(packed, index_dir=tmp_path / "idx") as genome:
        assert genome.fetch("chrA", 8, 12) == "AAAC"
    assert {p.name for p in (tmp_path / "idx").iterdir()} == {
        "packed.fa.gz.fai",
        "packed.fa.gz.gzi",
    }


def test_samtools_region_named_record(write_fasta: Callable[..., Path]) -> None:
    # samtools faidx naming: 1-based inclusive, chr5:101-110 holds bases 100..109 (0-based)
    with Genome(write_fasta({"chr5:101-110": "ACGTACGTAC"}, "region.fa")) as genome:
        assert genome.contigs == {"chr5": 110}
        assert genome.fetch("chr5", 100, 110) == "ACGTACGTAC"
        assert genome.fetch("5", 102, 105) == "GTA"
        assert genome.fetch_padded("chr5", 98, 102) == PaddedSequence("NNAC", 2, 0)
        assert genome.fetch_padded("chr5", 108, 112) == PaddedSequence("ACNN", 0, 2)
        assert genome.fetch_padded("chr5", 0, 3) == PaddedSequence("NNN", 3, 0)


def test_bedtools_region_named_record(write_fasta: Callable[..., Path]) -> None:
    # bedtools getfasta naming: BED-style, chr6:100-110 holds bases 100..109 (0-based)
    with Genome(write_fasta({"chr6:100-110": "ACGTACGTAC"}, "bedtools.fa")) as genome:
        assert genome.fetch("chr6", 100, 103) == "ACG"


def test_several_windows_of_one_contig(write_fasta: Callable[..., Path]) -> None:
    records = {"chr7:31-40": "GGGGGCCCCC", "chr7:11-20": "AAAAATTTTT", "chr2": "ACGT"}
    with Genome(write_fasta(records, "windows.fa")) as genome:
        assert genome.contigs == {"chr7": 40, "chr2": 4}
        found = genome.fetch_padded("chr7", 15, 35)
        assert found == PaddedSequence("TTTTT" + "N" * 10 + "GGGGG", 0, 0, 10)
        assert genome.padded_bases == 10


def test_overlapping_windows_are_refused(write_fasta: Callable[..., Path]) -> None:
    path = write_fasta({"chr7:11-20": "A" * 10, "chr7:16-25": "C" * 10}, "overlap.fa")
    with pytest.raises(InputError, match=r"overlap\.fa: chr7:16-25: .*overlapping"):
        Genome(path)


def test_region_name_with_wrong_length_is_a_plain_contig(
    write_fasta: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        Genome(write_fasta({"chr7:11-20": "ACG"}, "odd.fa")) as g,
    ):
        assert g.contigs == {"chr7:11-20": 3}
        assert g.fetch("chr7:11-20", 0, 3) == "ACG"
    assert "looks region-named" in caplog.text


def test_closed_after_context(fasta_path: Path) -> None:
    with Genome(fasta_path) as genome:
        pass
    with pytest.raises(ValueError):
        genome.fetch("chr1", 0, 2)


# --- the real Basenji2 GATA4 window (bedtools-style name, 131,072 bp, read-only folder) ---


@pytest.fixture
def gata4(real_dir: Path) -> Path:
    return real_dir / "basenji2" / "gata4.fa"


def test_real_gata4_window(gata4: Path, tmp_path: Path) -> None:
    name, sequence = gata4.read_text().split("\n")[:2]
    assert name == ">chr8:11496144-11627216" and len(sequence) == 131_072
    with Genome(gata4, index_dir=tmp_path) as genome:
        assert genome.contigs == {"chr8": 11_627_216}
        assert genome.fetch("chr8", 11_496_144, 11_496_164) == "AAACATGAGGACTGGAGACG"
        assert genome.fetch("8", 11_496_144, 11_627_216) == sequence.upper()
        assert genome.fetch_padded("chr8", 11_496_143, 11_496_153) == PaddedSequence(
            "NAAACATGAG", 1, 0
        )
        assert genome.fetch_padded("chr8", 11_627_214, 11_627_218).right_pad == 2
    assert (tmp_path / "gata4.fa.fai").is_file()


def test_real_gata4_without_index_dir_in_read_only_folder(
    gata4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if gata4.with_name("gata4.fa.fai").exists():
        pytest.skip("the shared folder already has an index")
    monkeypatch.setattr(fasta, "_index_folder_writable", lambda folder: False)
    with pytest.raises(InputError, match=r"gata4\.fa: has no index.*samtools faidx"):
        Genome(gata4)


def test_real_gata4_copy_indexes_beside_itself(gata4: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copy(gata4, tmp_path / "gata4.fa"))
    with Genome(copy) as genome:
        assert len(genome.fetch("chr8", 11_500_000, 11_500_100)) == 100
    assert copy.with_name("gata4.fa.fai").is_file()
