"""Genotype matrices of a region and the policy that turns VCF GT text into them.

:class:`~exprflow.genome.vcf.PhasedVCF` reads the GT strings of each record and hands
them to :func:`parse_alleles`, which applies the documented policy:

* missing alleles (``.``): error, or REF under ``missing="ref"``;
* unphased heterozygous calls (``0/1``): error when phase is needed, unless
  ``unphased="as_written"`` (first allele on haplotype 1); unphased homozygous calls are
  unambiguous and accepted;
* haploid calls (``1``) count as homozygous on both haplotypes;
* anything but alleles 0, 1 and ``.`` in at most two copies: error.

Reads and writes no files; errors name the VCF given as ``path``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np

from exprflow.errors import InputError
from exprflow.genome.variant import Variant

__all__ = ["Dosages", "Genotypes", "Missing", "Unphased", "parse_alleles"]

#: What to do with missing alleles: refuse, or read them as REF.
Missing = Literal["error", "ref"]
#: What to do with unphased heterozygous calls: refuse, or take the written order.
Unphased = Literal["error", "as_written"]

_GT_SPLIT = re.compile(r"[|/]")


class Genotypes(NamedTuple):
    """Phased genotypes of a region.

    Attributes
    ----------
    variants : list of Variant
        The ``V`` records, in file order.
    samples : list of str
        The ``S`` samples, in the requested order.
    alleles : numpy.ndarray
        int8, shape ``(V, S, 2)``: 1 where haplotype 1 / 2 of the sample carries ALT.
    """

    variants: list[Variant]
    samples: list[str]
    alleles: np.ndarray

    def haplotypes(self, sample: str) -> tuple[list[Variant], list[Variant]]:
        """Return the variants whose ALT haplotype 1 and haplotype 2 of ``sample`` carry.

        Parameters
        ----------
        sample : str
            One of :attr:`samples`.

        Returns
        -------
        (list of Variant, list of Variant)
            ALT-carrying variants of haplotype 1, and of haplotype 2.
        """
        column = self.alleles[:, self.samples.index(sample)]
        first, second = (
            [v for v, carried in zip(self.variants, column[:, h], strict=True) if carried]
            for h in (0, 1)
        )
        return first, second


class Dosages(NamedTuple):
    """ALT allele counts of a region.

    Attributes
    ----------
    variants : list of Variant
        The ``V`` records, in file order.
    samples : list of str
        The ``S`` samples, in the requested order.
    values : numpy.ndarray
        int8, shape ``(V, S)``, values 0, 1 or 2.
    """

    variants: list[Variant]
    samples: list[str]
    values: np.ndarray


@lru_cache(maxsize=1024)
def _parse_gt(text: str) -> tuple[int, int, int] | None:
    """Parse a biallelic GT into ``(allele1, allele2, phased)``; -1 is missing; None if bad.

    Haploid calls are doubled (homozygous); they and ``|`` calls count as phased.
    """
    parts = _GT_SPLIT.split(text)
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or any(part not in {"0", "1", "."} for part in parts):
        return None
    first, second = (-1 if part == "." else int(part) for part in parts)
    return first, second, int("/" not in text)


def parse_alleles(
    path: str | os.PathLike[str],
    variant: Variant,
    gts: list[str],
    samples: list[str],
    *,
    missing: Missing = "error",
    unphased: Unphased = "error",
    need_phase: bool = True,
) -> np.ndarray:
    """Turn one record's GT strings into haplotype alleles, applying the module policy.

    Parameters
    ----------
    path : str or PathLike
        The VCF, named in errors.
    variant : Variant
        The record, named in errors.
    gts : list of str
        GT values (``"0|1"``, ``"1/1"``, ``"."``, …), one per sample.
    samples : list of str
        Sample ids, aligned with ``gts``.
    missing : {"error", "ref"}, optional
        Missing-allele policy. Default "error".
    unphased : {"error", "as_written"}, optional
        Unphased-heterozygote policy. Default "error".
    need_phase : bool, optional
        Whether phase matters (False for dosages). Default True.

    Returns
    -------
    numpy.ndarray
        int8, shape ``(len(gts), 2)``, values 0 or 1.

    Raises
    ------
    InputError
        Naming the record and the first offending sample.
    """
    index: dict[str, int] = {}
    codes = np.fromiter(
        (index.setdefault(gt, len(index)) for gt in gts), dtype=np.intp, count=len(gts)
    )
    table = [_parse_gt(gt) for gt in index]
    for text, gt in zip(index, table, strict=True):
        if gt is None:
            raise InputError(
                path,
                f"sample {samples[gts.index(text)]} has GT {text!r}, not a biallelic call of "
                "0, 1 or '.'.",
                record=variant.label,
                fix="split multi-allelic records (`bcftools norm -m-`); give diploid or "
                "haploid calls.",
            )
    calls = np.array(table, dtype=np.int8).reshape(len(table), 3)[codes]
    alleles, phased = calls[:, :2], calls[:, 2].astype(bool)
    _apply_missing(path, variant, samples, alleles, missing)
    if need_phase and unphased == "error":
        _check_phased(path, variant, samples, alleles, phased)
    return alleles


def _apply_missing(
    path: str | os.PathLike[str],
    variant: Variant,
    samples: list[str],
    alleles: np.ndarray,
    missing: Missing,
) -> None:
    """Refuse missing alleles, or set them to REF (0) in place under ``missing="ref"``."""
    absent = alleles < 0
    if not absent.any():
        return
    if missing == "error":
        sample = samples[int(np.flatnonzero(absent.any(axis=1))[0])]
        raise InputError(
            path,
            f"sample {sample} has a missing genotype ('.').",
            record=variant.label,
            fix="impute the genotypes, or pass missing='ref' to read them as REF.",
        )
    alleles[absent] = 0


def _check_phased(
    path: str | os.PathLike[str],
    variant: Variant,
    samples: list[str],
    alleles: np.ndarray,
    phased: np.ndarray,
) -> None:
    """Refuse unphased heterozygous genotypes."""
    bad = (alleles[:, 0] != alleles[:, 1]) & ~phased
    if bad.any():
        raise InputError(
            path,
            f"sample {samples[int(np.flatnonzero(bad)[0])]} has an unphased heterozygous "
            "genotype ('/'), so its haplotypes are unknown.",
            record=variant.label,
            fix="phase the VCF (e.g. SHAPEIT, Beagle), or pass unphased='as_written'.",
        )
