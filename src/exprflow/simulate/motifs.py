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

__all__ = [
    "DEFAULT_TFS",
    "Motif",
    "load_motifs",
    "sample_site",
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

_ALPHABET = "ACGT"


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
        return "".join(_ALPHABET[i] for i in self.probs.argmax(axis=1))

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
        counts = np.array([record.counts[b] for b in _ALPHABET], dtype=float).T + pseudocount
        probs = counts / counts.sum(axis=1, keepdims=True)
        motifs.append(Motif(matrix_id, name, probs, np.log2(probs / background)))
    return tuple(motifs)


def sample_site(motif: Motif, rng: np.random.Generator, min_fraction: float = 0.8) -> str:
    """Draw a binding site from the motif's probabilities, kept only if strong.

    Sites scoring below ``min_fraction`` of the consensus score are redrawn, so that a
    planted site is reliably recognised by a scan (and a variant can break it).
    """
    threshold = min_fraction * motif.max_score
    for _ in range(1000):
        idx = np.array([rng.choice(4, p=row) for row in motif.probs])
        site = "".join(_ALPHABET[i] for i in idx)
        if site_score(site, motif) >= threshold:
            return site
    return motif.consensus


def site_score(site: str, motif: Motif) -> float:
    """Log-odds score of ``site`` (forward strand, same length as the motif)."""
    idx = np.array([_ALPHABET.find(b) for b in site.upper()])
    if len(idx) != motif.length:
        raise ValueError(f"site length {len(idx)} != motif {motif.name} length {motif.length}")
    valid = idx >= 0
    return float(motif.log_odds[np.arange(motif.length)[valid], idx[valid]].sum())


def scan_max(sequence: str, motif: Motif) -> float:
    """Best log-odds score of ``motif`` on either strand of ``sequence``."""
    seq = sequence.upper()
    rc = seq[::-1].translate(str.maketrans("ACGT", "TGCA"))
    best = -np.inf
    for s in (seq, rc):
        idx = np.array([_ALPHABET.find(b) for b in s])
        n = len(idx) - motif.length + 1
        if n <= 0:
            continue
        onehot = np.zeros((len(idx), 4))
        ok = idx >= 0
        onehot[np.nonzero(ok)[0], idx[ok]] = 1.0
        windows = np.lib.stride_tricks.sliding_window_view(onehot, (motif.length, 4))[:, 0]
        best = max(best, float(np.einsum("nlk,lk->n", windows, motif.log_odds).max()))
    return best
