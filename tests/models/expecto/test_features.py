from __future__ import annotations

import math

import numpy as np
import pytest

from exprflow.models.expecto.features import (
    CENTRE_INDEX,
    DECAY_CONSTANTS,
    SHIFTS,
    WINDOW,
    from_legacy_layout,
    spatial_basis,
    spatial_features,
    strand_sign,
    to_legacy_layout,
    window_starts,
)


def _basis_direct(d: float) -> list[float]:
    k = math.floor(abs(d) / 200)
    up = [math.exp(-c * k) if d <= 0 else 0.0 for c in DECAY_CONSTANTS]
    down = [math.exp(-c * k) if d >= 0 else 0.0 for c in DECAY_CONSTANTS]
    return up + down


def test_geometry_constants() -> None:
    assert len(SHIFTS) == 200
    assert SHIFTS[0] == -20000 and SHIFTS[-1] == 19800
    assert np.all(np.diff(SHIFTS) == 200) and np.count_nonzero(SHIFTS == 0) == 1
    assert WINDOW == 2000 and CENTRE_INDEX == 999


def test_window_starts_plus_and_minus_strand() -> None:
    starts = window_starts([100_000, 100_000], ["+", "-"])
    assert starts.shape == (2, 200)
    zero = int(np.flatnonzero(SHIFTS == 0)[0])
    # the TSS sits at index 999 of the shift-0 window, i.e. window = [tss-999, tss+1001)
    assert starts[0, zero] == starts[1, zero] == 100_000 - 999
    np.testing.assert_array_equal(starts[0], 100_000 + SHIFTS - 999)
    np.testing.assert_array_equal(starts[1], 100_000 - SHIFTS - 999)
    np.testing.assert_array_equal(window_starts(5000, -1), window_starts(5000, "-"))


def test_bad_strand_is_rejected() -> None:
    with pytest.raises(ValueError, match="strand must be"):
        strand_sign(["+", "."])
    with pytest.raises(ValueError, match="strand must be"):
        window_starts(10, 2)


def test_spatial_basis_matches_formula() -> None:
    distances = [-20000, -401, -400, -200, -199, -1, 0, 1, 199, 200, 5555, 19800]
    got = spatial_basis(distances)
    assert got.shape == (len(distances), 10)
    for row, d in zip(got, distances, strict=True):
        np.testing.assert_allclose(row, _basis_direct(d), rtol=0, atol=0)
    np.testing.assert_array_equal(spatial_basis(0), np.ones(10))


def test_spatial_features_equal_direct_loops() -> None:
    rng = np.random.default_rng(0)
    chromatin = rng.random((2, 3, 200, 7))
    got = spatial_features(chromatin)
    assert got.shape == (2, 3, 70)
    for i in range(2):
        for j in range(3):
            for b in range(10):
                for f in range(7):
                    want = sum(
                        _basis_direct(int(SHIFTS[s]))[b] * chromatin[i, j, s, f] for s in range(200)
                    )
                    assert got[i, j, b * 7 + f] == pytest.approx(want, rel=1e-12)


def test_spatial_features_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 200, F\)"):
        spatial_features(np.zeros((199, 4)))


def test_legacy_layout_indices_and_round_trip() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((4, 20020))
    legacy = to_legacy_layout(x)
    assert legacy.shape == (4, 20030)
    for b in range(10):
        assert np.all(legacy[:, b * 2003] == 0)
        np.testing.assert_array_equal(
            legacy[:, b * 2003 + 1 : (b + 1) * 2003], x[:, b * 2002 : (b + 1) * 2002]
        )
    np.testing.assert_array_equal(from_legacy_layout(legacy), x)
    small = rng.random(30)
    np.testing.assert_array_equal(from_legacy_layout(to_legacy_layout(small, 3), 3), small)


def test_layout_bad_width() -> None:
    with pytest.raises(ValueError, match="20020 columns, got 20030"):
        to_legacy_layout(np.zeros((1, 20030)))
    with pytest.raises(ValueError, match="legacy features must have 10 × 2003"):
        from_legacy_layout(np.zeros(20020))
