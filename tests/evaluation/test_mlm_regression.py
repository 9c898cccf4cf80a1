"""Tests of the cross-validated regression blocks of the MLM expression comparison."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.svm import SVR

from exprflow.evaluation.mlm_regression import (
    SVR_C,
    TABLE_COLUMNS,
    InnerCVSVR,
    combine,
    make_model,
    out_of_fold,
    result_row,
    sample_folds,
    score,
    transform_expression,
)
from exprflow.simulate.eqtl import _rank_inverse_normal


def test_combine_shapes_and_values() -> None:
    father = np.arange(6, dtype=float).reshape(2, 3)
    mother = np.ones((2, 3))
    np.testing.assert_array_equal(combine(father, mother, "sum"), father + 1)
    np.testing.assert_array_equal(combine(father, mother, "mean"), (father + 1) / 2)
    concat = combine(father, mother, "concat")
    assert concat.shape == (2, 6)
    np.testing.assert_array_equal(concat[:, :3], father)
    np.testing.assert_array_equal(concat[:, 3:], mother)


def test_combine_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 4\)"):
        combine(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="how must be one of"):
        combine(np.zeros((2, 3)), np.zeros((2, 3)), "max")  # type: ignore[arg-type]


def test_transform_is_the_eqtl_scan_transform() -> None:
    rpkm = np.random.default_rng(0).gamma(2.0, 3.0, size=(4, 30))
    expected = _rank_inverse_normal(np.log2(rpkm + 0.01))
    np.testing.assert_allclose(transform_expression(rpkm), expected)
    z = transform_expression(rpkm, "zscore")
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=1), 1)
    one_gene = transform_expression(rpkm[0])
    np.testing.assert_allclose(one_gene, expected[0])


def test_transform_constant_gene_is_zero_and_bad_values_refused() -> None:
    np.testing.assert_array_equal(transform_expression(np.full((1, 5), 3.0)), np.zeros((1, 5)))
    with pytest.raises(ValueError, match="non-negative"):
        transform_expression(np.array([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="at least 2 samples"):
        transform_expression(np.array([[1.0]]))
    with pytest.raises(ValueError, match="how must be one of"):
        transform_expression(np.ones(3), "log")  # type: ignore[arg-type]


def test_sample_folds_balanced_and_seeded() -> None:
    folds = sample_folds(23, 5, seed=3)
    assert sorted(np.bincount(folds)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(folds, sample_folds(23, 5, seed=3))
    assert not np.array_equal(folds, sample_folds(23, 5, seed=4))
    with pytest.raises(ValueError, match="n_folds=5, n_samples=4"):
        sample_folds(4, 5)


def test_out_of_fold_refits_without_the_fold() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 1)), rng.normal(size=30)
    folds = sample_folds(30, 3)
    predicted = out_of_fold(make_model("linear"), x, y, folds)
    for k in range(3):
        test = folds == k
        slope, intercept = np.polyfit(x[~test, 0], y[~test], 1)
        np.testing.assert_allclose(predicted[test], slope * x[test, 0] + intercept)
    with pytest.raises(ValueError, match="must agree"):
        out_of_fold(make_model("linear"), x, y[:-1], folds)


def test_ridge_recovers_planted_signal_and_not_shuffled_labels() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 32))
    y = x @ rng.normal(size=32) + 0.3 * rng.normal(size=100)
    folds = sample_folds(100, 5)
    planted = score(y, out_of_fold(make_model("ridge"), x, y, folds))
    assert planted.r > 0.9 and planted.r2 > 0.8
    shuffled = rng.permutation(y)
    assert abs(score(shuffled, out_of_fold(make_model("ridge"), x, shuffled, folds)).r) < 0.3


@pytest.mark.parametrize(
    ("name", "least_r"), [("lasso", 0.95), ("svr", 0.8), ("elastic_net", 0.95)]
)
def test_other_models_recover_a_strong_signal(name: str, least_r: float) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 10))
    y = 2 * x[:, 0] + 0.2 * rng.normal(size=80)
    assert score(y, out_of_fold(make_model(name), x, y, sample_folds(80))).r > least_r


def test_make_model_imputes_and_refuses_unknown() -> None:
    x = np.array([[0.0], [np.nan], [2.0], [1.0], [2.0], [0.0]])
    y = np.array([0.0, 1.0, 2.0, 1.0, 2.0, 0.0])
    fitted = make_model("linear", impute=True).fit(x, y)
    assert fitted.predict(np.array([[np.nan]]))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="model must be one of"):
        make_model("forest")


def test_score_known_values() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert score(y, y) == (pytest.approx(1.0), pytest.approx(1.0))
    constant = score(y, np.full(4, 2.5))
    assert np.isnan(constant.r) and constant.r2 == pytest.approx(0.0)
    assert score(y, 2 * y).r2 == pytest.approx(1 - 30 / 5)


def test_result_row_columns_and_constant_status() -> None:
    y = np.array([1.0, 2.0, 3.0])
    row = result_row("g", "mlm", "ridge", "sum", y, np.full(3, 2.0))
    assert tuple(row) == TABLE_COLUMNS
    assert row["status"] == "constant_prediction" and row["n_samples"] == 3
    empty = result_row("g", "baseline", "elastic_net", "dosages", status="no_snps")
    assert np.isnan(empty["r"]) and empty["status"] == "no_snps"


@pytest.mark.parametrize(
    ("seed", "noise", "best_c"), [(0, 0.3, 10.0), (1, 3.0, 0.1), (2, 1.0, 1.0)]
)
def test_inner_cv_svr_is_grid_search_on_a_precomputed_kernel(
    seed: int, noise: float, best_c: float
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 6))
    y = np.sin(x[:, 0]) + noise * rng.normal(size=40)
    ours = InnerCVSVR(SVR_C, 3, seed).fit(x, y)
    gamma = 1.0 / (x.shape[1] * x.var())
    grid = GridSearchCV(
        SVR(gamma=gamma),
        {"C": list(SVR_C)},
        cv=KFold(3, shuffle=True, random_state=seed),
        scoring="neg_mean_squared_error",
    ).fit(x, y)
    assert grid.best_params_["C"] == ours.C_ == best_c
    new = rng.normal(size=(7, 6))
    np.testing.assert_allclose(ours.predict(new), grid.predict(new), atol=1e-8)
