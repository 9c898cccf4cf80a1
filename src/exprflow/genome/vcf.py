"""Variants from VCF/BCF: sites-only lists and phased genotypes by region.

Formats read
------------
* :func:`read_sites` reads the sites of a VCF, ignoring any genotype columns.
  bgzip/gzip-compressed VCF and BCF go through ``pysam.VariantFile``. **Plain-text VCF is
  read tolerantly** by a small parser of its first five columns (CHROM POS ID REF ALT):
  ``##`` meta lines (``##fileformat`` included) are optional, the ``#CHROM`` line may
  carry stray spaces and may be absent (ExPecto's 5-column ``example.vcf``), and trailing
  columns (QUAL, FILTER, INFO) may be missing. htslib refuses such files, yet published
  variant lists look like this.
* :class:`PhasedVCF` reads genotypes by region from a bgzipped, tabix-indexed VCF (or an
  indexed BCF) through ``pysam.VariantFile``. :func:`bgzip_index` makes one.

POS is 1-based in the file; :class:`Variant` holds the 0-based ``pos0``. Error messages
name records as in the file, ``chrom:POS id``.

Policy (every refusal is an :class:`~exprflow.errors.InputError` naming the file, the
record and the fix)
--------------------------------------------------------------------------------------
* Unsorted records (a position lower than the previous one, or a contig coming back):
  :func:`read_sites` names the record out of order; an indexed file is sorted by
  construction (htslib refuses to index unsorted records, :func:`bgzip_index` reports it).
  Fix: ``bcftools sort``.
* Multi-allelic records: error. Fix: ``bcftools norm -m-``.
* Symbolic and non-sequence ALT alleles (``<DEL>``, ``*``, breakends, ``.``): the record
  is skipped with a logged warning; counted in ``PhasedVCF.skipped``.
* REF or ALT with characters other than A, C, G, T, N: error.
* REF that disagrees with the FASTA (when a ``genome`` is given), or lies outside it:
  error naming the VCF REF and the FASTA bases. Fix: check the genome build,
  ``bcftools norm -c e -f genome.fa``.
* Missing genotypes (``.``, also one missing allele): error by default;
  ``missing="ref"`` reads each missing allele as REF.
* Unphased heterozygous genotypes (``0/1``): error by default for :meth:`PhasedVCF.genotypes`
  and :meth:`PhasedVCF.haplotypes`; ``unphased="as_written"`` takes the first allele as
  haplotype 1. Unphased homozygous genotypes are unambiguous and accepted.
  :meth:`PhasedVCF.dosages` ignores phase.
* Haploid genotypes (``1``, e.g. male chrX) count as homozygous: both haplotypes carry the
  allele (dosage 0 or 2).
* Samples absent from the file: error listing a few that are present.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pysam

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome._closing import Closing
from exprflow.genome.contigs import contig_aliases
from exprflow.genome.fasta import Genome
from exprflow.genome.genotypes import Dosages, Genotypes, Missing, Unphased, parse_alleles
from exprflow.genome.variant import RecordOrder, Variant, check_ref, variant_from_alleles

__all__ = ["PhasedVCF", "bgzip_index", "read_sites"]

_HEADER = ["#CHROM", "POS", "ID", "REF", "ALT"]


def read_sites(path: str | os.PathLike[str], genome: Genome | None = None) -> list[Variant]:
    """Read the variant sites of a VCF/BCF (genotype columns, if any, are ignored).

    Parameters
    ----------
    path : str or PathLike
        VCF (plain, read tolerantly; or compressed) or BCF.
    genome : Genome, optional
        When given, every REF is checked against it. Default None.

    Returns
    -------
    list of Variant
        In file order, symbolic records skipped.

    Raises
    ------
    InputError
        On a malformed, unsorted, multi-allelic or wrong-REF record (see module policy).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "VCF file not found.", fix="check the path.")
    with open(path, "rb") as head:
        compressed = head.read(2) == b"\x1f\x8b"
    rows = _pysam_rows(path) if compressed or path.suffix == ".bcf" else _text_rows(path)
    order = RecordOrder(path)
    variants = []
    for chrom, pos_text, vid, ref, alts in rows:
        variant = variant_from_alleles(path, chrom, pos_text, vid, ref, alts)
        if variant is None:
            continue
        order.check(variant)
        if genome is not None:
            check_ref(variant, genome)
        variants.append(variant)
    return variants


_Row = tuple[str, str, str, str, list[str]]


