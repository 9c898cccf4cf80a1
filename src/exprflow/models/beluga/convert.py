"""Port a plain Beluga state dict (the released ``deepsea.beluga.pth``) into :class:`Beluga`.

The released file is a plain ``torch.save`` of the original module's state dict: the 16
tensors of :data:`~exprflow.models.beluga.model.STATE_DICT_KEYS`, float32, Conv2d weights
``[out, in, 1, 8]``. Our module has the same nesting, so porting is a strict load, no
renaming. The keys and shapes are checked first, against a module built on the ``meta``
device (no memory, no random init), so a wrong file gets an
:class:`~exprflow.errors.InputError` naming the missing or unexpected keys or the first
mismatched shape; the tensors are then assigned (not copied) into the module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from exprflow.errors import InputError
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.model import Beluga

__all__ = ["check_state_dict", "from_state_dict"]

_FIX = (
    "give the released deepsea.beluga.pth (a plain state dict of the published model), pass "
    "the config it was trained with (config=BelugaConfig(...)), or load an exprflow checkpoint "
    "written by save_checkpoint()."
)


def _shapes(config: BelugaConfig) -> dict[str, tuple[int, ...]]:
    """State-dict key → shape of a Beluga with ``config`` (built on ``meta``)."""
    with torch.device("meta"):
        model = Beluga(config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def check_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    config: BelugaConfig,
    source: str | os.PathLike[str],
) -> None:
    """Raise unless ``state_dict`` has exactly the keys and shapes of ``Beluga(config)``.

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor
        Weights to check.
    config : BelugaConfig
        The sizes they must fit.
    source : str or PathLike
        File named in the error.

    Raises
    ------
    InputError
        On missing or unexpected keys, a non-tensor value or a mismatched shape.
    """
    expected = _shapes(config)
    missing = [k for k in expected if k not in state_dict]
    unexpected = sorted(k for k in state_dict if k not in expected)
    if missing or unexpected:
        raise InputError(
            source,
            f"is not a Beluga state dict: missing keys {missing[:6]}"
            f"{' …' if len(missing) > 6 else ''}, unexpected keys {unexpected[:6]}"
            f"{' …' if len(unexpected) > 6 else ''}.",
            fix=_FIX,
        )
    for key, shape in expected.items():
        value = state_dict[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise InputError(source, "is not a float tensor.", record=key, fix=_FIX)
        if tuple(value.shape) != shape:
            raise InputError(
                source,
                f"shape {list(value.shape)} does not fit the config, which needs {list(shape)} "
                f"(config: {config.to_json()}).",
                record=key,
                fix=_FIX,
            )


def from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    config: BelugaConfig | None = None,
    source: str | os.PathLike[str] = "state_dict",
) -> Beluga:
    """Build a :class:`Beluga` holding ``state_dict`` (strict), in eval mode on the CPU.

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor
        The 16 tensors of :data:`~exprflow.models.beluga.model.STATE_DICT_KEYS`.
    config : BelugaConfig, optional
        Sizes. Default None: the published model.
    source : str or PathLike, optional
        File named in errors. Default ``"state_dict"``.

    Returns
    -------
    Beluga
        Float32 parameters (the given tensors, cast when stored in another float type).

    Raises
    ------
    InputError
        When the keys or shapes do not fit ``config`` (see :func:`check_state_dict`).
    """
    config = config or BelugaConfig()
    check_state_dict(state_dict, config, source)
    with torch.device("meta"):
        model = Beluga(config)
    weights = {key: value.to("cpu", torch.float32) for key, value in state_dict.items()}
    model.load_state_dict(weights, strict=True, assign=True)
    return model.eval()
