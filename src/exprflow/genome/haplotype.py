"""Personal haplotype sequences with SNVs and indels, and windows anchored on a reference base.

:func:`personal_sequence` applies one haplotype's variants to a reference interval and
keeps a map between reference and haplotype coordinates; :func:`anchored_window` cuts a
fixed-length haplotype window that keeps a chosen reference base (a TSS) at a fixed
index however many bases the indels around it add or remove. Reads sequence through
:class:`~exprflow.genome.fasta.Genome`; writes no files.

Conventions (all coordinates 0-based):

* Alleles are applied VCF-style and aligned from their first base: the first
  ``min(len(ref), len(alt))`` bases substitute one for one, the rest of a longer REF is
  deleted, the rest of a longer ALT is inserted after them.
* A deleted reference base maps to the haplotype index of the next surviving base
  (downstream, in reference coordinates); an inserted base maps back to reference ``-1``.
* The haplotype of ``[start, end)`` holds the bases derived from those reference bases
  and the insertions between them, plus an insertion right after ``end - 1``; an
  insertion right before ``start`` is left out.
* A deleted anchor: :func:`anchored_window` anchors on the next surviving base.
* Variants whose REF alleles overlap on one haplotype are an error, and every REF is
  checked against the genome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.variant import Variant, check_ref

__all__ = ["PersonalSequence", "anchored_window", "personal_sequence"]


@dataclass(frozen=True, eq=False)
class PersonalSequence:
    """A haplotype's sequence over a reference interval, with its coordinate map.

    Parameters
    ----------
    chrom : str
        Contig, as the genome names it.
    start, end : int
        Reference interval, 0-based half-open.
    sequence : str
        Haplotype sequence.
    ref_index : numpy.ndarray
        int64, shape ``(end - start + 1,)``: haplotype index of each reference base
        ``start..end`` (the last entry, for ``end``, is ``len(sequence)``).
    hap_index : numpy.ndarray
        int64, shape ``(len(sequence),)``: reference position of each haplotype base,
        ``-1`` for inserted bases.
    """

    chrom: str
    start: int
    end: int
    sequence: str
    ref_index: np.ndarray
    hap_index: np.ndarray

    def ref_to_hap(self, pos: int | np.ndarray) -> int | np.ndarray:
        """Map reference positions to haplotype indices (deleted bases: next surviving base).

        Parameters
        ----------
        pos : int or numpy.ndarray
            Reference positions in ``[start, end]``.

        Returns
        -------
        int or numpy.ndarray
            Haplotype indices in ``[0, len(sequence)]``, same shape as ``pos``.
        """
        offset = np.asarray(pos) - self.start
        if np.any((offset < 0) | (offset > self.end - self.start)):
            raise ValueError(f"positions must lie in [{self.start}, {self.end}], got {pos}")
        found = self.ref_index[offset]
        return int(found) if np.ndim(found) == 0 else found

    def hap_to_ref(self, index: int | np.ndarray) -> int | np.ndarray:
        """Map haplotype indices to reference positions (inserted bases: ``-1``).

        Parameters
        ----------
        index : int or numpy.ndarray
            Haplotype indices in ``[0, len(sequence))``.

        Returns
        -------
        int or numpy.ndarray
            Reference positions, same shape as ``index``.
        """
        index = np.asarray(index)
        if np.any((index < 0) | (index >= len(self.sequence))):
            raise ValueError(f"indices must lie in [0, {len(self.sequence)}), got {index}")
        found = self.hap_index[index]
        return int(found) if np.ndim(found) == 0 else found


def personal_sequence(
    genome: Genome, chrom: str, start: int, end: int, variants: Sequence[Variant]
) -> PersonalSequence:
    """Apply one haplotype's variants to the reference interval ``chrom:[start, end)``.

    Parameters
    ----------
    genome : Genome
        Reference; bases off the contig are ``N``.
    chrom : str
        Contig (aliases accepted, also in the variants).
    start, end : int
        0-based half-open reference interval.
    variants : sequence of Variant
        The ALT alleles this haplotype carries, any order; those whose REF does not
        overlap the interval (or lies on another contig) are ignored.

    Returns
    -------
    PersonalSequence
        Sequence and coordinate maps.

    Raises
    ------
    InputError
        When two variants' REF alleles overlap, or a REF disagrees with the genome.
    """
    contig = genome.resolve(chrom)
    chosen = sorted(
        (
            v
            for v in variants
            if genome.resolve(v.chrom) == contig and v.pos0 < end and v.end0 > start
        ),
        key=lambda v: (v.pos0, v.end0),
    )
    _check_disjoint(chosen)
    for variant in chosen:
        check_ref(variant, genome)
    lo = min([start, *(v.pos0 for v in chosen)])
    hi = max([end, *(v.end0 for v in chosen)])
    sequence, ref_index, hap_index = _apply(genome.fetch(contig, lo, hi), lo, chosen)
    first, last = ref_index[start - lo], ref_index[end - lo]
    return PersonalSequence(
        chrom=contig,
        start=start,
        end=end,
        sequence=sequence[first:last],
        ref_index=ref_index[start - lo : end - lo + 1] - first,
        hap_index=hap_index[first:last],
    )


def anchored_window(
    genome: Genome, chrom: str, anchor: int, left: int, right: int, variants: Sequence[Variant]
) -> str:
    """Return ``left + right`` haplotype bases with reference base ``anchor`` at index ``left``.

    Indels upstream or downstream shift the flanks, never the anchor. When the anchor
    itself is deleted, the window is anchored on the next surviving base (the first base
    after the deletion, in reference coordinates).

    Parameters
    ----------
    genome : Genome
        Reference; bases off the contig are ``N``.
    chrom : str
        Contig (aliases accepted).
    anchor : int
        0-based reference position of the anchor (e.g. a TSS).
    left, right : int
        Haplotype bases before the anchor, and from the anchor on (anchor included).
    variants : sequence of Variant
        ALT alleles of the haplotype near the anchor. The reference span used is
        ``[anchor - left - d, anchor + right + d]``, ``d`` the bases all given variants
        delete, so pass every variant of that span.

    Returns
    -------
    str
        Exactly ``left + right`` bases.
    """
    if left < 0 or right < 0:
        raise ValueError(f"left and right must be >= 0, got {left}, {right}")
    deleted = sum(max(0, len(v.ref) - len(v.alt)) for v in variants)
    span = personal_sequence(
        genome, chrom, anchor - left - deleted, anchor + right + deleted + 1, variants
    )
    centre = int(span.ref_to_hap(anchor))
    return span.sequence[centre - left : centre + right]


def _check_disjoint(variants: list[Variant]) -> None:
    """Raise when two variants (sorted by position) have overlapping REF alleles."""
    for before, after in pairwise(variants):
        if after.pos0 < before.end0:
            raise InputError(
                after.source or "<variants>",
                f"overlaps {before.label} on the same haplotype (REF alleles "
                f"{before.ref} and {after.ref}).",
                record=after.label,
                fix="a haplotype cannot carry both; check the phasing, or merge them into "
                "one record (`bcftools norm -m+`).",
            )


def _apply(
    reference: str, offset: int, variants: list[Variant]
) -> tuple[str, np.ndarray, np.ndarray]:
    """Apply sorted, disjoint variants to ``reference`` (which starts at ``offset``).

    Returns the haplotype sequence, the haplotype index of each reference base plus one
    past the end, and the reference position of each haplotype base (``-1`` inserted).
    """
    parts: list[str] = []
    hap_index: list[np.ndarray] = []
    ref_index = np.empty(len(reference) + 1, dtype=np.int64)
    cursor, length = offset, 0
    for variant in variants:
        kept = variant.pos0 - cursor
        parts.append(reference[cursor - offset : variant.pos0 - offset])
        hap_index.append(np.arange(cursor, variant.pos0))
        ref_index[cursor - offset : variant.pos0 - offset] = length + np.arange(kept)
        length += kept
        aligned = min(len(variant.ref), len(variant.alt))
        parts.append(variant.alt)
        hap_index.append(np.arange(variant.pos0, variant.pos0 + aligned))
        hap_index.append(np.full(len(variant.alt) - aligned, -1))
        ref_index[variant.pos0 - offset : variant.pos0 - offset + aligned] = length + np.arange(
            aligned
        )
        length += len(variant.alt)
        ref_index[variant.pos0 - offset + aligned : variant.end0 - offset] = length
        cursor = variant.end0
    parts.append(reference[cursor - offset :])
    hap_index.append(np.arange(cursor, offset + len(reference)))
    ref_index[cursor - offset :] = length + np.arange(len(reference) - (cursor - offset) + 1)
    return "".join(parts), ref_index, np.concatenate(hap_index).astype(np.int64)
