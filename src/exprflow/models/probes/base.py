"""What every Basenji2 probe head shares: the config base, the input check, checked loading.

Tensor contract of every head
-----------------------------
Input: Basenji2 embeddings as float ``(batch, channels, bins)``, the trunk's
``(bins, channels)`` output transposed (published 1536 × 896; the demo's tiny trunk
64 × 896). Cast float16 embeddings to the head's dtype first. Output: ``(batch, tracks,
bins)`` for the 128 bp head, ``(batch, tracks)`` for the single-bin heads.

Weight files are plain ``torch.save`` state dicts (``.pt``/``.pth``), read with
``torch.load(weights_only=True, map_location="cpu")``: the published CS282A heads were
saved from Apple-GPU (``mps``) tensors, which load nowhere else without the map.
:func:`load_checked` checks the keys, infers the sizes from the tensors, checks every shape
against a module built on the ``meta`` device, and only then loads strictly.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from os import PathLike
from pathlib import Path
from typing import ClassVar, Self, TypeVar

import torch
from torch import nn

from exprflow.errors import InputError
from exprflow.models.json_config import JsonConfig

__all__ = [
    "ProbeConfig",
    "check_embeddings",
    "dims",
    "load_checked",
    "load_weights_only",
    "read_state_dict",
    "state_shapes",
]

_C = TypeVar("_C", bound="ProbeConfig")
_M = TypeVar("_M", bound=nn.Module)


@dataclass(frozen=True)
class ProbeConfig(JsonConfig):
    """Sizes shared by every probe head; subclasses add theirs. Defaults are published.

    Parameters
    ----------
    channels : int, optional
        Embedding channels. Default 1536 (Basenji2).
    tracks : int, optional
        Predicted tracks. Default 18 (12 + 2 lamina, 2 methylation, 2 CpG counts).

    Raises
    ------
    ValueError
        When an integer size is not positive or a float (a dropout) is outside [0, 1).
    """

    model_type: ClassVar[str] = "probe"

    channels: int = 1536
    tracks: int = 18

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(field.default, float):
                if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
                    raise ValueError(f"{field.name} must be in [0, 1), got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{field.name} must be a positive integer, got {value!r}")

    @classmethod
    def published(cls) -> Self:
        """Return the published (CS282A) sizes: the defaults."""
        return cls()

    @classmethod
    def tiny(cls, channels: int = 64, tracks: int = 18) -> Self:
        """Return sizes for the demo's tiny trunk (heads override this to shrink theirs).

        Parameters
        ----------
        channels : int, optional
            Embedding channels. Default 64 (the tiny Basenji2 trunk).
        tracks : int, optional
            Predicted tracks. Default 18.

        Returns
        -------
        ProbeConfig
            An instance of ``cls``.
        """
        return cls(channels=channels, tracks=tracks)


def check_embeddings(x: torch.Tensor, channels: int, bins: int | None = None) -> None:
    """Raise unless ``x`` is float ``(batch, channels, bins)`` embeddings.

    Parameters
    ----------
    x : torch.Tensor
        The head's input.
    channels : int
        Required size of axis 1.
    bins : int, optional
        Required size of axis 2. Default None: any.

    Raises
    ------
    ValueError
        Naming the actual and the expected shape and dtype.
    """
    wanted = f"(batch, {channels}, {bins if bins is not None else 'bins'})"
    if (
        x.ndim != 3
        or x.shape[1] != channels
        or (bins is not None and x.shape[2] != bins)
        or not x.is_floating_point()
    ):
        raise ValueError(
            f"embeddings must be float {wanted} (channels before bins: transpose the "
            f"trunk's (bins, channels) output), got {x.dtype} {tuple(x.shape)}"
        )


def load_weights_only(path: Path, fix: str, *, as_what: str = "") -> object:
    """``torch.load(path, weights_only=True)`` onto the CPU; InputError when it fails.

    ``as_what`` (e.g. ``" as a plain state dict"``) is named in the error.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(
            path,
            f"does not load{as_what} with torch.load(weights_only=True) "
            f"({type(exc).__name__}: {first}).",
            fix=fix,
        ) from None


