"""Keyed work folders under the data root, where a step keeps what a rerun can reuse."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from exprflow.tracking.store import data_root

__all__ = ["keyed_work_folder"]


def keyed_work_folder(root: str, content: str, params: Any, exclude: Collection[str]) -> Path:
    """``<data root>/<root>/<key>`` (created); the key digests ``content`` and the settings.

    Parameters
    ----------
    root : str
        The step's folder under the data root.
    content : str
        Fingerprint of the inputs' content.
    params : dataclass instance
        The step's parameters; all but ``exclude`` enter the key.
    exclude : collection of str
        Parameters that choose what runs rather than how (left out of the key).

    Returns
    -------
    Path
        The folder, named by the first 16 hex digits of the SHA-256 of the JSON
        ``[content, settings]`` (keys sorted).
    """
    settings = {k: v for k, v in dataclasses.asdict(params).items() if k not in exclude}
    key = hashlib.sha256(json.dumps([content, settings], sort_keys=True).encode()).hexdigest()
    folder = data_root() / root / key[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder
