"""Write a promoter MPRA library like the fluorescence data of Reddy et al. (2023).

The library holds ``size.mpra_library_size`` promoters of ``size.mpra_seq_length`` bp in
three classes: ``ClassI`` endogenous-like (GC-rich, a few sites of any TF), ``ClassII``
designed (AT-richer, denser sites, half of them homotypic: one TF repeated) and
``ClassIII`` minimal (about one site). Each sequence is random background at its own
GC content with real JASPAR sites (:func:`~exprflow.simulate.motifs.load_motifs`,
scoring ≥ 0.8 of the consensus) planted on either strand in ten 25-bp slots.

Activity: in each cell (JURKAT, K562, THP1) a TF has an activity (T-cell factors in
JURKAT, GATA1 in K562, myeloid factors in THP1, general promoter factors everywhere,
plus noise). A promoter's true activity is ``base + class offset + Σ sites TF activity
× site score / consensus score + intrinsic noise``, in log2 units.

Measurement: transfected cells are sorted on reporter fluorescence into a
high-expression gate **P4** and a low-expression gate **P7**; the barcodes of each
promoter are counted in both. With true activity ``y``, a promoter's cells fall in P4
with probability ``2^y / (1 + 2^y)``, so ``log2(P4 / P7)`` estimates ``y``. Reads are
negative binomial (dispersion 10) around library representation × sequencing depth ×
that probability, per replicate (1, 2) with replicate noise (sd 0.2) on ``y``. A few
planted dropouts (about 2 %, at least one) have fewer than 5 reads in one cell, so the
reference filter (every ``_sum`` ≥ 5) removes them.

File written under ``out_dir``: ``mpra/fluorescence.tsv``, tab-separated with a header:
``sequence_id, sequence, promoter_class, gc``, then the counts ``{J,K,T}{1,2}_P4``,
``{J,K,T}{1,2}_P7`` and ``{J,K,T}_sum`` (P4 + P7 over both replicates).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome.onehot import ACGT, one_hot_batch
from exprflow.simulate.config import WorldSize
from exprflow.simulate.motifs import Motif, load_motifs, sample_sites

__all__ = ["CELLS", "COUNT_COLUMNS", "MPRA_FILE", "PROMOTER_CLASSES", "write_mpra"]

MPRA_FILE = "mpra/fluorescence.tsv"
#: Cell code → cell line.
CELLS: dict[str, str] = {"J": "JURKAT", "K": "K562", "T": "THP1"}
#: Promoter class → (share of the library, mean GC, mean sites, homotypic share, offset).
PROMOTER_CLASSES: dict[str, tuple[float, float, float, float, float]] = {
    "ClassI": (0.45, 0.58, 2.5, 0.0, 0.3),
    "ClassII": (0.40, 0.47, 4.0, 0.5, 0.0),
    "ClassIII": (0.15, 0.50, 1.0, 0.0, -0.5),
}
#: Count columns in file order.
COUNT_COLUMNS: tuple[str, ...] = (
    *(f"{c}{r}_P4" for c in CELLS for r in (1, 2)),
    *(f"{c}{r}_P7" for c in CELLS for r in (1, 2)),
    *(f"{c}_sum" for c in CELLS),
)

# Prior TF activity (log2 units) in JURKAT, K562, THP1; TFs not listed have 0.
_TF_PRIOR: dict[str, tuple[float, float, float]] = {
    "SP1": (0.6, 0.8, 0.6),
    "NFYA": (0.5, 0.6, 0.5),
    "CREB1": (0.5, 0.4, 0.4),
    "YY1": (0.4, 0.5, 0.4),
    "TBP": (0.3, 0.3, 0.3),
    "ETS1": (1.2, 0.3, 0.4),
    "RUNX1": (1.0, 0.4, 0.5),
    "NFKB1": (0.8, 0.1, 0.6),
    "GATA1": (0.0, 1.5, 0.0),
    "SPI1": (0.0, 0.2, 1.5),
    "CEBPB": (0.0, 0.2, 1.2),
    "IRF4": (0.3, 0.0, 0.6),
    "HNF4A": (-0.2, -0.2, -0.2),
    "FOXA2": (-0.1, -0.1, -0.1),
}
_BASE_ACTIVITY = -1.0
_SLOT, _MAX_SITES = 25, 8
_TF_SD, _INTRINSIC_SD, _REPLICATE_SD = 0.3, 0.25, 0.2
_READS_PER_SEQUENCE, _DISPERSION = 150.0, 10.0
_DROPOUT_RATE, _MIN_COUNT = 0.02, 5
_ALPHABET = np.frombuffer(ACGT.encode(), dtype=np.uint8)


def write_mpra(out_dir: Path, size: WorldSize, rng: np.random.Generator) -> dict:
    """Simulate the promoter library and its sorted-cell counts; write the table.

    Parameters
    ----------
    out_dir : Path
        World folder; the table goes to ``mpra/fluorescence.tsv``.
    size : WorldSize
        Gives ``mpra_library_size`` and ``mpra_seq_length``.
    rng : np.random.Generator
        Source of every draw; the same seed gives a byte-identical file.

    Returns
    -------
    dict
        JSON-able truth: ``files``, ``cells``, ``tf_activity`` (cell → TF → log2
        activity), ``activity`` (columns ``sequence_id`` and one per cell, the true
        log2(P4/P7)), ``sites`` (columns ``sequence_id, tf, start, strand, score``;
        0-based start on the written strand), ``dropouts`` (planted low-count ids) and
        ``low_count`` (every id with a ``_sum`` below 5).
    """
    n, length = size.mpra_library_size, size.mpra_seq_length
    dest = Path(out_dir) / MPRA_FILE
    motifs = load_motifs()
    if length < _SLOT * 2 or max(m.length for m in motifs) > _SLOT:
        raise InputError(
            dest,
            f"mpra_seq_length {length} cannot hold {_SLOT}-bp site slots.",
            fix=f"use mpra_seq_length >= {2 * _SLOT}.",
        )
    names = list(CELLS.values())
    tf_activity = np.array([_TF_PRIOR.get(m.name, (0.0, 0.0, 0.0)) for m in motifs])
    tf_activity = tf_activity + rng.normal(0.0, _TF_SD, tf_activity.shape)
    classes = rng.choice(len(PROMOTER_CLASSES), n, p=[v[0] for v in PROMOTER_CLASSES.values()])
    params = np.array(list(PROMOTER_CLASSES.values()))[classes]
    codes = _background(params[:, 1], length, rng)
    sites = _plant_sites(codes, params[:, 2], params[:, 3], motifs, rng)
    gain = tf_activity[sites["tf"]] * sites["score"][:, None]
    activity = np.stack([np.bincount(sites["seq"], gain[:, c], n) for c in range(3)], axis=1)
    activity = activity + _BASE_ACTIVITY + params[:, 4:5] + rng.normal(0.0, _INTRINSIC_SD, (n, 3))
    counts, dropouts = _counts(activity, rng)
    ids = [f"P{i + 1:06d}" for i in range(n)]
    sums = counts[:, :, 0].sum(axis=2) + counts[:, :, 1].sum(axis=2)
    _write(dest, ids, codes, [list(PROMOTER_CLASSES)[k] for k in classes], counts, sums)
    return {
        "files": {"fluorescence": MPRA_FILE},
        "cells": dict(CELLS),
        "tf_activity": {
            cell: {m.name: float(tf_activity[t, c]) for t, m in enumerate(motifs)}
            for c, cell in enumerate(names)
        },
        "activity": {
            "sequence_id": ids,
            **{cell: activity[:, c].tolist() for c, cell in enumerate(names)},
        },
        "sites": {
            "sequence_id": [ids[i] for i in sites["seq"]],
            "tf": [motifs[t].name for t in sites["tf"]],
            "start": sites["start"].tolist(),
            "strand": ["+" if s > 0 else "-" for s in sites["strand"]],
            "score": sites["score"].tolist(),
        },
        "dropouts": [ids[i] for i in dropouts],
        "low_count": [ids[i] for i in np.flatnonzero((sums < _MIN_COUNT).any(axis=1))],
    }


def _background(gc: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Random base codes (0-3 = A, C, G, T), shape ``(n, length)``, at each row's GC ~ Beta."""
    kappa = 40.0
    row_gc = rng.beta(gc * kappa, (1 - gc) * kappa)
    strong = rng.random((gc.size, length)) < row_gc[:, None]
    pick = rng.random((gc.size, length)) < 0.5
    return np.where(strong, np.where(pick, 1, 2), np.where(pick, 0, 3)).astype(np.int8)


