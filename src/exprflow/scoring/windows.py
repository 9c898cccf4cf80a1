"""ExPecto window geometry: 200 windows of 2000 bp around a TSS, cut from a haplotype.

The geometry is ExPecto's own (:mod:`exprflow.models.expecto.features`, re-exported here).
ExPecto (and the personalized-expression benchmark) reads a gene through 200 windows of
:data:`WINDOW` = 2000 bp whose centres sit at ``TSS + shift × strand`` for the
:data:`SHIFTS` ``-20000, -19800, …, 19800`` (strand ``+1`` or ``-1``); a window is
``[centre - 999, centre + 1001)``, so its centre is at index :data:`CENTRE` = 999. On the
``-`` strand the centres are mirrored but the sequence is not reverse-complemented (the
chromatin model averages both strands anyway).

:func:`haplotype_windows` cuts the 200 windows of one haplotype (SNVs and indels): the
span the windows need is built with :func:`~exprflow.genome.haplotype.anchored_window`,
so the TSS base keeps its place and every centre is measured on the haplotype from it;
indels move the bases inside a window, never the TSS. The reference windows are the same
call with no variants.

Coordinates are 0-based (``tss`` is the 0-based position of the TSS base). Reads the
genome through :class:`~exprflow.genome.fasta.Genome`; writes no files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.haplotype import anchored_window
from exprflow.genome.variant import Variant
from exprflow.models.expecto.features import CENTRE_INDEX, SHIFTS, WINDOW

__all__ = [
    "CENTRE",
    "N_WINDOWS",
    "SHIFTS",
    "WINDOW",
    "check_gene_span",
    "gene_span",
    "haplotype_windows",
    "strand_sign",
    "window_offsets",
]

#: 0-based index of the window centre: a window is ``[centre - 999, centre + 1001)``.
CENTRE = CENTRE_INDEX
#: Windows per gene.
N_WINDOWS = len(SHIFTS)


def strand_sign(strand: str) -> int:
    """Return ``+1`` for ``"+"`` and ``-1`` for ``"-"``.

    Parameters
    ----------
    strand : str
        ``"+"`` or ``"-"``.

    Returns
    -------
    int
        The sign the shifts are multiplied by.
    """
    if strand not in ("+", "-"):
        raise ValueError(f"strand must be '+' or '-', got {strand!r}")
    return 1 if strand == "+" else -1


def window_offsets(strand: str) -> np.ndarray:
    """Return the window centres relative to the TSS, ``SHIFTS × strand``, in shift order.

    Parameters
    ----------
    strand : str
        ``"+"`` or ``"-"``.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(200,)``.
    """
    return SHIFTS * strand_sign(strand)


def gene_span(strand: str) -> tuple[int, int]:
    """Return ``(left, right)``: bases the windows need before the TSS, and from it on.

    Parameters
    ----------
    strand : str
        ``"+"`` or ``"-"``.

    Returns
    -------
    (int, int)
        ``(20999, 20801)`` on ``+``, ``(20799, 21001)`` on ``-``; the windows cover
        ``[tss - left, tss + right)`` of the (haplotype) sequence.
    """
    offsets = window_offsets(strand)
    return CENTRE - int(offsets.min()), int(offsets.max()) + WINDOW - CENTRE


def check_gene_span(
    genome: Genome,
    gene_id: str,
    chrom: str,
    tss: int,
    strand: str,
    *,
    allow_padding: bool = False,
) -> bool:
    """Check that a gene's windows lie inside its contig; refuse or allow ``N`` padding.

    Parameters
    ----------
    genome : Genome
        The reference.
    gene_id : str
        Gene, named in the error.
    chrom : str
        Contig (aliases accepted).
    tss : int
        0-based TSS position.
    strand : str
        ``"+"`` or ``"-"``.
    allow_padding : bool, optional
        Accept windows that run past a contig end (they are ``N``-padded). Default False.

    Returns
    -------
    bool
        Whether the gene's reference windows need padding.

    Raises
    ------
    InputError
        When the windows run past a contig end and ``allow_padding`` is False.
    """
    left, right = gene_span(strand)
    length = genome.contigs[genome.resolve(chrom)]
    padded = tss - left < 0 or tss + right > length
    if padded and not allow_padding:
        raise InputError(
            genome.path,
            f"the TSS of gene {gene_id} ({chrom}:{tss + 1}, 1-based, strand {strand}) is "
            f"too close to an end of {chrom} (length {length}): its windows need "
            f"[{tss - left}, {tss + right}) (0-based), {left} bases upstream and {right} "
            "from the TSS on.",
            record=gene_id,
            fix="drop the gene, or pass allow_padding=True to pad its windows with N "
            "(predictions near contig ends are then unreliable).",
        )
    return padded


def haplotype_windows(
    genome: Genome, chrom: str, tss: int, strand: str, variants: Sequence[Variant] = ()
) -> list[str]:
    """Return a haplotype's 200 ExPecto windows, in shift order, with the TSS anchored.

    Parameters
    ----------
    genome : Genome
        Reference; bases off the contig come back as ``N``.
    chrom : str
        Contig (aliases accepted).
    tss : int
        0-based TSS position on the reference.
    strand : str
        ``"+"`` or ``"-"``.
    variants : sequence of Variant, optional
        ALT alleles the haplotype carries near the gene, SNVs and indels; pass every
        variant within the windows' span plus the bases its deletions remove. Default
        ``()``: the reference windows.

    Returns
    -------
    list of str
        200 sequences of :data:`WINDOW` bases; window ``i`` is centred (index
        :data:`CENTRE`) on the haplotype base ``SHIFTS[i] × strand`` away from the TSS.
    """
    left, right = gene_span(strand)
    sequence = anchored_window(genome, chrom, tss, left, right, variants)
    starts = window_offsets(strand) + left - CENTRE
    return [sequence[start : start + WINDOW] for start in starts.tolist()]