def _text_rows(path: Path) -> Iterator[_Row]:
    """Yield ``(chrom, pos, id, ref, alts)`` from a plain-text VCF, tolerantly."""
    with open(path) as lines:
        for number, line in enumerate(lines, start=1):
            if line.startswith("##") or not line.strip():
                continue
            if line.startswith("#"):
                if line.split()[:5] != _HEADER:
                    raise InputError(
                        path,
                        f"header line starts {line.split()[:5]}, expected {_HEADER}.",
                        record=f"line {number}",
                        fix="write the #CHROM POS ID REF ALT header, tab-separated.",
                    )
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 5:
                raise InputError(
                    path,
                    f"has {len(fields)} tab-separated column(s), a VCF record needs at least "
                    "5 (CHROM POS ID REF ALT).",
                    record=f"line {number}",
                    fix="separate the columns with tabs.",
                )
            yield fields[0], fields[1], fields[2], fields[3], fields[4].split(",")


def _pysam_rows(path: Path) -> Iterator[_Row]:
    """Yield ``(chrom, pos, id, ref, alts)`` from a compressed VCF or a BCF via pysam."""
    try:
        with pysam.VariantFile(str(path), drop_samples=True) as vcf:
            for rec in vcf:
                yield rec.chrom, str(rec.pos), rec.id or ".", rec.ref or "", list(rec.alts or ())
    except (OSError, ValueError) as exc:
        raise InputError(
            path, f"cannot be parsed as VCF/BCF ({exc}).", fix="check it with `bcftools view`."
        ) from exc


