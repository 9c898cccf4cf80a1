"""Load Basenji2 weights from a legacy (Keras 2 / tf.keras) HDF5 file such as ``model_human.h5``.

Accepted layout (what ``model.save(..., save_format="h5")`` and ``save_weights`` wrote):
a ``model_weights`` group (or the file root, for weights-only files) whose attribute
``layer_names`` lists every layer in model order; each layer's group carries a
``weight_names`` attribute (e.g. ``conv1d_3/kernel:0``; empty for weightless layers) and
holds one dataset per name at that relative path. BatchNorm weights are gamma, beta,
moving_mean, moving_variance; Conv1D kernels ``(k, in, out)``; Dense kernel and bias.

Layer names differ between the released file (auto-generated ``conv1d_210`` …) and the
rebuilt model, so the weighted layers are matched **by order**, as Keras' ``load_weights``
does: the file's weighted layers (61 published: 30 Conv1D, 30 BatchNorm, 1 Dense) onto
the model's, every shape checked before anything is assigned. Keras' own loader is not
used because Keras 3 cannot read the legacy custom-layer config of the released file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from exprflow.errors import InputError

__all__ = ["LegacyLayer", "load_legacy_weights", "read_legacy_weights"]

_LOG = logging.getLogger(__name__)
_FIX = "pass a Keras HDF5 of this architecture (e.g. model_human.h5 with params_human.json)."


@dataclass(frozen=True)
class LegacyLayer:
    """One weighted layer of a legacy HDF5 file.

    Attributes
    ----------
    name : str
        The layer name in the file.
    weight_names : tuple of str
        Dataset names, in the layer's weight order.
    arrays : tuple of numpy.ndarray
        The weights, same order.
    """

    name: str
    weight_names: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]


def _names(attrs: Any, key: str) -> list[str]:
    """Decode an HDF5 string-array attribute (bytes or str) to a list of str."""
    values = attrs.get(key, [])
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _read_layer(group: h5py.Group, name: str, path: str) -> LegacyLayer | None:
    """Read layer ``name`` from the weights group; None when it has no weights."""
    if name not in group:
        raise InputError(
            path,
            f"layer {name!r} is listed in layer_names but has no group in the file.",
            record=name,
            fix=_FIX,
        )
    layer = group[name]
    weight_names = _names(layer.attrs, "weight_names")
    arrays = []
    for weight in weight_names:
        if weight not in layer:
            raise InputError(
                path,
                f"layer {name!r} lists weight {weight!r} but the file has no such dataset.",
                record=name,
                fix=_FIX,
            )
        arrays.append(np.asarray(layer[weight]))
    if not arrays:
        return None
    return LegacyLayer(name, tuple(weight_names), tuple(arrays))


def read_legacy_weights(path: str | PathLike[str]) -> list[LegacyLayer]:
    """Read the weighted layers of a legacy Keras HDF5 file, in file order.

    Parameters
    ----------
    path : str or PathLike
        A full-model file (``model_weights`` group) or a weights-only file.

    Returns
    -------
    list of LegacyLayer
        Only layers with weights (61 for ``model_human.h5``).

    Raises
    ------
    InputError
        When the file cannot be opened as HDF5, has no ``layer_names`` attribute, or a
        listed layer or weight is missing.
    """
    source = str(path)
    try:
        handle = h5py.File(Path(path), "r")
    except OSError as exc:
        raise InputError(source, f"cannot open as HDF5 ({exc}).", fix=_FIX) from None
    with handle:
        group = handle.get("model_weights", handle)
        if "layer_names" not in group.attrs:
            raise InputError(
                source,
                "no 'layer_names' attribute on the 'model_weights' group or the root: "
                "not a legacy Keras HDF5 file.",
                fix=_FIX,
            )
        layers = [_read_layer(group, name, source) for name in _names(group.attrs, "layer_names")]
    return [layer for layer in layers if layer is not None]


def _check_pair(source: str, index: int, stored: LegacyLayer, layer: Any) -> None:
    """Raise InputError unless ``stored`` fits model ``layer`` weight by weight."""
    expected = [tuple(w.shape) for w in layer.weights]
    found = [a.shape for a in stored.arrays]
    if len(found) != len(expected):
        raise InputError(
            source,
            f"weighted layer {index}: file layer {stored.name!r} has {len(found)} weights "
            f"{found}, model layer {layer.name!r} has {len(expected)} {expected}.",
            record=stored.name,
            fix=_FIX,
        )
    for name, got, want in zip(stored.weight_names, found, expected, strict=True):
        if got != want:
            raise InputError(
                source,
                f"weighted layer {index}: file layer {stored.name!r} weight {name!r} has "
                f"shape {got}, model layer {layer.name!r} expects {want}.",
                record=stored.name,
                fix=_FIX,
            )


def load_legacy_weights(model: keras.Model, path: str | PathLike[str]) -> keras.Model:
    """Assign a legacy HDF5 file's weights onto ``model``'s weighted layers, in order.

    Parameters
    ----------
    model : keras.Model
        A built model of the same architecture, e.g. ``build_basenji2(config).model``
        (its ``trunk`` shares the layers, so it is loaded too).
    path : str or PathLike
        The HDF5 file (see the module docstring).

    Returns
    -------
    keras.Model
        ``model``, now holding the file's weights.

    Raises
    ------
    InputError
        On a bad file (see :func:`read_legacy_weights`), a different number of weighted
        layers, or a weight count or shape mismatch (naming the file, both layers and
        both shapes). Nothing is assigned unless every layer fits.
    """
    source = str(path)
    stored = read_legacy_weights(path)
    targets = [layer for layer in model.layers if layer.weights]
    for index, (entry, layer) in enumerate(zip(stored, targets, strict=False)):
        _check_pair(source, index, entry, layer)
    if len(stored) != len(targets):
        first = min(len(stored), len(targets))
        missing = targets[first].name if first < len(targets) else stored[first].name
        raise InputError(
            source,
            f"the file has {len(stored)} weighted layers, the model {len(targets)}; "
            f"the first unmatched is {missing!r} (weighted layer {first}).",
            fix=_FIX,
        )
    for entry, layer in zip(stored, targets, strict=True):
        layer.set_weights(list(entry.arrays))
    _LOG.info("loaded %d weighted layers from %s", len(stored), source)
    return model
