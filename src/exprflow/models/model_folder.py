"""A trained model on disk: one folder with ``config.json`` and ``weights.pt``.

Shared by the chromatin models (:mod:`exprflow.models.chromexpress`,
:mod:`exprflow.models.chromoformer.saved`)::

    config.json   the model's config as JSON (its ``model_type`` names the architecture)
    weights.pt    plain state dict, saved from the CPU

Both files are written atomically. Weights are read with ``torch.load(weights_only=True)``
(no pickled code); every key and shape is checked against the model built from the
config before a strict load, and a mismatch names the file, the keys and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor, nn

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.probes.base import read_state_dict, state_shapes

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "check_state_layout",
    "read_model_folder",
    "write_model_folder",
]

#: The folder's config file.
CONFIG_FILE = "config.json"
#: The folder's weights file.
WEIGHTS_FILE = "weights.pt"
_SHOWN = 5

C = TypeVar("C")
M = TypeVar("M", bound=nn.Module)


def _listed(keys: list[str]) -> str:
    """The first few ``keys`` and how many more."""
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return f"{keys[:_SHOWN]}{more}"


def check_state_layout(
    path: str | PathLike[str],
    state: Mapping[str, Tensor],
    wanted: Mapping[str, tuple[int, ...]],
    fix: str,
) -> None:
    """Raise InputError listing missing, unexpected and misshapen keys of ``state``.

    Parameters
    ----------
    path : str or PathLike
        The file named in the error.
    state : mapping of str to Tensor
        The state dict read from ``path``.
    wanted : mapping of str to tuple of int
        Key → shape the model needs.
    fix : str
        What the user should do.

    Raises
    ------
    InputError
        When a key is missing, unexpected or of another shape; ``record`` is the first
        such key.
    """
    missing = [key for key in wanted if key not in state]
    unexpected = [key for key in state if key not in wanted]
    misshapen = [key for key in wanted if key in state and tuple(state[key].shape) != wanted[key]]
    if not (missing or unexpected or misshapen):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys {_listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys {_listed(unexpected)}")
    if misshapen:
        shapes = ", ".join(
            f"{key} {list(state[key].shape)} (expected {list(wanted[key])})"
            for key in misshapen[:_SHOWN]
        )
        problems.append(f"{len(misshapen)} keys of the wrong shape: {shapes}")
    raise InputError(
        path, "; ".join(problems) + ".", record=(missing + unexpected + misshapen)[0], fix=fix
    )


def write_model_folder(model: nn.Module, config_json: str, folder: str | PathLike[str]) -> Path:
    """Write ``model``'s weights and ``config_json`` to ``folder`` (created); return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        torch.save(state, tmp)
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(config_json + "\n")
    return folder


def read_model_folder(
    folder: str | PathLike[str],
    parse: Callable[[str, str], C],
    build: Callable[[C], M],
    fix: str,
) -> M:
    """Read a folder written by :func:`write_model_folder`.

    Parameters
    ----------
    folder : str or PathLike
        The folder.
    parse : callable
        ``(json_text, source) -> config`` (e.g. ``ChromExpressConfig.from_json``).
    build : callable
        ``config -> model``.
    fix : str
        What to do when the folder is broken (named in errors).

    Returns
    -------
    torch.nn.Module
        The model, in eval mode on the CPU.

    Raises
    ------
    InputError
        A file is missing or unreadable, the config is malformed, or a weight is missing,
        unexpected or of the wrong shape for the config.
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(path, f"cannot read the config ({exc.strerror}).", fix=fix) from None
    model = build(parse(text, str(path)))
    state = read_state_dict(folder / WEIGHTS_FILE, fix)
    check_state_layout(folder / WEIGHTS_FILE, state, state_shapes(model), fix)
    model.load_state_dict(state, strict=True)
    return model.eval()