class PhasedVCF(Closing):
    """Region queries of genotypes in an indexed VCF/BCF.

    Parameters
    ----------
    path : str or PathLike
        bgzipped VCF with a ``.tbi``/``.csi`` index, or indexed BCF.
    genome : Genome, optional
        When given, every REF read is checked against it. Default None.
    unphased : {"error", "as_written"}, optional
        Unphased heterozygous genotypes: refuse, or take the written order. Default "error".
    missing : {"error", "ref"}, optional
        Missing alleles: refuse, or read as REF. Default "error".

    Attributes
    ----------
    path : Path
        The file.
    skipped : int
        Symbolic records skipped so far.

    Notes
    -----
    Contigs are matched through aliases (``chr1``↔``1``). A contig without records in
    the index, under any alias, has no variants: a VCF lists variants, not contigs.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        genome: Genome | None = None,
        *,
        unphased: Unphased = "error",
        missing: Missing = "error",
    ) -> None:
        self.path = Path(path)
        self.genome = genome
        self.unphased = unphased
        self.missing = missing
        self.skipped = 0
        try:
            self._vcf = pysam.VariantFile(str(self.path))
        except (OSError, ValueError) as exc:
            raise InputError(
                self.path, f"cannot be opened as VCF/BCF ({exc}).", fix=_INDEX_FIX
            ) from exc
        if self._vcf.index is None:
            self._vcf.close()
            raise InputError(self.path, "has no index for region queries.", fix=_INDEX_FIX)
        self._indexed = {str(name) for name in self._vcf.index}
        self._columns = {sample: i for i, sample in enumerate(self._vcf.header.samples)}

    @property
    def samples(self) -> list[str]:
        """Sample ids, in file order."""
        return list(self._columns)

    def variants(self, chrom: str, start: int, end: int) -> list[Variant]:
        """Return the variant records overlapping ``chrom:[start, end)`` (0-based half-open).

        Parameters
        ----------
        chrom : str
            Contig (aliases accepted).
        start, end : int
            0-based half-open region.

        Returns
        -------
        list of Variant
            In file order, symbolic records skipped.
        """
        return [variant for variant, _ in self._records(chrom, start, end)]

    def genotypes(
        self, chrom: str, start: int, end: int, samples: Sequence[str] | None = None
    ) -> Genotypes:
        """Return phased ALT alleles of ``samples`` for the records overlapping a region.

        Parameters
        ----------
        chrom : str
            Contig (aliases accepted).
        start, end : int
            0-based half-open region.
        samples : sequence of str, optional
            Which samples, in which order. Default None: all, in file order.

        Returns
        -------
        Genotypes
            ``alleles`` of shape ``(V, S, 2)``.
        """
        return self._genotypes(chrom, start, end, samples, need_phase=True)

    def haplotypes(
        self, sample: str, chrom: str, start: int, end: int
    ) -> tuple[list[Variant], list[Variant]]:
        """Return the variants whose ALT allele haplotype 1 and haplotype 2 of ``sample`` carry.

        Parameters
        ----------
        sample : str
            Sample id.
        chrom : str
            Contig (aliases accepted).
        start, end : int
            0-based half-open region.

        Returns
        -------
        (list of Variant, list of Variant)
            ALT-carrying variants of haplotype 1 and of haplotype 2.
        """
        return self.genotypes(chrom, start, end, [sample]).haplotypes(sample)

    def dosages(
        self, chrom: str, start: int, end: int, samples: Sequence[str] | None = None
    ) -> Dosages:
        """Return ALT allele counts (0/1/2) for the records overlapping a region; phase ignored.

        Parameters
        ----------
        chrom : str
            Contig (aliases accepted).
        start, end : int
            0-based half-open region.
        samples : sequence of str, optional
            Which samples, in which order. Default None: all, in file order.

        Returns
        -------
        Dosages
            ``values`` int8 of shape ``(V, S)``.
        """
        found = self._genotypes(chrom, start, end, samples, need_phase=False)
        return Dosages(found.variants, found.samples, found.alleles.sum(axis=2, dtype=np.int8))

    def _genotypes(
        self, chrom: str, start: int, end: int, samples: Sequence[str] | None, need_phase: bool
    ) -> Genotypes:
        """Read the alleles of ``samples`` in a region, applying the missing/unphased policy."""
        names = self.samples if samples is None else list(samples)
        for sample in names:
            self._check_sample(sample)
        columns = None if names == self.samples else [self._columns[name] for name in names]
        variants, rows = [], []
        for variant, rec in self._records(chrom, start, end):
            variants.append(variant)
            rows.append(self._alleles(variant, rec, names, columns, need_phase))
        alleles = np.stack(rows) if rows else np.zeros((0, len(names), 2), np.int8)
        return Genotypes(variants, names, alleles)

    def _alleles(
        self,
        variant: Variant,
        rec: pysam.VariantRecord,
        names: list[str],
        columns: list[int] | None,
        need_phase: bool,
    ) -> np.ndarray:
        """Return the ``(S, 2)`` int8 alleles of one record (``columns`` None: all samples)."""
        fields = str(rec).rstrip("\n").split("\t")
        if len(fields) < 10 or fields[8].split(":")[0] != "GT":
            raise InputError(
                self.path,
                "has no GT genotype field.",
                record=variant.label,
                fix="give a VCF with GT as the first FORMAT field.",
            )
        values = fields[9:] if columns is None else [fields[9 + c] for c in columns]
        gts = values if fields[8] == "GT" else [value.partition(":")[0] for value in values]
        return parse_alleles(
            self.path,
            variant,
            gts,
            names,
            missing=self.missing,
            unphased=self.unphased,
            need_phase=need_phase,
        )

    def _check_sample(self, sample: str) -> None:
        """Raise, listing a few samples of the file, when ``sample`` is not in it."""
        if sample not in self._columns:
            shown = ", ".join(list(self._columns)[:5]) or "none"
            raise InputError(
                self.path,
                f"sample {sample!r} is not in the file; it has {len(self._columns)} "
                f"samples, e.g. {shown}.",
                record=sample,
                fix="check the sample ids against the #CHROM header line.",
            )

    def _records(
        self, chrom: str, start: int, end: int
    ) -> Iterator[tuple[Variant, pysam.VariantRecord]]:
        """Yield checked ``(variant, record)`` pairs overlapping a region."""
        contig = next((name for name in contig_aliases(chrom) if name in self._indexed), None)
        if contig is None:
            return
        for rec in self._vcf.fetch(contig, max(start, 0), end):
            alts = list(rec.alts or ())
            variant = variant_from_alleles(
                self.path, rec.chrom, str(rec.pos), rec.id or ".", rec.ref or "", alts
            )
            if variant is None:
                self.skipped += 1
                continue
            if self.genome is not None:
                check_ref(variant, self.genome)
            yield variant, rec

    def close(self) -> None:
        """Close the file."""
        self._vcf.close()


_INDEX_FIX = "bgzip and index it: `bgzip x.vcf && tabix -p vcf x.vcf.gz` (or bgzip_index)."


def bgzip_index(src: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None) -> Path:
    """bgzip-compress a sorted plain VCF and write its tabix index, atomically.

    Parameters
    ----------
    src : str or PathLike
        Sorted, uncompressed VCF.
    dest : str or PathLike, optional
        Output ``.vcf.gz``. Default None: ``src`` + ``.gz``. The index is ``dest`` + ``.tbi``.

    Returns
    -------
    Path
        ``dest``.
    """
    src = Path(src)
    dest = Path(dest) if dest is not None else src.with_name(src.name + ".gz")
    with atomic_path(dest) as tmp:
        pysam.tabix_compress(str(src), str(tmp), force=True)
        with atomic_path(dest.with_name(dest.name + ".tbi")) as tbi:
            try:
                pysam.tabix_index(str(tmp), preset="vcf", index=str(tbi), force=True)
            except OSError as exc:
                raise InputError(
                    src, f"cannot be indexed ({exc}).", fix="sort it: `bcftools sort`."
                ) from exc
    return dest
