"""Transcription-factor motifs for the synthetic world, from real JASPAR matrices.

The matrices come from the JASPAR database that pyjaspar ships (no download). Each
motif is held as a position probability matrix over the ACGT alphabet, shape
``(length, 4)``, plus a log-odds matrix against a background base composition, so
that planted sites can be sampled and sequences scanned with the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from exprflow.genome.onehot import ACGT, one_hot, reverse_complement_onehot

__all__ = [
    "DEFAULT_TFS",
    "MIN_SITE_FRACTION",
    "Motif",
    "load_motifs",
    "sample_sites",
    "scan_max",
    "site_score",
]

#: TFs planted in the world: (JASPAR matrix id, name). Promoter-proximal and LCL-like
#: factors, so that cell types differ in which motifs are active.
DEFAULT_TFS: tuple[tuple[str, str], ...] = (
    ("MA0139.2", "CTCF"),
    ("MA0079.5", "SP1"),
    ("MA0060.4", "NFYA"),
    ("MA0466.4", "CEBPB"),
    ("MA0035.5", "GATA1"),
    ("MA0080.7", "SPI1"),
    ("MA1419.2", "IRF4"),
    ("MA0105.4", "NFKB1"),
    ("MA0098.4", "ETS1"),
    ("MA0095.4", "YY1"),
    ("MA0018.5", "CREB1"),
    ("MA0002.3", "RUNX1"),
    ("MA0497.2", "MEF2C"),
    ("MA0114.5", "HNF4A"),
    ("MA0047.4", "FOXA2"),
    ("MA0108.3", "TBP"),
)

#: Planted sites score at least this fraction of their motif's consensus score.
MIN_SITE_FRACTION = 0.8
_MAX_ROUNDS = 1000


@dataclass(frozen=True)
class Motif:
    """A JASPAR motif as probabilities and log-odds over A, C, G, T.

    Attributes
    ----------
    matrix_id : str
        JASPAR id, e.g. ``"MA0139.2"``.
    name : str
        TF name, e.g. ``"CTCF"``.
    probs : np.ndarray
        Position probability matrix, shape ``(length, 4)``, columns A, C, G, T.
    log_odds : np.ndarray
        ``log2(probs / background)``, shape ``(length, 4)``.
    """

    matrix_id: str
    name: str
    probs: np.ndarray
    log_odds: np.ndarray

    @property
    def length(self) -> int:
        """Motif width in bases."""
        return int(self.probs.shape[0])

    @property
    def consensus(self) -> str:
        """Most probable base at each position."""
        return "".join(ACGT[i] for i in self.probs.argmax(axis=1))

    @property
    def max_score(self) -> float:
        """Log-odds score of the consensus (the best possible site)."""
        return float(self.log_odds.max(axis=1).sum())


@lru_cache(maxsize=8)
def load_motifs(
    tfs: tuple[tuple[str, str], ...] = DEFAULT_TFS,
    pseudocount: float = 0.5,
    gc: float = 0.41,
) -> tuple[Motif, ...]:
    """Load motifs from the JASPAR database shipped with pyjaspar.

    Parameters
    ----------
    tfs : tuple of (matrix_id, name)
        Motifs to load. Default is :data:`DEFAULT_TFS`.
    pseudocount : float
        Added to every count before normalising. Default is 0.5.
    gc : float
        Background GC fraction for the log-odds. Default is 0.41 (human genome).
    """
    from pyjaspar import jaspardb

    db = jaspardb()
    background = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    motifs = []
    for matrix_id, name in tfs:
        record = db.fetch_motif_by_id(matrix_id)
        if record is None:
            raise LookupError(f"JASPAR matrix {matrix_id} ({name}) is not in {db.release}")
        counts = np.array([record.counts[b] for b in ACGT], dtype=float).T + pseudocount
        probs = counts / counts.sum(axis=1, keepdims=True)
        motifs.append(Motif(matrix_id, name, probs, np.log2(probs / background)))
    return tuple(motifs)


def sample_sites(
    motif: Motif, n: int, rng: np.random.Generator, min_fraction: float = MIN_SITE_FRACTION
) -> list[str]:
    """Draw ``n`` strong binding sites from the motif's probabilities.

    Every position of every site is drawn at once by inverse-CDF sampling; sites scoring
    below ``min_fraction`` of the consensus score are redrawn (only those), so that a
    planted site is reliably recognised by a scan and a variant can break it. After
    1000 rounds any site still too weak becomes the consensus.

    Parameters
    ----------
    motif : Motif
        Motif to sample from.
    n : int
        Number of sites (≥ 0).
    rng : numpy.random.Generator
        Source of every draw; the same generator state gives the same sites.
    min_fraction : float
        Keep sites scoring at least this fraction of :attr:`Motif.max_score`, in
        [0, 1]. Default is :data:`MIN_SITE_FRACTION` (0.8).

    Returns
    -------
    list of str
        ``n`` sites on the motif's strand, each ``motif.length`` bases of ACGT.
    """
    if n < 0 or not 0.0 <= min_fraction <= 1.0:
        raise ValueError(
            f"n={n}, min_fraction={min_fraction}; expected n ≥ 0 and a fraction in [0, 1]"
        )
    cumulative = np.cumsum(motif.probs, axis=1)
    positions = np.arange(motif.length)
    threshold = min_fraction * motif.max_score
    codes = np.tile(motif.probs.argmax(axis=1), (n, 1))
    todo = np.arange(n)
    for _ in range(_MAX_ROUNDS):
        if todo.size == 0:
            break
        u = rng.random((todo.size, motif.length))
        drawn = np.minimum((u[..., None] > cumulative).sum(axis=2), 3)
        strong = motif.log_odds[positions, drawn].sum(axis=1) >= threshold
        codes[todo[strong]] = drawn[strong]
        todo = todo[~strong]
    letters = np.frombuffer(ACGT.encode(), dtype=np.uint8)[codes]
    return [row.tobytes().decode() for row in letters]


def site_score(site: str, motif: Motif) -> float:
    """Log-odds score of ``site`` (motif strand, same length as the motif; N scores 0).

    Parameters
    ----------
    site : str
        Bases of the site on the motif's strand.
    motif : Motif
        Motif to score against.

    Returns
    -------
    float
    """
    if len(site) != motif.length:
        raise ValueError(f"site length {len(site)} != motif {motif.name} length {motif.length}")
    return float((one_hot(site, ACGT, np.float64) * motif.log_odds).sum())


def scan_max(sequence: str, motif: Motif) -> float:
    """Best log-odds score of ``motif`` on either strand of ``sequence``.

    Parameters
    ----------
    sequence : str
        DNA, any case; N and other characters score 0.
    motif : Motif
        Motif to scan with.

    Returns
    -------
    float
        ``-inf`` when ``sequence`` is shorter than the motif.
    """
    forward = one_hot(sequence, ACGT, np.float64)
    if len(forward) < motif.length:
        return -np.inf
    best = -np.inf
    for strand in (forward, reverse_complement_onehot(forward, ACGT)):
        windows = np.lib.stride_tricks.sliding_window_view(strand, (motif.length, 4))[:, 0]
        best = max(best, float(np.einsum("nlk,lk->n", windows, motif.log_odds).max()))
    return best
