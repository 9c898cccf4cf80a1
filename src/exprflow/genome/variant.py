"""The :class:`Variant` record and the checks every variant source applies.

Shared by the VCF readers (:mod:`exprflow.genome.vcf`) and the haplotype builder
(:mod:`exprflow.genome.haplotype`): allele validation (symbolic alleles skipped,
multi-allelic records refused), record order, and REF against the FASTA. Reads and writes
no files itself; errors name the file a variant came from (``Variant.source``).

``Variant.pos0`` is 0-based; labels in messages show the 1-based VCF ``POS``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome

__all__ = ["RecordOrder", "Variant", "check_ref", "variant_from_alleles"]

log = logging.getLogger(__name__)

_BASES = re.compile(r"^[ACGTN]+$")
_SHOWN = 20


@dataclass(frozen=True)
class Variant:
    """One biallelic sequence variant.

    Parameters
    ----------
    chrom : str
        Contig as written in the source.
    pos0 : int
        0-based position of the first REF base (VCF ``POS - 1``).
    ref, alt : str
        Upper-case alleles of A, C, G, T, N, VCF-style (indels share their first base).
    id : str, optional
        Variant id (VCF ``ID``), None when ``.``. Default None.
    source : str, optional
        File the variant was read from, named in errors; not compared. Default None.
    """

    chrom: str
    pos0: int
    ref: str
    alt: str
    id: str | None = None
    source: str | None = field(default=None, compare=False, repr=False)

    @property
    def end0(self) -> int:
        """0-based end (exclusive) of the REF allele."""
        return self.pos0 + len(self.ref)

    @property
    def label(self) -> str:
        """``chrom:POS id`` with the 1-based VCF position, as in error messages."""
        return f"{self.chrom}:{self.pos0 + 1} {self.id or '.'}"


def _is_symbolic(allele: str) -> bool:
    """Return whether an ALT allele is symbolic, a breakend, ``*`` or ``.``."""
    return (
        allele in {"*", "."}
        or allele.startswith(("<", "."))
        or allele.endswith(".")
        or "[" in allele
        or "]" in allele
    )


def variant_from_alleles(
    path: str | os.PathLike[str], chrom: str, pos: str, vid: str, ref: str, alts: list[str]
) -> Variant | None:
    """Build a :class:`Variant` from VCF columns, or None for a skipped symbolic record.

    Parameters
    ----------
    path : str or PathLike
        Source file, named in errors and kept as ``Variant.source``.
    chrom, pos, vid, ref : str
        VCF CHROM, POS (1-based, as text), ID and REF.
    alts : list of str
        ALT alleles.

    Returns
    -------
    Variant or None
        None (with a logged warning) when the ALT is symbolic (``<DEL>``, ``*``,
        breakends, ``.``).

    Raises
    ------
    InputError
        On a non-integer POS, a multi-allelic record, or non-ACGTN alleles.
    """
    label = f"{chrom}:{pos} {vid}"
    if not pos.isdigit() or int(pos) < 1:
        raise InputError(path, f"POS {pos!r} is not a positive integer.", record=label)
    if len(alts) > 1:
        raise InputError(
            path,
            f"is multi-allelic (ALT {','.join(alts)}); only biallelic records are read.",
            record=label,
            fix="split it: `bcftools norm -m- in.vcf.gz -Oz -o split.vcf.gz`.",
        )
    alt = alts[0] if alts else "."
    if _is_symbolic(alt):
        log.warning("%s: %s has symbolic ALT %r; skipped", path, label, alt)
        return None
    ref, alt = ref.upper(), alt.upper()
    if not (_BASES.match(ref) and _BASES.match(alt)):
        raise InputError(
            path,
            f"REF {ref!r} / ALT {alt!r} must be made of A, C, G, T, N.",
            record=label,
            fix="drop or correct the record.",
        )
    return Variant(chrom, int(pos) - 1, ref, alt, None if vid == "." else vid, str(path))


class RecordOrder:
    """Check that records come grouped by contig and sorted by position.

    Parameters
    ----------
    path : str or PathLike
        Source file, named in errors.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._done: set[str] = set()
        self._chrom: str | None = None
        self._pos = -1

    def check(self, variant: Variant) -> None:
        """Accept the next record, or raise naming it when it is out of order.

        Parameters
        ----------
        variant : Variant
            The record just read.
        """
        fix = "sort it: `bcftools sort in.vcf -Oz -o sorted.vcf.gz`."
        if variant.chrom != self._chrom:
            if variant.chrom in self._done:
                raise InputError(
                    self.path,
                    f"contig {variant.chrom} comes back after {self._chrom}: records are not "
                    "sorted.",
                    record=variant.label,
                    fix=fix,
                )
            if self._chrom is not None:
                self._done.add(self._chrom)
            self._chrom, self._pos = variant.chrom, -1
        elif variant.pos0 < self._pos:
            raise InputError(
                self.path,
                f"position {variant.pos0 + 1} comes after {self._pos + 1}: records are not sorted.",
                record=variant.label,
                fix=fix,
            )
        self._pos = variant.pos0


def _clip(bases: str) -> str:
    """Shorten long alleles for messages."""
    return bases if len(bases) <= _SHOWN else f"{bases[:_SHOWN]}…({len(bases)} bp)"


def check_ref(variant: Variant, genome: Genome) -> None:
    """Check that the REF allele of ``variant`` matches the genome.

    Parameters
    ----------
    variant : Variant
        The variant; its ``source`` is the file named in errors.
    genome : Genome
        The reference.

    Raises
    ------
    InputError
        When the REF lies outside the sequence the FASTA holds, or differs from it.
    """
    source = variant.source or "<variants>"
    found = genome.fetch_padded(variant.chrom, variant.pos0, variant.end0)
    if found.left_pad or found.right_pad or found.inner_pad:
        raise InputError(
            source,
            f"lies outside the sequence held by the FASTA {genome.path}.",
            record=variant.label,
            fix="check that the VCF and the FASTA use the same genome build.",
        )
    if found.sequence != variant.ref:
        raise InputError(
            source,
            f"REF {_clip(variant.ref)} disagrees with the FASTA {genome.path}, which has "
            f"{_clip(found.sequence)} there.",
            record=variant.label,
            fix="check the genome build (hg19 vs hg38) of the VCF and the FASTA; "
            "`bcftools norm -c e -f genome.fa` lists every bad record.",
        )
