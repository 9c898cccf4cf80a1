"""A haplotype MLM on disk: one folder with its config, free-form metadata and weights.

Layout of the folder (:func:`save_mlm` writes it, :func:`load_mlm` reads it)::

    mlm.json     {"config": <MlmConfig.to_dict()>, "extra": <JSON object: training and
                  data parameters, gene order, …>}
    weights.pt   plain state dict of the HaplotypeMLM

Both files are written atomically. Weights are read with ``torch.load(weights_only=True)``
(no pickled code); every key and shape is checked against the module built from the
config before loading strictly, and a mismatch names the file, the key and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import torch

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.mlm.config import MlmConfig
from exprflow.models.mlm.model import HaplotypeMLM, build_mlm
from exprflow.models.probes.base import read_state_dict, state_shapes

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "SavedMlm", "load_mlm", "save_mlm"]

#: The folder's description: config and extra metadata.
CONFIG_FILE = "mlm.json"
#: The folder's weights: the model's state dict.
WEIGHTS_FILE = "weights.pt"

_FIX = "write the folder with exprflow.models.mlm.saved.save_mlm."


class SavedMlm(NamedTuple):
    """A loaded model (unpacks as ``model, config, extra``).

    Attributes
    ----------
    model : HaplotypeMLM
        In eval mode on the CPU.
    config : MlmConfig
        Its sizes.
    extra : dict
        The metadata saved with it.
    """

    model: HaplotypeMLM
    config: MlmConfig
    extra: dict[str, Any]


def save_mlm(
    folder: str | PathLike[str],
    model: HaplotypeMLM,
    config: MlmConfig,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``, its config and ``extra`` to ``folder``.

    Parameters
    ----------
    folder : str or PathLike
        Created if missing; its two files are replaced atomically.
    model : HaplotypeMLM
        The model (any device; saved from the CPU).
    config : MlmConfig
        Its config.
    extra : mapping, optional
        JSON-able metadata (training and data parameters). Default None: ``{}``.

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    ValueError
        When ``model`` was not built from ``config`` or ``extra`` is not JSON-able.
    """
    if model.config != config:
        raise ValueError(f"the model was built from {model.config}, not {config}")
    try:
        text = json.dumps({"config": config.to_dict(), "extra": dict(extra or {})}, indent=1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"extra must be JSON-able ({exc})") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        torch.save(state, tmp)
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(text + "\n")
    return folder


def _read_description(path: Path) -> tuple[MlmConfig, dict[str, Any]]:
    """Read ``mlm.json``: the config and the extra metadata."""
    try:
        doc = json.loads(path.read_text())
        config_doc, extra = doc["config"], doc.get("extra", {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            path, f"cannot read the model description ({type(exc).__name__}: {exc}).", fix=_FIX
        ) from None
    if not isinstance(extra, dict):
        raise InputError(path, f"extra is a {type(extra).__name__}, not a JSON object.", fix=_FIX)
    return MlmConfig.from_json(config_doc, str(path)), extra


def _check_state(
    path: Path, state: Mapping[str, torch.Tensor], wanted: Mapping[str, tuple[int, ...]]
) -> None:
    """Raise InputError naming the first missing, unexpected or misshapen key."""
    for key, shape in wanted.items():
        if key not in state:
            raise InputError(path, "missing key.", record=key, fix=_FIX)
        found = tuple(state[key].shape)
        if found != shape:
            raise InputError(
                path,
                f"has shape {list(found)}, expected {list(shape)} from {CONFIG_FILE}.",
                record=key,
                fix=_FIX,
            )
    unexpected = sorted(set(state) - set(wanted))
    if unexpected:
        raise InputError(path, f"unexpected keys {unexpected[:5]} (not in the model).", fix=_FIX)


def load_mlm(folder: str | PathLike[str]) -> SavedMlm:
    """Read a folder written by :func:`save_mlm`.

    Parameters
    ----------
    folder : str or PathLike
        The folder.

    Returns
    -------
    SavedMlm
        ``(model in eval mode on the CPU, config, extra)``.

    Raises
    ------
    InputError
        A file is missing or unreadable, the description is malformed, or a weight is
        missing, unexpected or of the wrong shape for the config.
    """
    folder = Path(folder)
    config, extra = _read_description(folder / CONFIG_FILE)
    state = read_state_dict(folder / WEIGHTS_FILE, _FIX)
    with torch.device("meta"):
        wanted = state_shapes(build_mlm(config))
    _check_state(folder / WEIGHTS_FILE, state, wanted)
    model = build_mlm(config)
    model.load_state_dict(state, strict=True)
    return SavedMlm(model.eval(), config, extra)
