"""ExPecto window geometry and TSS anchoring through indels (hand-made genome)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.scoring.conftest import DELETION_AT, INSERTION_AT, Hand, indel_lines

from exprflow.errors import InputError
from exprflow.scoring.windows import (
    CENTRE,
    N_WINDOWS,
    SHIFTS,
    WINDOW,
    check_gene_span,
    gene_span,
    haplotype_windows,
    window_offsets,
)

TSS = 30_000


def test_geometry_matches_expecto() -> None:
    assert N_WINDOWS == 200 and WINDOW == 2000 and CENTRE == 999
    assert SHIFTS[0] == -20000 and SHIFTS[-1] == 19800 and 0 in SHIFTS
    assert np.all(np.diff(SHIFTS) == 200)
    assert np.array_equal(window_offsets("-"), -SHIFTS)
    assert gene_span("+") == (20999, 20801)
    assert gene_span("-") == (20799, 21001)
    with pytest.raises(ValueError, match="strand"):
        window_offsets(".")


@pytest.mark.parametrize("strand", ["+", "-"])
def test_reference_windows_are_centred_on_tss_plus_shift(hand: Hand, strand: str) -> None:
    windows = haplotype_windows(hand.genome, "chr1", TSS, strand)
    chr1 = hand.seqs["chr1"]
    assert len(windows) == 200 and {len(w) for w in windows} == {2000}
    for window, centre in zip(windows, TSS + window_offsets(strand), strict=True):
        assert window == chr1[centre - 999 : centre + 1001]
    assert windows[100][CENTRE] == chr1[TSS]  # shift 0: the TSS base at index 999


def test_minus_strand_mirrors_the_plus_windows(hand: Hand) -> None:
    plus = haplotype_windows(hand.genome, "chr1", TSS, "+")
    minus = haplotype_windows(hand.genome, "chr1", TSS, "-")
    assert all(minus[i] == plus[200 - i] for i in range(1, 200))


def test_indels_keep_the_tss_anchored(hand: Hand) -> None:
    chr1 = hand.seqs["chr1"]
    ins, dele = hand.write_vcf(indel_lines(hand.seqs), ["s1", "s2"], "anchor.vcf").haplotypes(
        "s1", "chr1", 0, 60_000
    )
    assert [v.id for v in ins] == ["ins"] and [v.id for v in dele] == ["del"]
    reference = haplotype_windows(hand.genome, "chr1", TSS, "+")
    inserted = haplotype_windows(hand.genome, "chr1", TSS, "+", ins)
    deleted = haplotype_windows(hand.genome, "chr1", TSS, "+", dele)
    at = {int(s): i for i, s in enumerate(SHIFTS)}

    def ref(start: int) -> str:
        return chr1[start : start + WINDOW]

    # Windows between the indel and the TSS are untouched; the TSS stays at index 999.
    assert inserted[at[0]] == reference[at[0]] == deleted[at[0]]
    assert inserted[at[0]][CENTRE] == chr1[TSS]
    # Beyond the indel, the haplotype's windows hold reference bases shifted by its length.
    assert inserted[at[-10000]] == ref(TSS - 10000 - 999 + 3)
    assert deleted[at[10000]] == ref(TSS + 10000 - 999 + 4)
    assert inserted[at[10000]] == reference[at[10000]]
    assert deleted[at[-10000]] == reference[at[-10000]]
    # The window over the insertion holds the ALT allele right before its centre.
    over = inserted[at[-5000]]
    assert over[996:1000] == chr1[INSERTION_AT] + "GGG"
    assert over[:996] == chr1[INSERTION_AT - 996 : INSERTION_AT]
    assert over[1000:] == chr1[INSERTION_AT + 1 : INSERTION_AT + 1001]
    # The window over the deletion skips the 4 deleted bases.
    over = deleted[at[3000]]
    assert over[:1000] == chr1[DELETION_AT - 999 : DELETION_AT + 1]
    assert over[1000:] == chr1[DELETION_AT + 5 : DELETION_AT + 1005]


def test_tss_near_a_contig_end_is_refused_or_padded(hand: Hand) -> None:
    with pytest.raises(InputError, match=r"gene GX .*too close to an end of chr2 \(length 45000\)"):
        check_gene_span(hand.genome, "GX", "chr2", 44_000, "+")
    with pytest.raises(InputError, match="allow_padding=True"):
        check_gene_span(hand.genome, "GX", "chr1", 500, "-")
    assert check_gene_span(hand.genome, "GX", "chr2", 44_000, "+", allow_padding=True)
    assert not check_gene_span(hand.genome, "G1", "chr1", TSS, "+")
    windows = haplotype_windows(hand.genome, "chr2", 44_000, "+")
    assert windows[100] == hand.seqs["chr2"][43_001:] + "N"
    assert windows[-1] == "N" * WINDOW and "N" not in windows[0]
