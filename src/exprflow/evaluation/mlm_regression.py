"""Cross-validated per-gene regression of expression, shared by the MLM comparison.

The building blocks of :mod:`exprflow.evaluation.mlm_expression`:

- :func:`combine` merges the two haplotype embeddings of each individual (``"sum"``,
  the students' choice; ``"mean"``; ``"concat"``, father then mother). Because every
  model standardises its features inside the training fold, ``"sum"`` and ``"mean"``
  give the same predictions; both are kept because the issue asks for them.
- :func:`transform_expression` turns RPKM into the regression target exactly as
  :mod:`exprflow.simulate.eqtl` does before its eQTL scan — ``log2(RPKM + 0.01)``, then
  a per-gene rank-inverse-normal transform (or a z-score) over the given samples — so the
  eQTL table's ``rvalue`` and the out-of-fold r here are on the same scale.
- :func:`sample_folds` assigns each sample to one of K shuffled, seeded folds; every
  method of one gene uses the same folds (and a fine-tuned model should too).
- :func:`make_model` builds the sklearn pipelines (imputation where asked, standardisation,
  then a regulariser chosen by a small inner CV on the training fold only):
  ``"ridge"`` (RidgeCV, efficient leave-one-out over ``RIDGE_ALPHAS``), ``"lasso"``
  (LassoCV), ``"svr"`` (RBF SVR, inner grid search over ``SVR_C``: :class:`InnerCVSVR`,
  GridSearchCV's search on one precomputed kernel), ``"linear"`` (plain least squares,
  for the single-SNP baseline) and ``"elastic_net"`` (ElasticNetCV, l1_ratio 0.5).
- :func:`out_of_fold` predicts every sample from a model fitted without its fold;
  :func:`score` gives Pearson r and R² (``1 − SS_res / SS_tot``, may be negative) of
  those predictions against the observed values; :func:`result_row` makes one row of the
  comparison table (:data:`TABLE_COLUMNS`) from them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNetCV, LassoCV, LinearRegression, RidgeCV
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from exprflow.evaluation.stats import correlation

__all__ = [
    "COMBINATIONS",
    "CONSTANT_PREDICTION",
    "EVALUATED",
    "MODELS",
    "RIDGE_ALPHAS",
    "SVR_C",
    "TABLE_COLUMNS",
    "TRANSFORMS",
    "InnerCVSVR",
    "Score",
    "combine",
    "make_model",
    "out_of_fold",
    "result_row",
    "sample_folds",
    "score",
    "transform_expression",
]

#: Columns of the long comparison table, one row per gene and method.
TABLE_COLUMNS = (
    "gene_id",
    "family",
    "method",
    "features",
    "r",
    "r2",
    "n_samples",
    "status",
    "detail",
)
#: ``status`` of a scored row and of one whose predictions were constant.
EVALUATED, CONSTANT_PREDICTION = "evaluated", "constant_prediction"
#: Ways of merging the two haplotype embeddings.
COMBINATIONS = ("sum", "mean", "concat")
#: Regression models :func:`make_model` builds.
MODELS = ("ridge", "lasso", "svr", "linear", "elastic_net")
#: Per-gene expression transforms after ``log2(RPKM + 0.01)``.
TRANSFORMS = ("rank_inverse_normal", "zscore")
#: Ridge penalties searched (features standardised, so they scale with the sample count).
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 13))
#: SVR regularisation constants searched.
SVR_C = (0.1, 1.0, 10.0)
#: Pseudocount of the log transform (as in :mod:`exprflow.simulate.eqtl`).
LOG_PSEUDOCOUNT = 0.01
_INNER_FOLDS = 3
_PATH_ALPHAS = 20


class Score(NamedTuple):
    """Pearson r and R² of predictions against observations (r NaN when undefined)."""

    r: float
    r2: float


def combine(
    father: np.ndarray, mother: np.ndarray, how: Literal["sum", "mean", "concat"] = "sum"
) -> np.ndarray:
    """Merge each individual's two haplotype embeddings into one feature vector.

    Parameters
    ----------
    father, mother : numpy.ndarray
        Shape ``(S, d)``, row *i* the two haplotypes of sample *i*.
    how : {"sum", "mean", "concat"}, default "sum"
        ``father + mother``, their mean, or ``[father, mother]`` side by side.

    Returns
    -------
    numpy.ndarray
        float64, ``(S, d)`` for sum and mean, ``(S, 2d)`` for concat.
    """
    f, m = np.asarray(father, np.float64), np.asarray(mother, np.float64)
    if f.ndim != 2 or f.shape != m.shape:
        raise ValueError(
            f"father and mother must both have shape (S, d); got {f.shape} and {m.shape}"
        )
    if how == "sum":
        return f + m
    if how == "mean":
        return (f + m) / 2
    if how == "concat":
        return np.concatenate([f, m], axis=1)
    raise ValueError(f"how must be one of {COMBINATIONS}, got {how!r}")


def _rank_inverse_normal(values: np.ndarray) -> np.ndarray:
    """Rank-inverse-normal transform of each row, then exactly standardised (constant: 0)."""
    out = np.zeros_like(values)
    varies = np.ptp(values, axis=1) > 0
    ranks = stats.rankdata(values[varies], axis=1)
    z = stats.norm.ppf((ranks - 0.5) / values.shape[1])
    out[varies] = (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, keepdims=True)
    return out


def transform_expression(
    rpkm: np.ndarray, how: Literal["rank_inverse_normal", "zscore"] = "rank_inverse_normal"
) -> np.ndarray:
    """``log2(RPKM + 0.01)``, then per gene (row) rank-inverse-normal or z-score.

    Parameters
    ----------
    rpkm : numpy.ndarray
        ``(genes, samples)`` non-negative RPKM (a 1-D array is one gene).
    how : {"rank_inverse_normal", "zscore"}, default "rank_inverse_normal"
        The per-gene transform over the samples given; rank-inverse-normal is what
        :func:`exprflow.simulate.eqtl.scan_cis_eqtls` uses.

    Returns
    -------
    numpy.ndarray
        float64, same shape; every row has mean 0 and standard deviation 1 (a constant
        row is all zeros).
    """
    values = np.asarray(rpkm, np.float64)
    rows = np.atleast_2d(values)
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError("RPKM values must be finite and non-negative")
    if rows.shape[1] < 2:
        raise ValueError(f"need at least 2 samples to transform, got {rows.shape[1]}")
    logged = np.log2(rows + LOG_PSEUDOCOUNT)
    if how == "rank_inverse_normal":
        out = _rank_inverse_normal(logged)
    elif how == "zscore":
        centred = logged - logged.mean(axis=1, keepdims=True)
        sd = logged.std(axis=1, keepdims=True)
        out = np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)
    else:
        raise ValueError(f"how must be one of {TRANSFORMS}, got {how!r}")
    return out.reshape(values.shape)


def sample_folds(n_samples: int, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index of each sample: K shuffled, seeded folds of (nearly) equal size.

    Parameters
    ----------
    n_samples : int
        Number of samples (at least ``n_folds``).
    n_folds : int, default 5
        Number of folds (at least 2).
    seed : int, default 0
        Shuffling seed (``KFold(shuffle=True, random_state=seed)``).

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n_samples,)``, values ``0 … n_folds − 1``.
    """
    if n_folds < 2 or n_samples < n_folds:
        raise ValueError(
            f"need 2 ≤ n_folds ≤ n_samples; got n_folds={n_folds}, n_samples={n_samples}"
        )
    folds = np.empty(n_samples, np.int64)
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros((n_samples, 1)))):
        folds[test] = k
    return folds


