"""Write a Basenji-style ``sequences.bed``: the regions a Basenji2 model reads, by fold.

Like ``bin/basenji_data.py``'s output (and the published hg38 file), the table has no
header and four tab-separated columns: chrom, start, end (0-based half-open, BED),
fold (``train``, ``valid`` or ``test``). Regions are ``size.basenji_seq_length`` bp.

Split: whole contigs are held out. The contigs are shuffled with the rng; with three
or more contigs that hold a region, ``max(1, round(n / 10))`` go to ``valid``, as many
to ``test`` and the rest to ``train``, so folds never share a chromosome. With one or
two such contigs (too few to hold out), every fold takes regions from the same
contigs: the last tenth of each contig's regions (at least one, when it has three or
more) goes to ``test``, the tenth before it to ``valid``; ``chromosome_split`` in the
returned truth says which happened.

Tiling: train contigs are tiled with a stride of half a region (overlapping, as
Basenji's training regions do), valid and test contigs with a stride of one region
(disjoint); each contig's tiling is centred, leaving equal margins. Rows are written
train first, then valid, then test, shuffled within each fold, as in the real file.
File written under ``out_dir``: ``basenji/sequences.bed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.simulate.config import WorldSize

__all__ = ["FOLDS", "SEQUENCES_FILE", "write_sequences_bed"]

SEQUENCES_FILE = "basenji/sequences.bed"
#: Folds in file order.
FOLDS: tuple[str, ...] = ("train", "valid", "test")


def write_sequences_bed(
    out_dir: Path, contigs: dict[str, int], size: WorldSize, rng: np.random.Generator
) -> dict:
    """Tile the contigs with Basenji-length regions and write them with their folds.

    Parameters
    ----------
    out_dir : Path
        World folder; the table goes to ``basenji/sequences.bed``.
    contigs : dict[str, int]
        Contig name → length in bp.
    size : WorldSize
        Gives ``basenji_seq_length``.
    rng : np.random.Generator
        Chooses the held-out contigs and shuffles rows within folds.

    Returns
    -------
    dict
        JSON-able truth: ``files`` (``{"sequences": ...}``), ``seq_length``, ``strides``
        (fold → bp), ``chromosome_split`` (bool), ``fold_contigs`` (fold → contigs) and
        ``counts`` (fold → regions).
    """
    dest = Path(out_dir) / SEQUENCES_FILE
    length = size.basenji_seq_length
    usable = [c for c, n in contigs.items() if n >= length]
    if not usable:
        raise InputError(
            dest,
            f"no contig is at least {length} bp long (longest {max(contigs.values(), default=0)}).",
            fix="use longer contigs or a shorter basenji_seq_length.",
        )
    strides = {"train": length // 2, "valid": length, "test": length}
    if len(usable) >= 3:
        folds = _contig_folds(usable, rng)
        rows = {
            f: [r for c in folds[f] for r in _tile(c, contigs[c], length, strides[f])]
            for f in FOLDS
        }
    else:
        folds = {f: list(usable) for f in FOLDS}
        rows = _within_contig_folds(usable, contigs, length)
    lines = []
    for fold in FOLDS:
        order = rng.permutation(len(rows[fold]))
        lines += [
            f"{rows[fold][i][0]}\t{rows[fold][i][1]}\t{rows[fold][i][2]}\t{fold}\n" for i in order
        ]
    with atomic_path(dest) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return {
        "files": {"sequences": SEQUENCES_FILE},
        "seq_length": length,
        "strides": strides,
        "chromosome_split": len(usable) >= 3,
        "fold_contigs": folds,
        "counts": {f: len(rows[f]) for f in FOLDS},
    }


def _contig_folds(usable: list[str], rng: np.random.Generator) -> dict[str, list[str]]:
    """Hold out whole contigs: ~10% each for valid and test (at least one each)."""
    n_hold = max(1, round(len(usable) / 10))
    shuffled = [usable[i] for i in rng.permutation(len(usable))]
    held = {"valid": shuffled[:n_hold], "test": shuffled[n_hold : 2 * n_hold]}
    order = {c: i for i, c in enumerate(usable)}
    train = [c for c in usable if c not in held["valid"] + held["test"]]
    return {"train": train, **{f: sorted(held[f], key=order.__getitem__) for f in held}}


def _tile(chrom: str, contig_length: int, length: int, stride: int) -> list[tuple[str, int, int]]:
    """Regions of ``length`` every ``stride`` bp, centred on the contig."""
    n = (contig_length - length) // stride + 1
    margin = (contig_length - length - (n - 1) * stride) // 2
    return [(chrom, margin + i * stride, margin + i * stride + length) for i in range(n)]


def _within_contig_folds(
    usable: list[str], contigs: dict[str, int], length: int
) -> dict[str, list[tuple[str, int, int]]]:
    """Split each contig's disjoint regions: last tenth test, the tenth before valid."""
    rows: dict[str, list[tuple[str, int, int]]] = {f: [] for f in FOLDS}
    for chrom in usable:
        regions = _tile(chrom, contigs[chrom], length, length)
        n_hold = max(1, round(len(regions) / 10)) if len(regions) >= 3 else 0
        rows["test"] += regions[len(regions) - n_hold :]
        rows["valid"] += regions[len(regions) - 2 * n_hold : len(regions) - n_hold]
        rows["train"] += regions[: len(regions) - 2 * n_hold]
    return rows
