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

from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import Chromoformer
from exprflow.models.model_folder import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    read_model_folder,
    write_model_folder,
)

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "load_chromoformer", "save_chromoformer"]

_FIX = "write the folder with exprflow.models.chromoformer.saved.save_chromoformer."


def save_chromoformer(model: Chromoformer, folder: str | PathLike[str]) -> Path:
    """Write ``model`` to ``folder`` as ``config.json`` + ``weights.pt``; return ``folder``."""
    return write_model_folder(model, model.config.to_json(), folder)


def load_chromoformer(folder: str | PathLike[str]) -> Chromoformer:
    """Read a folder written by :func:`save_chromoformer` (eval mode, CPU).

    Raises
    ------
    InputError
        A file is missing or unreadable, the config is malformed, or a weight is missing,
        unexpected or of the wrong shape for the config.
    """
    return read_model_folder(folder, ChromoformerConfig.from_json, Chromoformer, _FIX)
