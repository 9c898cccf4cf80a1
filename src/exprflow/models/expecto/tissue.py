"""ExPecto's linear tissue models: prediction, model lists, training and exprflow's JSON.

A tissue model predicts ``ln(RPKM + pseudocount) = base_score + bias + x·w`` from the
spatial features of :mod:`exprflow.models.expecto.features`, in either layout:
``"legacy"`` (10 × (F+1) columns, the released models) or ``"exprflow"`` (10 × F).

Formats
-------
``modellist`` (read)
    ExPecto's tab-separated list: header ``ModelName<TAB>Tissue``, then one model path
    (relative paths are relative to the list's folder) and its tissue name per line.
``*.save`` (read)
    Released xgboost 0.7 binary models, see :mod:`exprflow.models.expecto.legacy`.
``*.json`` (read/write)
    exprflow's own format: ``{"format": "exprflow.expecto.linear_tissue_model",
    "version": 1, "name", "tissue", "feature_layout", "base_score", "bias", "weights",
    "training"}``.

Training uses xgboost's ``gblinear`` booster with the ``shotgun`` updater (the
algorithm xgboost 0.7 ran, which ExPecto's models come from) on one thread, where it is
plain sequential coordinate descent and therefore deterministic. xgboost ≥ 0.71
multiplies ``lambda``/``alpha`` by the sum of instance weights (dmlc/xgboost#3103);
:func:`train_tissue_model` takes the penalties in xgboost 0.7's units and divides them
by the number of rows, so ExPecto's ``lambda = 100`` means what it meant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, cast, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.expecto.features import N_BASES, from_legacy_layout, to_legacy_layout
from exprflow.models.expecto.legacy import read_legacy_model

__all__ = [
    "JSON_FORMAT",
    "MODEL_LIST_FILE",
    "FeatureLayout",
    "LinearTissueModel",
    "ModelEntry",
    "load_json",
    "load_tissue_models",
    "read_model_list",
    "save_json",
    "train_tissue_model",
]

FeatureLayout = Literal["legacy", "exprflow"]
JSON_FORMAT: Final = "exprflow.expecto.linear_tissue_model"
#: Name of the model list in a folder of tissue models (as ``train_tissue`` writes it).
MODEL_LIST_FILE: Final = "modellist"
_LIST_HEADER: Final = ("ModelName", "Tissue")


@dataclass(frozen=True, eq=False)
class LinearTissueModel:
    """One tissue's linear expression model.

    Parameters
    ----------
    weights : numpy.ndarray
        float64, shape (n_features,).
    bias : float
        Learned intercept.
    base_score : float
        xgboost's global offset (2.0 for ExPecto).
    feature_layout : {"legacy", "exprflow"}, default "exprflow"
        Layout of the inputs the weights refer to.
    name : str, default ""
        Model name (e.g. the file stem).
    tissue : str, default ""
        Tissue or cell type.
    source : str, default ""
        File the model was read from; named in error messages.
    training : Mapping, default {}
        Training parameters, saved with the model.
    """

    weights: NDArray[np.float64]
    bias: float
    base_score: float
    feature_layout: FeatureLayout = "exprflow"
    name: str = ""
    tissue: str = ""
    source: str = ""
    training: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.ndim != 1 or not np.isfinite(weights).all():
            raise ValueError(f"weights must be a finite 1-D array, got shape {weights.shape}")
        if self.feature_layout not in get_args(FeatureLayout):
            raise ValueError(
                f"feature_layout must be one of {get_args(FeatureLayout)}, "
                f"got {self.feature_layout!r}"
            )
        object.__setattr__(self, "weights", weights)

    @property
    def n_features(self) -> int:
        """Number of inputs in the model's own layout."""
        return int(self.weights.shape[0])

    def _in_layout(self, features: ArrayLike) -> NDArray[np.float64]:
        x = np.asarray(features, dtype=np.float64)
        n = x.shape[-1] if x.ndim else 0
        if n == self.n_features:
            return x
        blocks, rest = divmod(self.n_features, N_BASES)
        if not rest and self.feature_layout == "legacy" and n == self.n_features - N_BASES:
            return to_legacy_layout(x, blocks - 1)
        if not rest and self.feature_layout == "exprflow" and n == self.n_features + N_BASES:
            return from_legacy_layout(x, blocks)
        other = self.n_features + (N_BASES if self.feature_layout == "exprflow" else -N_BASES)
        raise InputError(
            self.source or f"model {self.name!r}",
            f"features have {n} columns; the model takes {self.n_features} "
            f"({self.feature_layout} layout) or {other} (the other layout).",
            record=self.tissue or self.name or None,
            fix="compute features with the same number of chromatin features as the model.",
        )

    def contribution(self, features: ArrayLike) -> NDArray[np.float64]:
        """Return ``x·w`` (the prediction without intercepts).

        Parameters
        ----------
        features : array-like, shape (..., n_features) or the other layout's width
            Spatial features, converted to the model's layout when needed.

        Returns
        -------
        numpy.ndarray
            float64, shape (...).
        """
        return self._in_layout(features) @ self.weights

    def predict(self, features: ArrayLike) -> NDArray[np.float64]:
        """Predict ``ln(RPKM + pseudocount) = base_score + bias + x·w``.

        Parameters
        ----------
        features : array-like, shape (..., n_features) or the other layout's width
            Spatial features, converted to the model's layout when needed.

        Returns
        -------
        numpy.ndarray
            float64, shape (...).
        """
        return self.base_score + self.bias + self.contribution(features)


