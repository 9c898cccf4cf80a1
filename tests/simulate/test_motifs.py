from __future__ import annotations

import numpy as np
import pytest

from exprflow.genome.onehot import reverse_complement
from exprflow.simulate.motifs import (
    MIN_SITE_FRACTION,
    Motif,
    load_motifs,
    sample_sites,
    scan_max,
    site_score,
)

N_SITES = 4000


@pytest.fixture(scope="module")
def ctcf() -> Motif:
    return {m.name: m for m in load_motifs()}["CTCF"]


def _frequencies(sites: list[str], position: int) -> np.ndarray:
    """Share of A, C, G, T at ``position`` over ``sites``."""
    column = np.array([site[position] for site in sites])
    return np.array([(column == base).mean() for base in "ACGT"])


def test_every_motif_samples_strong_sites() -> None:
    for motif in load_motifs():
        sites = sample_sites(motif, 200, np.random.default_rng(1))
        assert len(sites) == 200
        assert all(len(s) == motif.length and set(s) <= set("ACGT") for s in sites)
        scores = np.array([site_score(s, motif) for s in sites])
        assert (scores >= MIN_SITE_FRACTION * motif.max_score - 1e-9).all(), motif.name
        assert len(set(sites)) > 1, motif.name  # drawn, not the consensus every time


def test_sites_follow_the_pwm(ctcf: Motif) -> None:
    information = 2 + (ctcf.probs * np.log2(ctcf.probs)).sum(axis=1)
    top = int(np.argmax(information))
    strong = sample_sites(ctcf, N_SITES, np.random.default_rng(2))
    np.testing.assert_allclose(_frequencies(strong, top), ctcf.probs[top], atol=0.02)
    # without the score filter every position follows the PWM (binomial sd ≤ 0.008).
    free = sample_sites(ctcf, N_SITES, np.random.default_rng(3), min_fraction=0.0)
    for position in range(ctcf.length):
        np.testing.assert_allclose(_frequencies(free, position), ctcf.probs[position], atol=0.03)
    assert min(site_score(s, ctcf) for s in free) < MIN_SITE_FRACTION * ctcf.max_score


def test_scan_max_finds_planted_sites(ctcf: Motif) -> None:
    rng = np.random.default_rng(4)
    for site in sample_sites(ctcf, 50, rng):
        planted = site if rng.random() < 0.5 else reverse_complement(site)
        left, right = ("".join(rng.choice(list("ACGT"), k)) for k in (30, 25))
        assert scan_max(left + planted + right, ctcf) >= site_score(site, ctcf) - 1e-9


def test_known_scores(ctcf: Motif) -> None:
    consensus = ctcf.consensus
    assert site_score(consensus, ctcf) == pytest.approx(ctcf.max_score)
    assert site_score("N" * ctcf.length, ctcf) == 0.0
    assert scan_max(consensus, ctcf) == pytest.approx(ctcf.max_score)
    assert scan_max("nn" + reverse_complement(consensus).lower(), ctcf) == pytest.approx(
        ctcf.max_score
    )
    assert scan_max("ACGT", ctcf) == -np.inf
    best = sample_sites(ctcf, 20, np.random.default_rng(5), min_fraction=1.0)
    assert [site_score(s, ctcf) for s in best] == pytest.approx([ctcf.max_score] * 20)


def test_same_seed_same_sites(ctcf: Motif) -> None:
    a = sample_sites(ctcf, 100, np.random.default_rng(6))
    assert a == sample_sites(ctcf, 100, np.random.default_rng(6))
    assert a != sample_sites(ctcf, 100, np.random.default_rng(7))
    assert sample_sites(ctcf, 0, np.random.default_rng(6)) == []


def test_bad_arguments(ctcf: Motif) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"n=-1, min_fraction=0.8; expected n ≥ 0"):
        sample_sites(ctcf, -1, rng)
    with pytest.raises(ValueError, match=r"min_fraction=1.5; expected .* a fraction in \[0, 1\]"):
        sample_sites(ctcf, 3, rng, min_fraction=1.5)
    with pytest.raises(ValueError, match=f"site length 3 != motif CTCF length {ctcf.length}"):
        site_score("ACG", ctcf)
