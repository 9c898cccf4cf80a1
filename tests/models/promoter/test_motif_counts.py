"""MotifScanner: exact p-value thresholds, counts on both strands, N and padding."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch

from exprflow.genome.jaspar import jaspar_pwms
from exprflow.genome.pwm import PWM
from exprflow.models.promoter.motif_counts import MotifScanner, score_threshold
from exprflow.simulate.motifs import DEFAULT_TFS

torch.set_num_threads(1)
COMPLEMENT = np.array([3, 2, 1, 0])


def _codes(seq: str) -> np.ndarray:
    return np.array(["ACGTN".index(b) for b in seq], dtype=np.int8)


def _peaked(consensus: str, top: float = 0.85) -> PWM:
    """A motif whose consensus is ``top`` probable at every position."""
    probs = np.full((len(consensus), 4), (1 - top) / 3)
    probs[np.arange(len(consensus)), _codes(consensus)] = top
    return PWM(consensus.lower(), "", probs)


def _with_n(scores: np.ndarray) -> np.ndarray:
    """Score table ``(k, 5)``: columns A, C, G, T, then N = the row mean."""
    return np.hstack([scores, scores.mean(axis=1, keepdims=True)])


def _brute_threshold(scores: np.ndarray, background: np.ndarray, pvalue: float) -> int:
    """Enumerate every k-mer: smallest t with P(score ≥ t) ≤ pvalue."""
    kmers = np.array(list(itertools.product(range(4), repeat=len(scores))))
    totals = scores[np.arange(len(scores)), kmers].sum(axis=1)
    probability = background[kmers].prod(axis=1)
    for t in np.unique(totals):
        if probability[totals >= t].sum() <= pvalue:
            return int(t)
    return int(totals.max()) + 1


@pytest.mark.parametrize("pvalue", [0.002, 0.01, 0.05])
def test_threshold_equals_enumeration_of_every_kmer(pvalue: float) -> None:
    rng = np.random.default_rng(3)
    pwm = PWM("m", "", rng.dirichlet(np.ones(4) * 0.7, size=6), nsites=30)
    background = np.array([0.3, 0.2, 0.2, 0.3])
    scanner = MotifScanner([pwm], pvalue=pvalue, background=background)
    scores = scanner.scores[0]
    forward = _brute_threshold(scores, background, pvalue)
    reverse = _brute_threshold(scores[::-1, ::-1], background, pvalue)
    assert score_threshold(scores, background, pvalue) == forward
    assert scanner.thresholds[0] == pytest.approx(forward * scanner.resolution)
    # Scanning each k-mer as its own sequence counts it iff either strand passes.
    kmers = np.array(list(itertools.product(range(4), repeat=6)), dtype=np.int8)
    fwd_scores = scores[np.arange(6), kmers].sum(axis=1)
    rev_scores = scores[np.arange(6), COMPLEMENT[kmers[:, ::-1]]].sum(axis=1)
    expected = (fwd_scores >= forward) | (rev_scores >= reverse)
    np.testing.assert_array_equal(scanner.counts(kmers)[:, 0], expected.astype(np.float32))


def test_unreachable_pvalue_never_counts() -> None:
    short = _peaked("GAT", top=0.97)
    scanner = MotifScanner([short], pvalue=1e-4)
    assert scanner.thresholds[0] > scanner.scores[0].max(axis=1).sum() * scanner.resolution
    assert scanner.counts(_codes("GATGATGAT")[None]).tolist() == [[0.0]]


def test_planted_sites_on_both_strands_count_once_per_position() -> None:
    act = _peaked("GGTAACCA")  # reverse complement TGGTTACC
    palindrome = _peaked("GAATTC")
    scanner = MotifScanner([act, palindrome], pvalue=1e-3)
    filler = "C" * 40
    seq = filler[:5] + "GGTAACCA" + filler[:10] + "TGGTTACC" + filler[:7] + "GAATTC" + filler
    counts = scanner.counts(np.stack([_codes(seq), _codes(filler * 2 + "CCCC")]))
    assert scanner.names == ("ggtaacca", "gaattc") and scanner.n_motifs == 2
    assert counts.dtype == np.float32 and counts.shape == (2, 2)
    np.testing.assert_array_equal(counts, [[2.0, 1.0], [0.0, 0.0]])


def test_n_scores_the_column_mean() -> None:
    top = np.linspace(0.4, 0.97, 10)[:, None]
    probs = np.where(np.eye(4)[_codes("GGTAACCATG")] == 1, top, (1 - top) / 3)
    pwm = PWM("graded", "", probs)
    scanner = MotifScanner([pwm], pvalue=1e-4)
    tables = _with_n(scanner.scores[0]), _with_n(scanner.scores[0][::-1, ::-1])
    thresholds = scanner._thresholds[0]
    codes, expected = [], []
    for where in itertools.combinations(range(10), 2):
        window = _codes(pwm.consensus)
        window[list(where)] = 4
        scores = [t[np.arange(10), window].sum() for t in tables]
        codes.append(np.concatenate([[1, 1], window, [1, 1]]))
        expected.append(float(scores[0] >= thresholds[0] or scores[1] >= thresholds[1]))
    assert 0 < sum(expected) < len(expected)
    np.testing.assert_array_equal(scanner.counts(np.array(codes, np.int8))[:, 0], expected)
    assert scanner.counts(np.full((1, 30), 4, np.int8)).tolist() == [[0.0]]


def test_windows_touching_padding_never_count() -> None:
    pwm = _peaked("GGTAACCATGCA", top=0.9)
    scanner = MotifScanner([pwm], pvalue=1e-4)
    site = _codes(pwm.consensus)
    whole = np.concatenate([[1, 1], site, [5, 5, 5]])
    cut = np.concatenate([[1, 1], site[:-1], [5, 5, 5, 5]])  # last base is padding (score 0)
    truncated_score = scanner.scores[0][np.arange(11), site[:-1]].sum()
    assert truncated_score * scanner.resolution >= scanner.thresholds[0]  # would pass unmasked
    np.testing.assert_array_equal(scanner.counts(np.stack([whole, cut])), [[1.0], [0.0]])


def _reference_counts(scanner: MotifScanner, codes: np.ndarray) -> np.ndarray:
    """Score every window with Python loops (padding excluded)."""
    out = np.zeros((len(codes), scanner.n_motifs), np.float32)
    for m, scores in enumerate(scanner.scores):
        k = len(scores)
        tables = _with_n(scores), _with_n(scores[::-1, ::-1])
        thresholds = scanner._thresholds[m]
        for n, seq in enumerate(codes):
            for p in range(len(seq) - k + 1):
                window = seq[p : p + k]
                if (window == 5).any():
                    continue
                hits = [
                    t[np.arange(k), window].sum() >= c
                    for t, c in zip(tables, thresholds, strict=True)
                ]
                out[n, m] += float(any(hits))
    return out


def test_counts_match_a_loop_reference_on_jaspar_motifs() -> None:
    pwms = jaspar_pwms(matrix_ids=[matrix_id for matrix_id, _ in DEFAULT_TFS[:8]])
    scanner = MotifScanner(pwms, pvalue=1e-3, background=[0.3, 0.2, 0.2, 0.3], batch_size=3)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(7, 60)).astype(np.int8)
    codes[rng.random(codes.shape) < 0.03] = 4
    codes[2, 45:] = 5
    codes[5, 20:] = 5
    expected = _reference_counts(scanner, codes)
    assert expected.sum() > 0
    np.testing.assert_array_equal(scanner.counts(codes), expected)
    whole = MotifScanner(pwms, pvalue=1e-3, background=[0.3, 0.2, 0.2, 0.3], batch_size=64)
    np.testing.assert_array_equal(whole.counts(codes), expected)
    assert scanner.counts(np.zeros((0, 60), np.int8)).shape == (0, 8)


def test_bad_arguments_are_refused() -> None:
    pwm = _peaked("GGTAACCA")
    with pytest.raises(ValueError, match="no motif"):
        MotifScanner([])
    with pytest.raises(ValueError, match=r"pvalue must be in \(0, 1\), got 2"):
        MotifScanner([pwm], pvalue=2)
    with pytest.raises(ValueError, match="background must be 4 positive"):
        MotifScanner([pwm], background=[0.5, 0.5, 0, 0])
    with pytest.raises(ValueError, match="zero probability"):
        MotifScanner([PWM("z", "", np.eye(4))], pseudocount=0)
    scanner = MotifScanner([pwm])
    with pytest.raises(ValueError, match=r"codes must lie in 0\.\.5"):
        scanner.counts(np.full((1, 10), 6, np.int8))
    with pytest.raises(ValueError, match=r"\(N, L\) integers"):
        scanner.counts(np.zeros(10, np.int8))


def test_scanner_pickles_and_keeps_its_settings() -> None:
    pwms = [_peaked("GGTAACCA"), _peaked("CATGCAGT")]
    scanner = MotifScanner(pwms, pvalue=1e-3, pseudocount=0.5, resolution=0.05)
    copy = pickle.loads(pickle.dumps(scanner))
    codes = np.random.default_rng(1).integers(0, 5, (4, 50)).astype(np.int8)
    np.testing.assert_array_equal(copy.counts(codes), scanner.counts(codes))
    assert (copy.pvalue, copy.pseudocount, copy.resolution) == (1e-3, 0.5, 0.05)
    assert copy.pwms[1].name == "catgcagt"