class InnerCVSVR(RegressorMixin, BaseEstimator):
    """RBF SVR whose C is chosen by an inner K-fold search on one precomputed kernel.

    The search of ``GridSearchCV(SVR(gamma=γ), {"C": c_grid}, cv=KFold(n_folds, shuffle,
    seed), scoring="neg_mean_squared_error")`` (same C, same predictions), with the
    kernel computed once per fit instead of once per candidate and fold. ``γ`` is
    sklearn's ``"scale"`` on the training features: ``1 / (p · var(X))``.

    Parameters
    ----------
    c_grid : tuple of float, default :data:`SVR_C`
        Candidate C values (the first wins ties).
    n_folds : int, default 3
        Inner folds.
    seed : int, default 0
        Seed of the inner folds.
    """

    def __init__(self, c_grid: tuple[float, ...] = SVR_C, n_folds: int = 3, seed: int = 0):
        self.c_grid = c_grid
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> InnerCVSVR:
        """Choose C by inner CV, then fit on all of ``x`` ``(n, p)``, ``y`` ``(n,)``."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        variance = float(x.var())
        self.gamma_ = 1.0 / (x.shape[1] * variance) if variance > 0 else 1.0
        kernel = rbf_kernel(x, gamma=self.gamma_)
        inner = KFold(n_splits=self.n_folds, shuffle=True, random_state=self.seed)
        errors = np.zeros(len(self.c_grid))
        for train, test in inner.split(x):
            for i, c in enumerate(self.c_grid):
                model = SVR(kernel="precomputed", C=c).fit(kernel[np.ix_(train, train)], y[train])
                errors[i] += np.mean((model.predict(kernel[np.ix_(test, train)]) - y[test]) ** 2)
        self.C_ = float(self.c_grid[int(np.argmin(errors))])
        self.model_ = SVR(kernel="precomputed", C=self.C_).fit(kernel, y)
        self.train_ = x
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for ``x`` ``(m, p)``."""
        kernel = rbf_kernel(np.asarray(x, np.float64), self.train_, gamma=self.gamma_)
        return np.asarray(self.model_.predict(kernel))


