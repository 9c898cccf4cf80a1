from __future__ import annotations

import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.haplotype import anchored_window, personal_sequence
from exprflow.genome.variant import Variant

# chr1 of the tiny genome, 0-based:
#   0 A  1 C  2 G  3 T  4 A  5 G  6 C  7 T  8 T  9 A  10 C  11 G  12 G  13 A  14 T  15 C
#  16 C 17 A 18 G 19 T 20 T 21 G 22 A 23 C 24 C 25 A ...
# Windows below anchor on base 10 (C) with 4 bases on each side: reference CTTA|CGGA.
INS_UP = Variant("chr1", 7, "T", "TGG")  # GG inserted after base 7
DEL_UP = Variant("chr1", 7, "TTA", "T")  # bases 8, 9 deleted
INS_DOWN = Variant("chr1", 11, "G", "GAAA")  # AAA inserted after base 11
DEL_DOWN = Variant("chr1", 11, "GGA", "G")  # bases 12, 13 deleted


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        ([], "CTTACGGA"),
        ([Variant("chr1", 8, "T", "G")], "CTGACGGA"),  # SNV upstream
        ([Variant("chr1", 10, "C", "A")], "CTTAAGGA"),  # SNV on the anchor
        ([INS_UP], "GGTACGGA"),  # upstream flank shifts, anchor stays
        ([DEL_UP], "AGCTCGGA"),  # upstream flank pulls in bases 3..7
        ([INS_DOWN], "CTTACGAA"),
        ([DEL_DOWN], "CTTACGTC"),  # downstream continues with 14, 15
        ([INS_UP, DEL_DOWN], "GGTACGTC"),
        ([DEL_DOWN, INS_UP], "GGTACGTC"),  # order of the list does not matter
        ([Variant("chr1", 10, "C", "CTT")], "CTTACTTG"),  # insertion after the anchor base
        ([Variant("chr1", 9, "A", "AGG")], "TAGGCGGA"),  # insertion just before the anchor
        ([Variant("chr1", 23, "CC", "C"), Variant("chr2", 2, "G", "C")], "CTTACGGA"),
        ([Variant("1", 8, "T", "G")], "CTGACGGA"),  # contig alias in the variant
    ],
)
def test_anchored_window_hand_worked(
    genome: Genome, variants: list[Variant], expected: str
) -> None:
    assert anchored_window(genome, "chr1", 10, 4, 4, variants) == expected


def test_deleted_anchor_moves_to_next_surviving_base(genome: Genome) -> None:
    # TAC -> T deletes bases 9 and 10 (the anchor): base 11 (G) takes its place.
    spanning = Variant("chr1", 8, "TAC", "T")
    assert anchored_window(genome, "chr1", 10, 4, 4, [spanning]) == "GCTTGGAT"
    assert anchored_window(genome, "chr1", 11, 4, 4, []) == "TTACGGAT"


def test_window_length_is_exact_and_padded_at_contig_start(genome: Genome) -> None:
    assert anchored_window(genome, "chr1", 2, 4, 3, []) == "NNACGTA"
    assert anchored_window(genome, "chr1", 2, 4, 3, [Variant("chr1", 3, "TA", "T")]) == "NNACGTG"
    ref = genome.fetch("chr1", 0, 110)
    assert anchored_window(genome, "chr1", 105, 4, 8, []) == ref[101:110] + "NNN"
    window = anchored_window(genome, "chr1", 55, 40, 40, [Variant("chr1", 62, "G", "GCCCCCC")])
    assert len(window) == 80
    assert window == ref[15:63] + "CCCCCC" + ref[63:89]
    assert anchored_window(genome, "chr1", 10, 0, 0, [DEL_UP]) == ""
    with pytest.raises(ValueError, match="left and right must be >= 0"):
        anchored_window(genome, "chr1", 10, -1, 4, [])


def test_overlapping_variants_on_one_haplotype(genome: Genome) -> None:
    clash = [DEL_UP, Variant("chr1", 9, "A", "G", "rsB", source="calls.vcf.gz")]
    with pytest.raises(InputError, match=r"calls\.vcf\.gz: chr1:10 rsB: overlaps chr1:8 \."):
        anchored_window(genome, "chr1", 10, 4, 4, clash)
    same_base = [Variant("chr1", 7, "T", "G"), INS_UP]
    with pytest.raises(InputError, match=r"chr1:8 \.: overlaps chr1:8 \."):
        personal_sequence(genome, "chr1", 0, 20, same_base)


def test_ref_mismatch_is_refused(genome: Genome) -> None:
    with pytest.raises(InputError, match=r"chr1:9 \.: REF C disagrees .* has T there"):
        personal_sequence(genome, "chr1", 0, 20, [Variant("chr1", 8, "C", "G")])


def test_personal_sequence_and_coordinate_maps(genome: Genome) -> None:
    hap = personal_sequence(genome, "1", 4, 16, [DEL_DOWN, INS_UP])
    assert hap.chrom == "chr1"
    assert genome.fetch("chr1", 4, 16) == "AGCTTACGGATC"
    assert hap.sequence == "AGCTGGTACGTC"
    assert hap.ref_index.tolist() == [0, 1, 2, 3, 6, 7, 8, 9, 10, 10, 10, 11, 12]
    assert hap.hap_index.tolist() == [4, 5, 6, 7, -1, -1, 8, 9, 10, 11, 14, 15]
    assert hap.ref_to_hap(8) == 6
    assert hap.ref_to_hap(np.array([4, 12, 16])).tolist() == [0, 10, 12]
    assert hap.hap_to_ref(np.array([4, 5, 6])).tolist() == [-1, -1, 8]
    assert hap.hap_to_ref(10) == 14
    with pytest.raises(ValueError, match=r"positions must lie in \[4, 16\]"):
        hap.ref_to_hap(17)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 12\)"):
        hap.hap_to_ref(np.array([0, 12]))


def test_maps_are_consistent_for_surviving_bases(genome: Genome) -> None:
    hap = personal_sequence(
        genome, "chr1", 0, 40, [INS_UP, DEL_DOWN, Variant("chr1", 30, "A", "T")]
    )
    kept = hap.hap_index >= 0
    ref = genome.fetch("chr1", 0, 40)
    positions = hap.hap_index[kept]
    assert (hap.ref_to_hap(positions) == np.flatnonzero(kept)).all()
    changed = [
        p for p, b in zip(positions, np.array(list(hap.sequence))[kept], strict=True) if ref[p] != b
    ]
    assert changed == [30]


def test_interval_boundaries(genome: Genome) -> None:
    # a deletion starting before the interval removes its first bases
    cut = personal_sequence(genome, "chr1", 9, 14, [DEL_UP])
    assert cut.sequence == "CGGA"
    assert cut.ref_index.tolist() == [0, 0, 1, 2, 3, 4]
    # an insertion right before `start` is left out, one right before `end` is kept
    assert personal_sequence(genome, "chr1", 8, 12, [INS_UP]).sequence == "TACG"
    assert personal_sequence(genome, "chr1", 8, 12, [INS_DOWN]).sequence == "TACGAAA"
    # no variants: the reference itself
    assert personal_sequence(genome, "chr1", 38, 52, []).sequence == genome.fetch("chr1", 38, 52)
