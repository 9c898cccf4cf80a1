"""Variant effects from a VCF: ExPecto's chromatin.py windows through a chromatin model.

For every variant and shift ``s`` in 0, ±200 … ±800, the chromatin model is run on the
REF and ALT windows; ``alt − ref`` goes through the distance weighting and the tissue
models of :func:`~exprflow.models.expecto.effects.effects_table`. Distinct windows are
run once (:class:`~exprflow.scoring.dedup.WindowBank`): a REF window depends only on its
centre, so variants at the same position or 200·j bp apart share them.

Window geometry (chromatin.py), for a variant whose REF starts at 0-based ``p``
--------------------------------------------------------------------------------
chromatin.py fetches 2,100 bp, genome ``[p + s − 1049, p + s + 1051)``, so the REF starts
at fetch index ``m = 1049 − s``. It writes the allele there, ``seq[:m] + allele +
seq[m + len(REF):]`` (``L = 2100 + len(allele) − len(REF)`` bases), and keeps the central
2,000: indices ``[o, o + 2000)`` with ``o = floor((L − 2000) / 2)``.

* REF windows and SNV ALT windows (``o = 50``): genome ``[p + s − 999, p + s + 1001)``;
  the variant is at window index ``999 − s`` (999 at shift 0, the centre index of the TSS
  windows in :mod:`~exprflow.models.expecto.features`).
* Indels, ``k = len(ALT) − len(REF)``: ``o = 50 + floor(k / 2)``. An insertion moves the
  window ``floor(k/2)`` bases downstream along the ALT sequence (window index ``i`` is
  genome ``p + s − 999 + floor(k/2) + i`` left of the variant), so both flanks lose about
  ``k/2`` bases; a deletion moves it ``ceil(|k|/2)`` bases upstream, and both flanks gain.
* Where chromatin.py breaks, the same formula is applied to the whole ALT haplotype
  (genome left of ``p``, the ALT, genome after the REF): deletions longer than 100 bp
  (``L < 2000``: its slice start goes negative and Python wraps it) take the extra bases
  from the genome beyond the 2,100; a REF that runs past the fetch (longer than
  ``1051 + s``) is kept whole, as chromatin.py keeps it, and ``L`` counts no bases after it.

Departures from chromatin.py: a REF that disagrees with the FASTA is an
:class:`~exprflow.errors.InputError` naming the variant (chromatin.py only counts
mismatches); every variant is scored, chromatin.py keeps only chr1–22, X, Y; a variant
whose windows reach past a contig end is an error unless ``allow_padding`` (then ``N``,
all-zero input, fills the missing bases; chromatin.py's pyfasta would return a short,
off-centre sequence). The chromatin plug-in averages forward and reverse-complement
outputs per window, so the difference is ``mean(alt) − mean(ref)``, which equals
chromatin.py's mean of per-strand differences up to float32 rounding.

Files: with ``export``, :func:`vcf_effects` also writes ExPecto's
``<prefix>.shift_<S>.diff.h5`` and ``<prefix>.closestgene`` (formats in
:mod:`exprflow.models.expecto.diff_files`; chrom as in the VCF), which
:func:`~exprflow.models.expecto.effects.effects_from_diffs` reads back. Reads the genome
through :class:`~exprflow.genome.fasta.Genome`; variants come in as
:class:`~exprflow.genome.variant.Variant` (e.g. :func:`~exprflow.genome.vcf.read_sites`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Final, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tqdm.auto import tqdm

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.variant import Variant, check_ref
from exprflow.models.expecto.diff_files import closest_genes, open_diff_files, write_closest_genes
from exprflow.models.expecto.effects import effect_shifts, effects_table
from exprflow.models.expecto.features import WINDOW
from exprflow.models.expecto.tissue import LinearTissueModel
from exprflow.scoring.dedup import Chromatin, WindowBank

__all__ = ["FETCH_LENGTH", "VariantWindows", "VcfEffects", "variant_windows", "vcf_effects"]

#: Bases chromatin.py fetches around each window centre before cropping to 2,000.
FETCH_LENGTH: Final = WINDOW + 100
_MUTPOS: Final = FETCH_LENGTH // 2 - 1  # fetch index of the variant at shift 0 (1049)
_OUTPUTS: Final = "the chromatin model's outputs"


class VariantWindows(NamedTuple):
    """The 2,000-bp windows of one variant, one per shift (in the shifts' order)."""

    ref: list[str]
    alt: list[str]


class VcfEffects(NamedTuple):
    """Effects computed from a VCF, and what it took.

    Attributes
    ----------
    effects : pandas.DataFrame
        :data:`~exprflow.models.expecto.effects.ID_COLUMNS`, then one column per tissue.
    windows_requested : int
        REF and ALT windows over all variants and shifts (``2 × 9 × n``).
    windows_evaluated : int
        Distinct windows run through the chromatin model.
    padded_variants : int
        Variants whose windows reach past a contig end (``N``-padded).
    """

    effects: pd.DataFrame
    windows_requested: int
    windows_evaluated: int
    padded_variants: int


def _window_start(variant: Variant, allele: str, shift: int) -> int:
    """First base of chromatin.py's cropped window, in the allele's haplotype coordinates."""
    mutpos = _MUTPOS - shift
    length = mutpos + len(allele) + max(0, FETCH_LENGTH - mutpos - len(variant.ref))
    return variant.pos0 + shift - _MUTPOS + (length - WINDOW) // 2


def _span(variant: Variant, shifts: Sequence[int]) -> tuple[int, int]:
    """Genome interval ``[lo, hi)`` holding every base of the variant's windows."""
    lo, hi = variant.pos0, variant.end0
    for allele in (variant.ref, variant.alt):
        for shift in shifts:
            start = _window_start(variant, allele, shift)
            lo = min(lo, start)
            hi = max(hi, start + WINDOW - len(allele) + len(variant.ref))
    return lo, hi


def variant_windows(genome: Genome, variant: Variant, shifts: Sequence[int]) -> VariantWindows:
    """Build chromatin.py's REF and ALT windows of a variant (geometry: module docstring).

    Parameters
    ----------
    genome : Genome
        Reference; bases past a contig end come back as ``N``.
    variant : Variant
        The variant (REF as in the genome; not checked here).
    shifts : sequence of int
        Window-centre shifts in bp, e.g. :func:`~exprflow.models.expecto.effects.effect_shifts`.

    Returns
    -------
    VariantWindows
        ``ref`` and ``alt``: one 2,000-base upper-case string per shift.
    """
    lo, hi = _span(variant, shifts)
    context = genome.fetch(variant.chrom, lo, hi)
    left, right = context[: variant.pos0 - lo], context[variant.end0 - lo :]
    windows = []
    for allele in (variant.ref, variant.alt):
        haplotype = left + allele + right
        starts = [_window_start(variant, allele, shift) - lo for shift in shifts]
        windows.append([haplotype[start : start + WINDOW] for start in starts])
    return VariantWindows(*windows)


def _check_variants(
    variants: Sequence[Variant], genome: Genome, shifts: Sequence[int], allow_padding: bool
) -> int:
    """Check every REF and window span before any model runs; return the padded count."""
    padded = 0
    for variant in variants:
        check_ref(variant, genome)
        lo, hi = _span(variant, shifts)
        length = genome.contigs[genome.resolve(variant.chrom)]
        if lo >= 0 and hi <= length:
            continue
        if not allow_padding:
            raise InputError(
                variant.source or "<variants>",
                f"its windows need {variant.chrom}:{lo + 1}-{hi} (1-based), reaching past an "
                f"end of the {length:,} bp contig in {genome.path}.",
                record=variant.label,
                fix="drop the variant, or allow N padding (allow_padding).",
            )
        padded += 1
    return padded


def _chunk_diffs(
    variants: Sequence[Variant],
    genome: Genome,
    chromatin: Chromatin,
    shifts: Sequence[int],
    bank: WindowBank,
    batch_size: int,
) -> NDArray[np.float32]:
    """Alt − ref chromatin of some variants, float32 (n_shifts, n_variants, F)."""
    ref, alt = [], []
    for variant in variants:
        windows = variant_windows(genome, variant, shifts)
        ref.append(bank.add(windows.ref))
        alt.append(bank.add(windows.alt))
    bank.evaluate(chromatin, batch_size)
    diffs = bank.features(np.stack(alt, axis=1)) - bank.features(np.stack(ref, axis=1))
    bank.clear()
    return diffs


def vcf_effects(
    variants: Sequence[Variant],
    genome: Genome,
    chromatin: Chromatin,
    genes: pd.DataFrame,
    models: Sequence[LinearTissueModel],
    *,
    max_shift: int = 800,
    export: str | os.PathLike[str] | None = None,
    allow_padding: bool = False,
    chunk_size: int = 256,
    batch_size: int = 1024,
    progress: bool = True,
) -> VcfEffects:
    """Compute ExPecto variant effects from variants, a genome and a chromatin model.

    Parameters
    ----------
    variants : sequence of Variant
        At least one (e.g. from :func:`~exprflow.genome.vcf.read_sites`).
    genome : Genome
        Reference; every REF is checked against it before any model runs.
    chromatin : Chromatin
        One-hot ``(N, 4, 2000)`` float32 (A, G, C, T) → strand-averaged ``(N, F)``, e.g.
        :class:`~exprflow.models.expecto.plugins.BelugaChromatin`.
    genes : pandas.DataFrame
        Gene table; each variant's gene is its nearest TSS
        (:func:`~exprflow.models.expecto.diff_files.closest_genes`).
    models : sequence of LinearTissueModel
        Tissue models taking 10 × F features (either layout).
    max_shift : int, default 800
        Largest window shift (chromatin.py's ``--maxshift``).
    export : str or PathLike, optional
        Also write ``<export>.shift_<S>.diff.h5`` and ``<export>.closestgene``. Default None.
    allow_padding : bool, default False
        Score variants whose windows reach past a contig end, ``N``-padded.
    chunk_size : int, default 256
        Variants whose windows are de-duplicated and run together (bounds memory).
    batch_size : int, default 1024
        Windows per chromatin call.
    progress : bool, default True
        Show a tqdm bar over variants.

    Returns
    -------
    VcfEffects
        The effects table (variant order) and window counts.

    Raises
    ------
    InputError
        On a REF that disagrees with the FASTA, a contig without genes, windows past a
        contig end (unless ``allow_padding``), or models that do not fit the chromatin.
    """
    if not variants:
        raise ValueError("vcf_effects needs at least one variant")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    shifts = effect_shifts(max_shift)
    nearest = closest_genes(variants, genes)
    padded = _check_variants(variants, genome, shifts, allow_padding)
    bank, tables = WindowBank(WINDOW), []
    with ExitStack() as stack:
        rows = None
        if export is not None:
            rows = stack.enter_context(open_diff_files(export, shifts, len(variants)))
        bar = stack.enter_context(tqdm(total=len(variants), unit="variant", disable=not progress))
        for start in range(0, len(variants), chunk_size):
            chunk = variants[start : start + chunk_size]
            diffs = _chunk_diffs(chunk, genome, chromatin, shifts, bank, batch_size)
            if rows is not None:
                rows.write(start, diffs)
            genes_chunk = nearest.iloc[start : start + len(chunk)]
            table = effects_table(
                diffs.astype(np.float64), genes_chunk, models, shifts, source=_OUTPUTS
            )
            tables.append(table)
            bar.update(len(chunk))
        if export is not None:
            write_closest_genes(nearest, f"{export}.closestgene")
    effects = pd.concat(tables, ignore_index=True)
    return VcfEffects(effects, bank.requested, bank.evaluations, padded)
