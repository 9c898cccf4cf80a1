from __future__ import annotations

import logging
from pathlib import Path

import pytest

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.variant import RecordOrder, Variant, check_ref, variant_from_alleles


def test_variant_coordinates_label_and_equality() -> None:
    deletion = Variant("chr1", 11, "GGA", "G", "rs3", source="a.vcf")
    assert deletion.end0 == 14
    assert deletion.label == "chr1:12 rs3"
    assert Variant("chr1", 0, "A", "C").label == "chr1:1 ."
    assert deletion == Variant("chr1", 11, "GGA", "G", "rs3", source="b.vcf")


def test_variant_from_alleles_normalises() -> None:
    made = variant_from_alleles("x.vcf", "chr1", "12", ".", "gga", ["g"])
    assert made == Variant("chr1", 11, "GGA", "G", None)
    assert made is not None and made.source == "x.vcf"


@pytest.mark.parametrize(
    "alt", ["<DEL>", "<INS:ME>", "*", "A[chr2:5[", "]chr2:5]A", ".A", "A.", "."]
)
def test_symbolic_alleles_are_skipped(alt: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert variant_from_alleles("x.vcf", "chr1", "3", "sv", "A", [alt]) is None
    assert "chr1:3 sv has symbolic ALT" in caplog.text
    assert variant_from_alleles("x.vcf", "chr1", "3", "sv", "A", []) is None


def test_record_order_accepts_sorted_and_ties() -> None:
    order = RecordOrder("x.vcf")
    for chrom, pos0 in [("chr2", 5), ("chr2", 5), ("chr2", 9), ("chr1", 1), ("chrX", 0)]:
        order.check(Variant(chrom, pos0, "A", "C"))
    with pytest.raises(InputError, match=r"x\.vcf: chr2:3 \.: contig chr2 comes back after chrX"):
        order.check(Variant("chr2", 2, "A", "C"))


def test_check_ref(genome: Genome, fasta_path: Path) -> None:
    check_ref(Variant("chr1", 11, "GGA", "G"), genome)
    check_ref(Variant("chr1", 40, "ACGT", "A"), genome)  # soft-masked bases compare upper-case
    with pytest.raises(InputError, match=r"^<variants>: chr1:12 \.: REF GGT disagrees.*has GGA"):
        check_ref(Variant("chr1", 11, "GGT", "G"), genome)
    long_ref = "A" * 30
    with pytest.raises(InputError, match=r"REF A{20}…\(30 bp\)"):
        check_ref(Variant("chr1", 0, long_ref, "A", source="v.vcf"), genome)
    with pytest.raises(InputError, match=r"v\.vcf: chrM:16 \.: lies outside the sequence"):
        check_ref(Variant("chrM", 15, "AN", "A", source="v.vcf"), genome)
