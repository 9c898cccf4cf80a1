from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from exprflow.evaluation.stats import benjamini_hochberg, correlation


def test_perfect_correlations_are_one_and_reversed_ones_minus_one() -> None:
    x = np.array([0.5, 2.0, 1.0, 3.0, 7.0])
    assert correlation(x, 2 * x + 1).spearman == pytest.approx(1.0)
    assert correlation(x, 2 * x + 1).pearson == pytest.approx(1.0)
    assert correlation(x, np.exp(x)).spearman == pytest.approx(1.0)  # monotone, not linear
    assert correlation(x, np.exp(x)).pearson < 0.95
    reversed_ = correlation(x, -x)
    assert reversed_.spearman == pytest.approx(-1.0) and reversed_.pearson == pytest.approx(-1.0)
    assert reversed_.p_value < 1e-6


def test_p_value_is_pearsons_two_sided_one() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert correlation(x, y).p_value == pytest.approx(stats.pearsonr(x, y).pvalue)


def test_orthogonal_vectors_have_zero_correlation() -> None:
    y = np.arange(10.0)
    x = np.array([1.0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    result = correlation(x, y)
    assert result.pearson == pytest.approx(0.0, abs=1e-12)
    assert result.spearman == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]),  # constant prediction
        ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]),  # constant observation
        ([1.0, 2.0], [1.0, 2.0]),  # too few values
        ([1.0, np.nan, 3.0, np.nan], [1.0, 2.0, 3.0, 4.0]),  # too few finite pairs
    ],
)
def test_undefined_correlations_are_nan(x: list[float], y: list[float]) -> None:
    assert all(math.isnan(v) for v in correlation(np.array(x), np.array(y)))


def test_non_finite_pairs_are_left_out() -> None:
    x = np.array([1.0, np.nan, 2.0, 3.0, 4.0])
    y = np.array([2.0, 9.0, 4.0, np.inf, 8.0])
    assert correlation(x, y).pearson == pytest.approx(1.0)


def test_benjamini_hochberg_known_values() -> None:
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    # sorted 0.01 0.03 0.04 0.5 → ×4/rank: 0.04 0.06 0.0533 0.5 → running min from the right
    np.testing.assert_allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(1).uniform(size=200) ** 3
    p[:5] = [0.0, 1.0, 0.3, 0.3, 1e-12]  # bounds and ties
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p))


def test_benjamini_hochberg_leaves_nan_out_of_the_family() -> None:
    q = benjamini_hochberg(np.array([np.nan, 0.01, 0.02, np.nan]))
    assert np.isnan(q[[0, 3]]).all()
    np.testing.assert_allclose(q[1:3], stats.false_discovery_control([0.01, 0.02]))
    assert benjamini_hochberg(np.array([])).shape == (0,)


def test_benjamini_hochberg_refuses_values_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg(np.array([0.2, 1.5]))