def make_model(name: str, *, impute: bool = False, seed: int = 0) -> Pipeline:
    """A regression pipeline: optional mean imputation, standardisation, a regulariser.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`.
    impute : bool, default False
        Replace NaN features by their training-fold mean first (genotype dosages of
        unknown ``N`` calls).
    seed : int, default 0
        Seed of the inner CV splits.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted.
    """
    inner = KFold(n_splits=_INNER_FOLDS, shuffle=True, random_state=seed)
    regressors: dict[str, BaseEstimator] = {
        "ridge": RidgeCV(alphas=RIDGE_ALPHAS),
        "lasso": LassoCV(alphas=_PATH_ALPHAS, cv=inner, max_iter=5000, tol=1e-3),
        "svr": InnerCVSVR(SVR_C, _INNER_FOLDS, seed),
        "linear": LinearRegression(),
        "elastic_net": ElasticNetCV(
            l1_ratio=0.5, alphas=_PATH_ALPHAS, cv=inner, max_iter=5000, tol=1e-3
        ),
    }
    if name not in regressors:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    steps: list[tuple[str, BaseEstimator]] = []
    if impute:
        steps.append(("impute", SimpleImputer(strategy="mean", keep_empty_features=True)))
    steps += [("scale", StandardScaler()), ("model", regressors[name])]
    return Pipeline(steps)


def out_of_fold(
    model: Pipeline, features: np.ndarray, target: np.ndarray, folds: np.ndarray
) -> np.ndarray:
    """Predict each sample with ``model`` refitted on the other folds.

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline
        Unfitted pipeline (:func:`make_model`); cloned per fold by refitting.
    features : numpy.ndarray
        ``(S, p)``.
    target : numpy.ndarray
        ``(S,)``.
    folds : numpy.ndarray
        ``(S,)`` fold index per sample (:func:`sample_folds`).

    Returns
    -------
    numpy.ndarray
        float64 ``(S,)`` out-of-fold predictions.
    """
    x, y = np.asarray(features, np.float64), np.asarray(target, np.float64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or y.shape != folds.shape:
        raise ValueError(
            f"features (S, p), target (S,) and folds (S,) must agree; "
            f"got {x.shape}, {y.shape}, {folds.shape}"
        )
    predicted = np.empty(len(y))
    for k in np.unique(folds):
        test = folds == k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x[~test], y[~test])
        predicted[test] = model.predict(x[test])
    return predicted


def score(observed: np.ndarray, predicted: Sequence[float] | np.ndarray) -> Score:
    """Pearson r and R² of predictions against observations.

    Parameters
    ----------
    observed, predicted : numpy.ndarray
        Shape ``(S,)``.

    Returns
    -------
    Score
        r is NaN when either side is constant (fewer than 3 values); R² is
        ``1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` (NaN when ``observed`` is constant).
    """
    y, p = np.asarray(observed, np.float64), np.asarray(predicted, np.float64)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - p) ** 2).sum()) / total if total > 0 else float("nan")
    return Score(correlation(p, y).pearson, r2)


def result_row(
    gene_id: str,
    family: str,
    method: str,
    features: str,
    observed: np.ndarray | None = None,
    predicted: np.ndarray | None = None,
    *,
    status: str = EVALUATED,
    detail: str = "",
) -> dict[str, Any]:
    """One row of the comparison table; r and R² from ``predicted`` when given.

    Parameters
    ----------
    gene_id : str
        The gene predicted.
    family : str
        ``"mlm"`` (embeddings), ``"baseline"`` (genotypes, eQTL table) or ``"extra"``
        (predictions passed in, e.g. the fine-tuned model).
    method, features : str
        The model and its inputs (e.g. ``"ridge"``, ``"sum"``).
    observed, predicted : numpy.ndarray, optional
        ``(S,)``; without them r, R² and n_samples are NaN.
    status : str, default "evaluated"
        Why a row has no score; an evaluated row whose r is undefined becomes
        ``"constant_prediction"``.
    detail : str, default ""
        Free text (e.g. the SNP used).

    Returns
    -------
    dict
        Keys :data:`TABLE_COLUMNS`.
    """
    r = r2 = n = float("nan")
    if observed is not None and predicted is not None:
        r, r2 = score(observed, predicted)
        n = float(len(observed))
        if not np.isfinite(r) and status == EVALUATED:
            status = CONSTANT_PREDICTION
    values = (gene_id, family, method, features, r, r2, n, status, detail)
    return dict(zip(TABLE_COLUMNS, values, strict=True))