class ModelEntry(NamedTuple):
    """One row of an ExPecto model list: the model file (resolved) and its tissue."""

    path: Path
    tissue: str


def read_model_list(path: str | Path) -> list[ModelEntry]:
    """Read ExPecto's ``modellist`` (``ModelName<TAB>Tissue``) without loading models.

    Parameters
    ----------
    path : str or Path
        The list; relative model paths are resolved against its folder.

    Returns
    -------
    list of ModelEntry
        In file order.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read the model list: {err}.") from err
    header = tuple(f.strip() for f in lines[0].split("\t")) if lines else ()
    if header != _LIST_HEADER:
        raise InputError(
            path,
            f"header is {header}, expected {_LIST_HEADER}.",
            record="line 1",
            fix="give an ExPecto model list: ModelName<TAB>Tissue, one model per line.",
        )
    entries: list[ModelEntry] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise InputError(
                path,
                f"expected 2 tab-separated non-empty fields, got {len(fields)}: {line!r}.",
                record=f"line {number}",
                fix="write 'model path<TAB>tissue name'.",
            )
        model = Path(fields[0].strip())
        entries.append(
            ModelEntry(model if model.is_absolute() else path.parent / model, fields[1].strip())
        )
    tissues = [entry.tissue for entry in entries]
    duplicated = sorted({t for t in tissues if tissues.count(t) > 1})
    if duplicated:
        raise InputError(
            path, f"tissue names listed twice: {duplicated}.", fix="give each model its own name."
        )
    return entries


def _from_legacy(path: Path, tissue: str = "") -> LinearTissueModel:
    raw = read_legacy_model(path)
    return LinearTissueModel(
        weights=raw.weights.astype(np.float64),
        bias=raw.bias,
        base_score=raw.base_score,
        feature_layout="legacy",
        name=path.stem,
        tissue=tissue or path.stem.rsplit(".", 1)[-1],
        source=str(path),
        training={"objective": raw.objective, "format": "xgboost-0.7-binary"},
    )


def _load_one(path: Path, tissue: str = "") -> LinearTissueModel:
    if path.suffix == ".json":
        model = load_json(path)
        return replace(model, tissue=tissue or model.tissue)
    return _from_legacy(path, tissue)


def _folder_model_list(folder: Path) -> Path:
    """The model list of a folder of tissue models; an error when it has none."""
    listing = folder / MODEL_LIST_FILE
    if not listing.is_file():
        raise InputError(
            folder,
            f"is a folder without a {MODEL_LIST_FILE!r} file.",
            fix="give the folder train_tissue wrote (<eid>.json + modellist), a model list, "
            "a .save or a .json model.",
        )
    return listing


def load_tissue_models(path: str | Path) -> list[LinearTissueModel]:
    """Load tissue models from a model list, one ``.save`` file, one exprflow JSON or a folder.

    Parameters
    ----------
    path : str or Path
        ``*.save`` (xgboost 0.7 binary), ``*.json`` (exprflow), an ExPecto model list, or a
        folder holding one as :data:`MODEL_LIST_FILE` (what ``train_tissue`` writes).

    Returns
    -------
    list of LinearTissueModel
        One per model, in list order; tissue names from the list, else the file name.
    """
    path = Path(path)
    if path.is_dir():
        path = _folder_model_list(path)
    if path.suffix in (".save", ".json"):
        return [_load_one(path)]
    models = []
    for entry in read_model_list(path):
        if not entry.path.is_file():
            raise InputError(
                path,
                f"model file {entry.path} does not exist.",
                record=f"tissue {entry.tissue!r}",
                fix="put the model files where the list says (paths relative to the list).",
            )
        models.append(_load_one(entry.path, entry.tissue))
    return models


def _booster_values(booster: Any) -> tuple[NDArray[np.float64], float, float]:
    learner = json.loads(booster.save_raw("json"))["learner"]
    values = np.asarray(learner["gradient_booster"]["model"]["weights"], dtype=np.float64)
    base = float(str(learner["learner_model_param"]["base_score"]).strip("[]").split(",")[0])
    return values[:-1], float(values[-1]), base


def train_tissue_model(
    features: ArrayLike,
    log_expression: ArrayLike,
    *,
    l2: float = 100.0,
    alpha: float = 0.0,
    eta: float = 0.01,
    rounds: int = 100,
    base_score: float = 2.0,
    seed: int = 0,
    feature_layout: FeatureLayout = "exprflow",
    tissue: str = "",
) -> LinearTissueModel:
    """Train a tissue model as ExPecto did: xgboost gblinear on ``ln(RPKM + pseudocount)``.

    Parameters
    ----------
    features : array-like, shape (n_genes, n_features)
        Spatial features.
    log_expression : array-like, shape (n_genes,)
        Target, ``ln(RPKM + pseudocount)``.
    l2, alpha : float, default 100, 0
        L2 / L1 penalties in xgboost 0.7's (unnormalised) units.
    eta : float, default 0.01
        Learning rate.
    rounds : int, default 100
        Boosting rounds.
    base_score : float, default 2
        Global offset.
    seed : int, default 0
        xgboost seed (the cyclic shotgun updater is deterministic anyway).
    feature_layout : {"legacy", "exprflow"}, default "exprflow"
        Layout of ``features``, recorded with the model.
    tissue : str, default ""
        Tissue name.

    Returns
    -------
    LinearTissueModel
        Weights and bias read back from the booster; ``training`` holds the parameters.
    """
    import xgboost as xgb

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(log_expression, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or not x.shape[0]:
        raise ValueError(
            f"features must be (n_genes, n_features) and log_expression (n_genes,), "
            f"got {x.shape} and {y.shape}"
        )
    params = {
        "booster": "gblinear",
        "objective": "reg:squarederror",
        "updater": "shotgun",
        "feature_selector": "cyclic",
        "lambda": l2 / x.shape[0],
        "alpha": alpha / x.shape[0],
        "eta": eta,
        "base_score": base_score,
        "nthread": 1,
        "seed": seed,
    }
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=rounds)
    weights, bias, base = _booster_values(booster)
    training = {
        "l2": l2,
        "alpha": alpha,
        "eta": eta,
        "rounds": rounds,
        "base_score": base_score,
        "seed": seed,
        "n_genes": int(x.shape[0]),
        "xgboost_version": xgb.__version__,
        "xgboost_params": params,
    }
    return LinearTissueModel(
        weights, bias, base, feature_layout, name=tissue, tissue=tissue, training=training
    )


def save_json(model: LinearTissueModel, path: str | Path) -> Path:
    """Write a model in exprflow's JSON format (atomically).

    Parameters
    ----------
    model : LinearTissueModel
        The model.
    path : str or Path
        Destination ``.json``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    record = {
        "format": JSON_FORMAT,
        "version": 1,
        "name": model.name,
        "tissue": model.tissue,
        "feature_layout": model.feature_layout,
        "base_score": model.base_score,
        "bias": model.bias,
        "weights": model.weights.tolist(),
        "training": dict(model.training),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record))
    return path


def load_json(path: str | Path) -> LinearTissueModel:
    """Read a model written by :func:`save_json`.

    Parameters
    ----------
    path : str or Path
        The ``.json`` file.

    Returns
    -------
    LinearTissueModel
        With ``source`` set to ``path``.
    """
    path = Path(path)
    fix = "give a model written by exprflow's save_json."
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read JSON: {err}.", fix=fix) from err
    if not isinstance(record, dict) or record.get("format") != JSON_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise InputError(path, f"format is {found!r}, expected {JSON_FORMAT!r}.", fix=fix)
    try:
        return LinearTissueModel(
            weights=np.asarray(record["weights"], dtype=np.float64),
            bias=float(record["bias"]),
            base_score=float(record["base_score"]),
            feature_layout=cast(FeatureLayout, record["feature_layout"]),
            name=str(record.get("name", "")),
            tissue=str(record.get("tissue", "")),
            source=str(path),
            training=dict(record.get("training", {})),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(path, f"bad or missing field: {err}.", fix=fix) from err
