"""Motif counts per sequence: the input of MotifBasedFCN, from PWMs and an exact p-value.

Tensor contract::

    codes (N, L) int8, section-0 codes (0..3 ACGT, 4 N, 5 padding)
      -> MotifScanner.counts -> (N, n_motifs) float32

Scoring, as FIMO does it:

- each probability gets a background-weighted pseudocount,
  ``p' = (p·nsites + c·bg) / (nsites + c)`` (``c`` = ``pseudocount``, 0.1 as FIMO's
  ``--motif-pseudo``), and the log-odds ``log2(p' / bg)`` is rounded to a grid of
  ``resolution`` bits (0.01), so that every score is an integer number of grid steps;
- the score distribution of a random site under the background is computed exactly on
  that grid by dynamic programming over the positions (as FIMO and MOODS do), and the
  threshold of a motif is the smallest score ``t`` with ``P(score ≥ t) ≤ pvalue``. Each
  strand's matrix gets its own threshold (the two agree when the background is
  strand-symmetric, e.g. the default uniform one). A motif whose best site is more
  probable than ``pvalue`` (a very short motif) can never pass and always counts 0;
- a window is scored on both strands; a position counts once when either strand passes
  (one count per position, not per strand). ``N`` scores the mean over A, C, G, T of its
  column; a window that touches padding is never counted.

Scanning is one ``torch.nn.functional.conv1d`` per motif length over a batch of one-hot
sequences (the integer grid scores are exact in float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from exprflow.data.promoter_codes import PAD_CODE, codes_to_onehot
from exprflow.genome.pwm import PWM

__all__ = ["FIMO_PSEUDOCOUNT", "MotifScanner", "backbone_input", "score_threshold"]

#: FIMO's default ``--motif-pseudo``.
FIMO_PSEUDOCOUNT = 0.1


def score_threshold(scores: np.ndarray, background: np.ndarray, pvalue: float) -> int:
    """Smallest integer score whose upper-tail probability under the background is ≤ p.

    Parameters
    ----------
    scores : numpy.ndarray
        Integer score matrix, shape ``(length, 4)`` (columns A, C, G, T).
    background : numpy.ndarray
        Base probabilities, shape ``(4,)``, summing to 1.
    pvalue : float
        Tail probability, in (0, 1).

    Returns
    -------
    int
        The smallest score ``t`` that some site reaches with ``P(S ≥ t) ≤ pvalue``, where
        ``S`` is the score of a site drawn from the background; the maximal score + 1
        (never reached) when even the best site is more probable than ``pvalue``.
    """
    scores = np.asarray(scores, dtype=np.int64)
    lowest = scores.min(axis=1)
    shifted = scores - lowest[:, None]
    dist = np.ones(1)
    for row in shifted:
        grown = np.zeros(dist.size + int(row.max()))
        for base in range(4):
            grown[row[base] : row[base] + dist.size] += background[base] * dist
        dist = grown
    tail = np.cumsum(dist[::-1])[::-1]
    passing = np.nonzero((tail <= pvalue) & (dist > 0))[0]
    first = int(passing[0]) if passing.size else dist.size
    return int(lowest.sum()) + first


@dataclass(frozen=True)
class _LengthGroup:
    """Motifs of one length: their columns and a conv weight (forward rows, then reverse)."""

    length: int
    columns: torch.Tensor
    weight: torch.Tensor
    thresholds: torch.Tensor


class MotifScanner:
    """Count the sites of each motif in each sequence at a p-value threshold.

    Parameters
    ----------
    pwms : sequence of PWM
        Motifs (at least one); their :attr:`~exprflow.genome.pwm.PWM.label` are the names.
    pvalue : float, optional
        Site p-value threshold, in (0, 1). Default 1e-4 (FIMO's).
    background : sequence of 4 floats, optional
        A, C, G, T probabilities of the null model (normalised). Default uniform.
    pseudocount : float, optional
        Background-weighted pseudocount (≥ 0) added to ``nsites`` counts. Default
        :data:`FIMO_PSEUDOCOUNT` (0.1).
    resolution : float, optional
        Score grid step in bits (> 0). Default 0.01.
    batch_size : int, optional
        Sequences scanned per convolution; small blocks keep the scores in cache.
        Default 128.

    Attributes
    ----------
    pwms : tuple of PWM
        The motifs, in column order.
    names : tuple of str
        Their labels.
    scores : list of numpy.ndarray
        Integer grid log-odds of each motif, ``(length, 4)`` int64 (× ``resolution`` = bits).
    pvalue, pseudocount, resolution : float
        The settings given.
    background : numpy.ndarray
        The null model, ``(4,)``, summing to 1.

    Raises
    ------
    ValueError
        No motif, or an argument out of range (named with its value).
    """

    def __init__(
        self,
        pwms: Sequence[PWM],
        pvalue: float = 1e-4,
        background: Sequence[float] | None = None,
        pseudocount: float = FIMO_PSEUDOCOUNT,
        resolution: float = 0.01,
        batch_size: int = 128,
    ) -> None:
        if not pwms:
            raise ValueError("MotifScanner: no motif given.")
        if not 0.0 < pvalue < 1.0:
            raise ValueError(f"MotifScanner: pvalue must be in (0, 1), got {pvalue}.")
        if pseudocount < 0 or resolution <= 0 or batch_size < 1:
            raise ValueError(
                "MotifScanner: need pseudocount ≥ 0, resolution > 0 and batch_size ≥ 1, got "
                f"{pseudocount}, {resolution}, {batch_size}."
            )
        self.pwms = tuple(pwms)
        self.pvalue = float(pvalue)
        self.pseudocount = float(pseudocount)
        self.background = _background(background)
        self.resolution = float(resolution)
        self.batch_size = int(batch_size)
        self.names: tuple[str, ...] = tuple(p.label for p in pwms)
        self.lengths = np.array([p.length for p in pwms], dtype=np.int64)
        self.scores = [self._grid_scores(p, pseudocount) for p in pwms]
        forward = [score_threshold(s, self.background, self.pvalue) for s in self.scores]
        reverse = [score_threshold(s[::-1, ::-1], self.background, pvalue) for s in self.scores]
        self._thresholds = np.array([forward, reverse], dtype=np.int64).T
        self._groups = self._length_groups()

    @property
    def n_motifs(self) -> int:
        """Number of motifs (columns of :meth:`counts`)."""
        return len(self.names)

    @property
    def thresholds(self) -> np.ndarray:
        """Forward-strand score thresholds in bits, shape ``(n_motifs,)``."""
        return self._thresholds[:, 0] * self.resolution

    def _grid_scores(self, pwm: PWM, pseudocount: float) -> np.ndarray:
        """Integer log-odds (grid steps), shape ``(length, 4)``."""
        probs = (pwm.probs * pwm.nsites + pseudocount * self.background) / (
            pwm.nsites + pseudocount
        )
        with np.errstate(divide="ignore"):
            log_odds = np.log2(probs / self.background)
        if not np.isfinite(log_odds).all():
            raise ValueError(
                f"MotifScanner: motif {pwm.label} has a zero probability; use pseudocount > 0."
            )
        return np.rint(log_odds / self.resolution).astype(np.int64)

    def _length_groups(self) -> list[_LengthGroup]:
        """One convolution weight per motif length (motifs that can never pass left out)."""
        best = np.array([[s.max(axis=1).sum()] * 2 for s in self.scores])
        reachable = (best >= self._thresholds).any(axis=1)
        groups = []
        for length in np.unique(self.lengths[reachable]):
            columns = np.nonzero((self.lengths == length) & reachable)[0]
            forward = np.stack([self.scores[i].T for i in columns])
            reverse = forward[:, ::-1, ::-1]
            weight = np.concatenate([forward, reverse]).astype(np.float32)
            thresholds = np.concatenate(
                [self._thresholds[columns, 0], self._thresholds[columns, 1]]
            )
            groups.append(
                _LengthGroup(
                    int(length),
                    torch.from_numpy(columns),
                    torch.from_numpy(np.ascontiguousarray(weight)),
                    torch.from_numpy(thresholds.astype(np.float32))[None, :, None],
                )
            )
        return groups

    def counts(self, codes: np.ndarray) -> np.ndarray:
        """Count each motif's sites in each sequence.

        Parameters
        ----------
        codes : numpy.ndarray
            Integer codes, shape ``(N, L)`` (0..3 ACGT, 4 N, 5 padding).

        Returns
        -------
        numpy.ndarray
            float32 ``(N, n_motifs)``: positions whose window passes the threshold on
            either strand (each position counted once).

        Raises
        ------
        ValueError
            ``codes`` not 2-D integers in 0..5.
        """
        codes = np.asarray(codes)
        if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(
                f"MotifScanner.counts: codes must be (N, L) integers, got {codes.dtype} "
                f"{codes.shape}."
            )
        if codes.size and (codes.min() < 0 or codes.max() > PAD_CODE):
            raise ValueError(
                f"MotifScanner.counts: codes must lie in 0..{PAD_CODE}, "
                f"got {codes.min()}..{codes.max()}."
            )
        out = np.zeros((codes.shape[0], self.n_motifs), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, codes.shape[0], self.batch_size):
                block = codes[start : start + self.batch_size].astype(np.int8)
                out[start : start + len(block)] = self._count_block(block)
        return out

    def _count_block(self, codes: np.ndarray) -> np.ndarray:
        """Counts of one batch of sequences, ``(B, n_motifs)``."""
        onehot = codes_to_onehot(torch.from_numpy(codes)).permute(0, 2, 1).contiguous()
        padding = torch.from_numpy(codes == PAD_CODE).to(torch.int32)
        padded_before = F.pad(padding.cumsum(dim=1), (1, 0))
        counts = torch.zeros(codes.shape[0], self.n_motifs)
        for group in self._groups:
            k = group.length
            if k > codes.shape[1]:
                continue
            clean = (padded_before[:, k:] - padded_before[:, :-k]) == 0
            scores = F.conv1d(onehot, group.weight)
            passing = scores >= group.thresholds
            m = len(group.columns)
            hits = (passing[:, :m] | passing[:, m:]) & clean[:, None, :]
            counts[:, group.columns] = hits.sum(dim=2, dtype=torch.float32)
        return counts.numpy()


def _background(background: Sequence[float] | None) -> np.ndarray:
    """The null model's base probabilities, normalised (uniform when None)."""
    if background is None:
        return np.full(4, 0.25)
    values = np.asarray(background, dtype=np.float64)
    if values.shape != (4,) or not np.isfinite(values).all() or (values <= 0).any():
        raise ValueError(f"MotifScanner: background must be 4 positive numbers, got {values}.")
    return values / values.sum()


def backbone_input(codes: np.ndarray, scanner: MotifScanner | None) -> torch.Tensor:
    """A backbone's input for int8 ``codes`` (n, L): motif counts with a scanner, else one-hot.

    Parameters
    ----------
    codes : numpy.ndarray
        int8 sequence codes (:mod:`exprflow.data.promoter_codes`).
    scanner : MotifScanner or None
        The scanner of a motif-count backbone; None for the sequence backbones.

    Returns
    -------
    torch.Tensor
        float32 ``(n, n_motifs)`` counts or ``(n, L, 4)`` one-hot (N = 0.25).
    """
    if scanner is not None:
        return torch.from_numpy(scanner.counts(codes))
    return codes_to_onehot(torch.from_numpy(codes))
