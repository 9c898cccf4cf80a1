"""Load Beluga weights by path or URI; write and read self-describing exprflow checkpoints.

Two file layouts are read, both through ``torch.load(weights_only=True)`` (no pickled
code is ever run):

* the released ``deepsea.beluga.pth``: a plain state dict of the published model (or of
  the ``config`` given to :func:`from_pretrained`), loaded strictly;
* an exprflow checkpoint, written by :func:`save_checkpoint`: a dict with
  ``format`` (:data:`CHECKPOINT_FORMAT`), ``model_type`` (``"beluga"``), ``config``
  (:meth:`BelugaConfig.to_json` text), ``state_dict``, ``train_params`` and
  ``data_params`` (JSON-able dicts; ``data_params`` holds at least
  :data:`DATA_PARAM_KEYS`: ``feature_names``, ``seq_len``, ``genome`` and
  ``held_out_chroms``).

URIs (``runs:/``, ``s3://``, …) are fetched through
:func:`exprflow.tracking.uris.local_path`.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.convert import from_state_dict
from exprflow.models.beluga.model import Beluga
from exprflow.tracking.uris import local_path

__all__ = [
    "CHECKPOINT_FORMAT",
    "DATA_PARAM_KEYS",
    "Checkpoint",
    "from_pretrained",
    "load_checkpoint",
    "save_checkpoint",
]

#: ``format`` tag of exprflow checkpoints.
CHECKPOINT_FORMAT = "exprflow-checkpoint/1"
#: Keys every checkpoint's ``data_params`` must hold.
DATA_PARAM_KEYS: tuple[str, ...] = ("feature_names", "seq_len", "genome", "held_out_chroms")
_CHECKPOINT_KEYS = ("config", "state_dict", "train_params", "data_params")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded Beluga with what it was trained on.

    Attributes
    ----------
    model : Beluga
        In eval mode, on the CPU.
    config : BelugaConfig
        Its sizes.
    train_params : dict
        Training parameters (empty for a released state dict).
    data_params : dict
        Data parameters, :data:`DATA_PARAM_KEYS` at least (empty for a released state dict).
    """

    model: Beluga
    config: BelugaConfig
    train_params: dict[str, Any]
    data_params: dict[str, Any]


def _jsonable(value: dict[str, Any], name: str) -> dict[str, Any]:
    """``value`` after a JSON round trip (plain types only); ValueError when not JSON-able."""
    try:
        return dict(json.loads(json.dumps(value)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a JSON-able dict ({exc})") from None


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Beluga,
    config: BelugaConfig,
    train_params: dict[str, Any],
    data_params: dict[str, Any],
) -> Path:
    """Write weights, config, training and data parameters to one file, atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination (``.pt``); written under a temporary name, then renamed.
    model : Beluga
        The trained network; its weights are saved from the CPU.
    config : BelugaConfig
        Its config (must equal ``model.config``).
    train_params : dict
        JSON-able training parameters (epochs, lr, seed, …).
    data_params : dict
        JSON-able data parameters with :data:`DATA_PARAM_KEYS`; ``feature_names`` has
        ``config.n_outputs`` names and ``seq_len`` equals ``config.seq_len``.

    Returns
    -------
    Path
        ``path``.
    """
    if model.config != config:
        raise ValueError(f"config {config} differs from model.config {model.config}")
    data = _jsonable(data_params, "data_params")
    missing = [key for key in DATA_PARAM_KEYS if key not in data]
    if missing:
        raise ValueError(f"data_params lacks {missing}; it needs {list(DATA_PARAM_KEYS)}")
    if len(data["feature_names"]) != config.n_outputs or data["seq_len"] != config.seq_len:
        raise ValueError(
            f"data_params has {len(data['feature_names'])} feature_names and seq_len "
            f"{data['seq_len']}; the config needs {config.n_outputs} and {config.seq_len}"
        )
    document = {
        "format": CHECKPOINT_FORMAT,
        "model_type": config.model_type,
        "config": config.to_json(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_params": _jsonable(train_params, "train_params"),
        "data_params": data,
    }
    with atomic_path(path) as tmp:
        torch.save(document, tmp)
    return Path(path)


def _read(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of ``path``, which must hold a dict."""
    try:
        document = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, IndexError) as exc:
        raise InputError(
            path,
            f"cannot be read with torch.load(weights_only=True) ({str(exc).splitlines()[0]}).",
            fix="give a PyTorch state dict (.pth) or an exprflow checkpoint; pickled "
            "modules are not loaded.",
        ) from None
    if not isinstance(document, dict):
        raise InputError(
            path,
            f"holds a {type(document).__name__}, not a state dict or checkpoint dict.",
            fix="save model.state_dict(), or use save_checkpoint().",
        )
    return document


def _from_checkpoint(path: Path, document: dict[str, Any]) -> Checkpoint:
    """Unpack an exprflow checkpoint dict."""
    fix = "write checkpoints with exprflow.models.beluga.load.save_checkpoint()."
    missing = [key for key in _CHECKPOINT_KEYS if key not in document]
    if missing or document.get("model_type") != BelugaConfig.model_type:
        raise InputError(
            path,
            f"is not a Beluga checkpoint: missing {missing}, model_type "
            f"{document.get('model_type')!r} (expected {BelugaConfig.model_type!r}).",
            fix=fix,
        )
    config = BelugaConfig.from_json(document["config"], source=f"{path}: config")
    data = dict(document["data_params"])
    absent = [key for key in DATA_PARAM_KEYS if key not in data]
    if absent:
        raise InputError(path, f"data_params lacks {absent}.", record="data_params", fix=fix)
    model = from_state_dict(document["state_dict"], config, path)
    return Checkpoint(model, config, dict(document["train_params"]), data)


def load_checkpoint(
    path_or_uri: str | os.PathLike[str], config: BelugaConfig | None = None
) -> Checkpoint:
    """Load a Beluga, with its config and parameters, from a file or URI.

    Parameters
    ----------
    path_or_uri : str or PathLike
        An exprflow checkpoint, or a plain state dict such as the released
        ``deepsea.beluga.pth``; local path, ``file://``, ``runs:/``, ``s3://``, ….
    config : BelugaConfig, optional
        Sizes of a plain state dict. Default None: the published model. For an exprflow
        checkpoint it must be None or equal the stored config.

    Returns
    -------
    Checkpoint
        Model in eval mode on the CPU; empty parameter dicts for a plain state dict.

    Raises
    ------
    InputError
        When the file cannot be read safely, is neither layout, or does not fit.
    """
    path = local_path(str(path_or_uri))
    document = _read(path)
    if "state_dict" in document or "format" in document:
        checkpoint = _from_checkpoint(path, document)
        if config is not None and config != checkpoint.config:
            raise InputError(
                path,
                f"stores config {checkpoint.config.to_json()}, not the given {config.to_json()}.",
                fix="drop the config argument; checkpoints describe themselves.",
            )
        return checkpoint
    model = from_state_dict(document, config, path)
    return Checkpoint(model, model.config, {}, {})


def from_pretrained(
    path_or_uri: str | os.PathLike[str], config: BelugaConfig | None = None
) -> Beluga:
    """Load Beluga weights: the released ``deepsea.beluga.pth`` or an exprflow checkpoint.

    Parameters
    ----------
    path_or_uri : str or PathLike
        Local path or URI of the weights.
    config : BelugaConfig, optional
        Sizes of a plain state dict. Default None: the published model.

    Returns
    -------
    Beluga
        In eval mode on the CPU.

    Raises
    ------
    InputError
        See :func:`load_checkpoint`.
    """
    return load_checkpoint(path_or_uri, config).model
