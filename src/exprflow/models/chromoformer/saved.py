"""A trained Chromoformer on disk: one folder with ``config.json`` and ``weights.pt``.

Layout of the folder (:func:`save_chromoformer` writes it, :func:`load_chromoformer`
reads it)::

    config.json   ChromoformerConfig.to_json(): {"model_type": "chromoformer", …}
    weights.pt    plain state dict of the Chromoformer (published key names)

Both files are written atomically. Weights are read with ``torch.load(weights_only=True)``
(no pickled code); every key and shape is checked against the model built from the
config before loading strictly, and a mismatch names the file, the keys and the fix.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import torch

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.chromoformer.checkpoint import check_state_layout
from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import Chromoformer
from exprflow.models.probes.base import read_state_dict, state_shapes

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "load_chromoformer", "save_chromoformer"]

#: The folder's config file.
CONFIG_FILE = "config.json"
#: The folder's weights file.
WEIGHTS_FILE = "weights.pt"

_FIX = "write the folder with exprflow.models.chromoformer.saved.save_chromoformer."


def save_chromoformer(model: Chromoformer, folder: str | PathLike[str]) -> Path:
    """Write ``model`` to ``folder`` as ``config.json`` + ``weights.pt``.

    Parameters
    ----------
    model : Chromoformer
        The model (any device; saved from the CPU).
    folder : str or PathLike
        Created if missing; both files are replaced atomically.

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        torch.save(state, tmp)
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(model.config.to_json() + "\n")
    return folder


def _read_config(path: Path) -> ChromoformerConfig:
    """Read ``config.json``; InputError when missing or malformed."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(path, f"cannot read the config ({exc.strerror}).", fix=_FIX) from None
    return ChromoformerConfig.from_json(text, str(path))


def load_chromoformer(folder: str | PathLike[str]) -> Chromoformer:
    """Read a folder written by :func:`save_chromoformer`.

    Parameters
    ----------
    folder : str or PathLike
        The folder.

    Returns
    -------
    Chromoformer
        In eval mode on the CPU.

    Raises
    ------
    InputError
        A file is missing or unreadable, the config is malformed, or a weight is missing,
        unexpected or of the wrong shape for the config.
    """
    folder = Path(folder)
    config = _read_config(folder / CONFIG_FILE)
    state = read_state_dict(folder / WEIGHTS_FILE, _FIX)
    model = Chromoformer(config)
    check_state_layout(folder / WEIGHTS_FILE, state, state_shapes(model), _FIX)
    model.load_state_dict(state, strict=True)
    return model.eval()
