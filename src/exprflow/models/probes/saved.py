"""A trained probe head on disk: one folder with its config, tracks, scale and weights.

Layout of the folder (:func:`save_probe` writes it, :func:`load_probe` reads it)::

    probe.json   {"config": <the head's to_json() object>, "target": "128bp_bins" or
                  "single_bin", "tracks": [track identifiers, in output order]}
    weights.pt   state dict of the ScaledHead: ``head.*`` and ``scale`` (tracks,)

Weights are read with ``torch.load(weights_only=True)``; every key and shape is checked
against the module built from the config before loading strictly. Trials of the search,
the registered MLflow models and ``mlflow models serve`` all read this one layout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.probes.base import ProbeConfig, read_state_dict
from exprflow.models.probes.registry import HEADS, config_from_json
from exprflow.models.probes.scaled import ScaledHead

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "SavedProbe", "load_probe", "save_probe"]

#: The folder's description: config, target and tracks.
CONFIG_FILE = "probe.json"
#: The folder's weights: the ScaledHead's state dict.
WEIGHTS_FILE = "weights.pt"

_FIX = "write the folder with exprflow.models.probes.saved.save_probe."


@dataclass(frozen=True)
class SavedProbe:
    """A loaded probe head.

    Attributes
    ----------
    module : ScaledHead
        In eval mode on the CPU; predicts in label units.
    config : ProbeConfig
        The head's sizes (``model_type`` names the head).
    target : str
        Labels dataset it predicts.
    tracks : list of str
        Track identifiers, in output order.
    """

    module: ScaledHead
    config: ProbeConfig
    target: str
    tracks: list[str]

    @property
    def head(self) -> str:
        """The head's name (a key of :data:`~exprflow.models.probes.registry.HEADS`)."""
        return self.config.model_type


def save_probe(
    folder: str | PathLike[str],
    module: ScaledHead,
    config: ProbeConfig,
    tracks: Sequence[str],
) -> Path:
    """Write ``module`` (a trained head with its scale) and its description to ``folder``.

    Parameters
    ----------
    folder : str or PathLike
        Created if missing; its two files are replaced atomically.
    module : ScaledHead
        The trained head.
    config : ProbeConfig
        Its config.
    tracks : sequence of str
        Track identifiers in output order; as many as ``config.tracks``.

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    ValueError
        When the tracks do not match the config.
    """
    if len(tracks) != config.tracks:
        raise ValueError(f"{len(tracks)} track names for a head of {config.tracks} tracks")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        torch.save(state, tmp)
    doc = {
        "config": json.loads(config.to_json()),
        "target": HEADS[config.model_type].target,
        "tracks": list(tracks),
    }
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    return folder


def load_probe(folder: str | PathLike[str]) -> SavedProbe:
    """Read a folder written by :func:`save_probe`.

    Parameters
    ----------
    folder : str or PathLike
        The folder.

    Returns
    -------
    SavedProbe

    Raises
    ------
    InputError
        A file is missing or unreadable, the description is malformed, or the weights'
        keys or shapes do not fit the config.
    """
    folder = Path(folder)
    described = folder / CONFIG_FILE
    try:
        doc = json.loads(described.read_text())
        config_doc, tracks = doc["config"], [str(t) for t in doc["tracks"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            described, f"cannot read the probe description ({exc}).", fix=_FIX
        ) from None
    config = config_from_json(config_doc, str(described))
    if len(tracks) != config.tracks:
        raise InputError(
            described, f"names {len(tracks)} tracks for a {config.tracks}-track head.", fix=_FIX
        )
    spec = HEADS[config.model_type]
    module = ScaledHead(spec.build(config), torch.ones(config.tracks))
    state = read_state_dict(folder / WEIGHTS_FILE, _FIX)
    wanted = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if wanted != found:
        wrong = sorted(k for k in wanted.keys() | found.keys() if wanted.get(k) != found.get(k))
        raise InputError(
            folder / WEIGHTS_FILE,
            f"does not fit the {config.model_type} config: keys/shapes differ at {wrong[:5]}.",
            fix=_FIX,
        )
    module.load_state_dict(state, strict=True)
    return SavedProbe(module.eval(), config, spec.target, tracks)