def _plant_sites(
    codes: np.ndarray,
    mean_sites: np.ndarray,
    homotypic: np.ndarray,
    motifs: tuple[Motif, ...],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Write JASPAR sites into ``codes`` in place; return one entry per site."""
    n, length = codes.shape
    n_slots = length // _SLOT
    k = np.minimum(rng.poisson(mean_sites), min(_MAX_SITES, n_slots))
    seq = np.repeat(np.arange(n), k)
    rank = np.arange(seq.size) - np.repeat(np.cumsum(k) - k, k)
    order: np.ndarray = np.argsort(rng.random((n, n_slots)), axis=1)
    slot = order[seq, rank]
    one_tf = np.asarray(rng.integers(0, len(motifs), size=n))
    is_homotypic = rng.random(n) < homotypic
    tf = np.where(is_homotypic[seq], one_tf[seq], rng.integers(0, len(motifs), seq.size))
    widths = np.array([m.length for m in motifs])[tf]
    start = slot * _SLOT + rng.integers(0, _SLOT - widths + 1)
    strand = rng.choice([1, -1], seq.size)
    score = np.zeros(seq.size)
    for t, motif in enumerate(motifs):
        which = np.flatnonzero(tf == t)
        if which.size == 0:
            continue
        drawn = one_hot_batch(sample_sites(motif, which.size, rng), ACGT).argmax(axis=2)
        fit = motif.log_odds[np.arange(motif.length), drawn].sum(axis=1)
        score[which] = fit / motif.max_score
        for j, site in zip(which, drawn, strict=True):
            placed = site if strand[j] > 0 else 3 - site[::-1]
            codes[seq[j], start[j] : start[j] + motif.length] = placed
    return {"seq": seq, "tf": tf, "start": start, "strand": strand, "score": score}


def _counts(activity: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw negative-binomial P4/P7 counts and plant the dropouts.

    Returns the counts, shape ``(n, 3 cells, 2 gates, 2 replicates)``, and the sorted
    indices of the dropouts (fewer than 5 reads over one cell's four columns).
    """
    n = activity.shape[0]
    representation = np.asarray(rng.lognormal(0.0, 0.5, size=n))
    y = activity[:, :, None] + rng.normal(0.0, _REPLICATE_SD, (n, 3, 2))
    high = 1.0 / (1.0 + 2.0 ** (-y))
    gates = np.stack([high, 1.0 - high], axis=2)
    mean = _READS_PER_SEQUENCE * representation[:, None, None, None] * gates
    counts = rng.negative_binomial(_DISPERSION, _DISPERSION / (_DISPERSION + mean))
    dropouts = np.sort(rng.choice(n, max(1, round(_DROPOUT_RATE * n)), replace=False))
    cells = rng.integers(0, 3, dropouts.size)
    totals = rng.integers(0, _MIN_COUNT, dropouts.size)
    for i, c, total in zip(dropouts, cells, totals, strict=True):
        counts[i, c] = rng.multinomial(total, np.full(4, 0.25)).reshape(2, 2)
    return counts, dropouts


def _write(
    dest: Path,
    ids: list[str],
    codes: np.ndarray,
    classes: list[str],
    counts: np.ndarray,
    sums: np.ndarray,
) -> None:
    """Write the fluorescence table (columns in the module docstring)."""
    sequences = _ALPHABET[codes].view(f"S{codes.shape[1]}").ravel().astype(str)
    gc = ((codes == 1) | (codes == 2)).mean(axis=1)
    p4 = counts[:, :, 0, :].reshape(len(ids), 6)
    p7 = counts[:, :, 1, :].reshape(len(ids), 6)
    table = np.concatenate([p4, p7, sums], axis=1)
    header = ["sequence_id", "sequence", "promoter_class", "gc", *COUNT_COLUMNS]
    lines = ["\t".join(header) + "\n"]
    for i, row in enumerate(table):
        values = "\t".join(map(str, row.tolist()))
        lines.append(f"{ids[i]}\t{sequences[i]}\t{classes[i]}\t{gc[i]:.4f}\t{values}\n")
    with atomic_path(dest) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
