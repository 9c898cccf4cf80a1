"""Published Chromoformer checkpoints: ``.pt`` files holding ``{"net": state_dict, …}``.

The published weights (``dohlee/chromoformer`` demo and figshare collection) are a
``torch.save`` of a dict whose ``net`` entry is the model's state dict, with the key names
written by ``misc/convert_weight.py`` (``embed.<r>``, ``pairwise_interaction.<r>``,
``regulation.<r>``, ``fc_head``). :func:`load_published_checkpoint` reads one with
``torch.load(weights_only=True)`` (no pickled code), infers the marks and the task from
the shapes when no config is given, compares every key and shape with the model built
from the config, and loads strictly. Any mismatch raises
:class:`~exprflow.errors.InputError` naming the file, the keys and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

from torch import Tensor

from exprflow.errors import InputError
from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import Chromoformer
from exprflow.models.model_folder import check_state_layout
from exprflow.models.probes.base import load_weights_only, state_shapes

__all__ = [
    "NET_KEY",
    "check_state_layout",
    "infer_published_config",
    "load_published_checkpoint",
    "published_state_dict_layout",
]

#: The checkpoint entry holding the state dict.
NET_KEY = "net"

_FIX = (
    "pass a published Chromoformer checkpoint, torch.save({'net': model.state_dict(), …}), "
    "with the key names of dohlee/chromoformer ≥ misc/convert_weight.py, and the "
    "ChromoformerConfig it was trained with (ChromoformerConfig.published(n_feats, task))."
)
_OLD_NAMES = re.compile(r"^(embed|pw_int|reg|transformer)\d")
_SHOWN = 5


def published_state_dict_layout(
    config: ChromoformerConfig | None = None,
) -> dict[str, tuple[int, ...]]:
    """State-dict key → shape of the Chromoformer built from ``config``.

    Parameters
    ----------
    config : ChromoformerConfig, optional
        Default None: the published classifier on 7 marks (370 tensors, 5,342,672 values).

    Returns
    -------
    dict of str to tuple of int
        In module registration order.
    """
    return state_shapes(Chromoformer(config))


def _read_net(path: Path) -> dict[str, Tensor]:
    """The ``net`` state dict of a checkpoint file; InputError when it has none."""
    if not path.is_file():
        raise InputError(path, "no such checkpoint file.", fix=_FIX)
    checkpoint = load_weights_only(path, _FIX)
    if not isinstance(checkpoint, Mapping) or NET_KEY not in checkpoint:
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, Mapping) else None
        what = f"a dict with keys {found}" if found is not None else type(checkpoint).__name__
        raise InputError(path, f"holds {what}, not a dict with a {NET_KEY!r} entry.", fix=_FIX)
    net = checkpoint[NET_KEY]
    if not isinstance(net, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in net.items()
    ):
        raise InputError(
            path, f"{NET_KEY!r} is not a state dict of named tensors.", record=NET_KEY, fix=_FIX
        )
    return dict(net)


def _fix_for(state: Mapping[str, Tensor]) -> str:
    """The fix, with a renaming hint when the keys are the pre-conversion names."""
    if any(_OLD_NAMES.match(key) for key in state):
        return (
            "the keys are the old names (embed2000…, pw_int2000…, reg2000…): rename them as "
            "dohlee/chromoformer misc/convert_weight.py does (embed2000 → embed.2000, pw_int "
            "→ pairwise_interaction., reg → regulation.), then load again."
        )
    return _FIX


def infer_published_config(
    state: Mapping[str, Tensor], path: str | PathLike[str] = "checkpoint"
) -> ChromoformerConfig:
    """Published sizes with the marks and task read off ``state``'s shapes.

    The marks are the input width of ``embed.2000.lin_proj.weight``, the task follows
    from the rows of ``fc_head.2.weight`` (2 → classification, 1 → regression).

    Parameters
    ----------
    state : mapping of str to Tensor
        A published state dict.
    path : str or PathLike, optional
        The file named in errors. Default ``"checkpoint"``.

    Returns
    -------
    ChromoformerConfig

    Raises
    ------
    InputError
        When either key is missing or the head has neither 1 nor 2 outputs.
    """
    config = ChromoformerConfig()
    first = f"embed.{config.resolutions[0]}.lin_proj.weight"
    for key in (first, "fc_head.2.weight"):
        if key not in state:
            raise InputError(path, "missing key.", record=key, fix=_fix_for(state))
    outputs = int(state["fc_head.2.weight"].shape[0])
    if outputs not in (1, 2):
        raise InputError(
            path,
            f"the head has {outputs} outputs, expected 2 (classification) or 1 (regression).",
            record="fc_head.2.weight",
            fix=_FIX,
        )
    task = "regression" if outputs == 1 else "classification"
    return ChromoformerConfig.published(n_feats=int(state[first].shape[1]), task=task)


def load_published_checkpoint(
    path: str | PathLike[str], config: ChromoformerConfig | None = None
) -> Chromoformer:
    """Build a Chromoformer and load a published checkpoint into it strictly.

    Parameters
    ----------
    path : str or PathLike
        ``.pt`` file holding ``{"net": state_dict, …}`` (other entries are ignored).
    config : ChromoformerConfig, optional
        The sizes it was trained with. Default None: :func:`infer_published_config`.

    Returns
    -------
    Chromoformer
        In eval mode on the CPU.

    Raises
    ------
    InputError
        When the file is missing, does not load with ``weights_only=True``, has no
        ``net`` state dict, or a key is missing, unexpected or of the wrong shape.
    """
    path = Path(path)
    state = _read_net(path)
    model = Chromoformer(config or infer_published_config(state, path))
    check_state_layout(path, state, state_shapes(model), _fix_for(state))
    model.load_state_dict(state, strict=True)
    return model.eval()