def read_state_dict(path: str | PathLike[str], fix: str) -> dict[str, torch.Tensor]:
    """Read a plain state dict with ``torch.load(weights_only=True)`` onto the CPU.

    Parameters
    ----------
    path : str or PathLike
        The ``.pt``/``.pth`` file.
    fix : str
        What to tell the user in errors.

    Returns
    -------
    dict of str to torch.Tensor
        Key → tensor, in file order.

    Raises
    ------
    InputError
        When the file is missing, does not load with ``weights_only=True`` or is not a
        mapping of string keys to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file.", fix=fix)
    state = load_weights_only(path, fix, as_what=" as a plain state dict")
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise InputError(
            path,
            f"holds a {type(state).__name__}, not a state dict of named tensors.",
            fix=fix,
        )
    return dict(state)


def dims(
    state: Mapping[str, torch.Tensor], key: str, ndim: int, source: str | PathLike[str], fix: str
) -> tuple[int, ...]:
    """Return the shape of ``state[key]``, which must have ``ndim`` axes.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The state dict.
    key : str
        A key known to be present.
    ndim : int
        Required number of axes.
    source : str or PathLike
        File named in the error.
    fix : str
        What to tell the user.

    Returns
    -------
    tuple of int

    Raises
    ------
    InputError
        When the tensor has another number of axes.
    """
    shape = tuple(state[key].shape)
    if len(shape) != ndim:
        raise InputError(
            source, f"has shape {list(shape)}, expected {ndim} axes.", record=key, fix=fix
        )
    return shape


def state_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """State-dict key → shape of ``module``."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def load_checked(
    path: str | PathLike[str],
    *,
    build: Callable[[_C], _M],
    infer: Callable[[Mapping[str, torch.Tensor], str, str], _C],
    published: _C,
    fix: str,
) -> _M:
    """Load a head from a state-dict file: keys, inferred sizes, shapes, then strictly.

    Parameters
    ----------
    path : str or PathLike
        The ``.pt``/``.pth`` file.
    build : callable
        ``config → module``.
    infer : callable
        ``(state, source, fix) → config``: the sizes read from the tensors' shapes (it may
        assume the keys of the published module are present).
    published : ProbeConfig
        Any config of the head: its module names the keys expected.
    fix : str
        What to tell the user in errors.

    Returns
    -------
    torch.nn.Module
        The head in eval mode on the CPU, float32, holding the file's tensors.

    Raises
    ------
    InputError
        On an unreadable file, missing or unexpected keys, sizes that make no valid config,
        or a tensor whose shape does not fit the inferred sizes.
    """
    source = str(path)
    state = read_state_dict(path, fix)
    with torch.device("meta"):
        expected = state_shapes(build(published))
    missing = [k for k in expected if k not in state]
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise InputError(source, f"missing keys {missing}, unexpected keys {unexpected}.", fix=fix)
    try:
        config = infer(state, source, fix)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(source, f"its tensors give no valid sizes ({exc}).", fix=fix) from None
    with torch.device("meta"):
        model = build(config)
    for key, shape in state_shapes(model).items():
        value = state[key]
        if not value.is_floating_point():
            raise InputError(source, f"is {value.dtype}, not a float tensor.", record=key, fix=fix)
        if tuple(value.shape) != shape:
            raise InputError(
                source,
                f"has shape {list(value.shape)}, expected {list(shape)} "
                f"(sizes inferred from the file: {config.to_json()}).",
                record=key,
                fix=fix,
            )
    weights = {k: v.to("cpu", torch.float32) for k, v in state.items()}
    model.load_state_dict(weights, strict=True, assign=True)
    return model.eval()
