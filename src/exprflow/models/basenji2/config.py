"""Typed configuration of a Basenji2 network, read from a Basenji ``params.json``.

Basenji describes a network by the ``model`` section of its params file: globals
(``seq_length``, ``activation``, ``norm_type``, ``bn_momentum``), a ``trunk`` list of
blocks and one ``head_<name>`` block. :meth:`Basenji2Config.from_params` reads a params
file (or its parsed dict) into frozen dataclasses, one per block kind:

* ``conv_block`` → :class:`ConvBlock`; ``conv_tower`` → :class:`ConvTower`;
* ``dilated_residual`` → :class:`DilatedResidual`; ``Cropping1D`` → :class:`Cropping`;
* the head ``final`` → :class:`FinalHead`.

Defaults of omitted keys are those of ``basenji/blocks.py``. Unknown keys, block names,
activations or norm types raise :class:`~exprflow.errors.InputError`. The published
config is ``params_human.json`` (30,123,584 parameters). :data:`TINY_PARAMS` is the
packaged tiny params file of the demo and the step tests: the published layout (131,072
bp in, 896 bins of 128 bp, crop 64) at toy widths, a 64-channel embedding; and
:func:`toy_params` a 256 bp toy of the same topology for fast unit tests.
:meth:`Basenji2Config.to_params` writes the ``model`` section back, and
:meth:`Basenji2Config.to_json` / :meth:`Basenji2Config.from_json` round-trip it with
``"model_type": "basenji2"``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from exprflow.errors import InputError

__all__ = [
    "TINY_PARAMS",
    "Basenji2Config",
    "BlockSpec",
    "ConvBlock",
    "ConvTower",
    "Cropping",
    "DilatedResidual",
    "FinalHead",
    "toy_params",
]

#: The packaged tiny params file (see the module docstring).
TINY_PARAMS = Path(str(resources.files("exprflow.models.basenji2") / "params_tiny.json"))

_ACTIVATIONS = ("gelu",)
_NORM_TYPES = ("batch",)
#: Training-time augmentation switches: no weights, ignored when building for inference.
_IGNORED_MODEL_KEYS = frozenset({"augment_rc", "augment_shift"})


@dataclass(frozen=True)
class ConvBlock:
    """GELU, Conv1D (same padding, no bias), BatchNorm, optional Dropout and MaxPool.

    Parameters
    ----------
    filters : int
        Output channels.
    kernel_size : int, optional
        Convolution width. Default 1.
    pool_size : int, optional
        Max-pool width and stride (1: no pooling). Default 1.
    dropout : float, optional
        Dropout rate (0: none). Default 0.
    """

    name: ClassVar[str] = "conv_block"
    filters: int
    kernel_size: int = 1
    pool_size: int = 1
    dropout: float = 0.0


@dataclass(frozen=True)
class ConvTower:
    """``repeat`` conv blocks whose filters grow by ``filters_mult``, each rounded.

    Parameters
    ----------
    filters_init : int
        Filters of the first block.
    filters_mult : float, optional
        Growth factor per block. Default 1.
    kernel_size : int, optional
        Convolution width. Default 1.
    pool_size : int, optional
        Max-pool after each block. Default 1.
    repeat : int, optional
        Number of blocks. Default 1.
    """

    name: ClassVar[str] = "conv_tower"
    filters_init: int
    filters_mult: float = 1.0
    kernel_size: int = 1
    pool_size: int = 1
    repeat: int = 1

    @property
    def filters(self) -> tuple[int, ...]:
        """Filters of each block: ``round(filters_init × filters_mult**i)``."""
        return tuple(round(self.filters_init * self.filters_mult**i) for i in range(self.repeat))


@dataclass(frozen=True)
class DilatedResidual:
    """``repeat`` residual blocks: dilated conv block, 1-wide conv block back, Add.

    Parameters
    ----------
    filters : int
        Channels of the dilated convolution.
    kernel_size : int, optional
        Width of the dilated convolution. Default 3.
    rate_mult : float, optional
        Dilation growth per block. Default 2.
    repeat : int, optional
        Number of residual blocks. Default 1.
    dropout : float, optional
        Dropout after the second conv block. Default 0.
    round : bool, optional
        Round the running dilation after each block (half to even, as numpy). Default False.
    """

    name: ClassVar[str] = "dilated_residual"
    filters: int
    kernel_size: int = 3
    rate_mult: float = 2.0
    repeat: int = 1
    dropout: float = 0.0
    round: bool = False

    @property
    def dilations(self) -> tuple[int, ...]:
        """Dilation of each block (``1, 2, 3, 4, 6, 9, 14, 21, 32, 48, 72`` published)."""
        rates: list[int] = []
        rate = 1.0
        for _ in range(self.repeat):
            rates.append(round(rate))
            rate *= self.rate_mult
            if self.round:
                rate = float(round(rate))
        return tuple(rates)


@dataclass(frozen=True)
class Cropping:
    """Keras ``Cropping1D``: drop ``cropping`` bins at each end.

    Parameters
    ----------
    cropping : int
        Bins removed from each end.
    """

    name: ClassVar[str] = "Cropping1D"
    cropping: int


@dataclass(frozen=True)
class FinalHead:
    """Per-bin Dense layer with bias and an activation (Basenji's ``final`` block).

    Parameters
    ----------
    units : int
        Targets predicted per bin.
    activation : str, optional
        Keras activation name. Default ``"linear"``.
    """

    name: ClassVar[str] = "final"
    units: int
    activation: str = "linear"


BlockSpec = ConvBlock | ConvTower | DilatedResidual | Cropping
_TRUNK_BLOCKS: dict[str, type[BlockSpec]] = {
    b.name: b for b in (ConvBlock, ConvTower, DilatedResidual, Cropping)
}


def _block(cls: type[Any], spec: Any, source: str, where: str) -> Any:
    """Build block dataclass ``cls`` from its params dict, with clear errors."""
    if not isinstance(spec, dict):
        raise InputError(source, f"{where} must be an object, got {spec!r}.", record=where)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(spec) - known - {"name"})
    if unknown:
        raise InputError(
            source,
            f"{where} ({cls.name}) has unknown keys {unknown}; known: {sorted(known)}.",
            record=where,
        )
    try:
        block = cls(**{k: v for k, v in spec.items() if k != "name"})
    except TypeError as exc:
        raise InputError(source, f"{where} ({cls.name}): {exc}.", record=where) from None
    for f in fields(block):
        value = getattr(block, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        low_ok = value >= 0 if f.name in ("dropout", "cropping") else value > 0
        if not low_ok or (f.name == "dropout" and value >= 1):
            raise InputError(source, f"{where} ({cls.name}): bad {f.name}={value!r}.", record=where)
    return block


@dataclass(frozen=True)
class Basenji2Config:
    """A Basenji2 network; the defaults are the published human model (cross2020).

    Parameters
    ----------
    seq_length : int, optional
        Input length in bases. Default 131072.
    target_length : int, optional
        Basenji's declared target length (informational; the built output is
        :attr:`out_length` bins). Default 1024.
    activation : str, optional
        Only ``"gelu"`` (x·sigmoid(1.702x), as trained). Default ``"gelu"``.
    norm_type : str, optional
        Only ``"batch"``. Default ``"batch"``.
    bn_momentum : float, optional
        BatchNorm momentum. Default 0.9.
    trunk : tuple of BlockSpec, optional
        The trunk blocks in order. Default the published trunk.
    head : FinalHead, optional
        The output head. Default 5313 softplus targets.
    head_name : str, optional
        The params key suffix of the head (``head_<head_name>``). Default ``"human"``.
    """

    model_type: ClassVar[str] = "basenji2"

    seq_length: int = 131072
    target_length: int = 1024
    activation: str = "gelu"
    norm_type: str = "batch"
    bn_momentum: float = 0.9
    trunk: tuple[BlockSpec, ...] = (
        ConvBlock(filters=288, kernel_size=15, pool_size=2),
        ConvTower(filters_init=339, filters_mult=1.1776, kernel_size=5, pool_size=2, repeat=6),
        DilatedResidual(filters=384, rate_mult=1.5, repeat=11, dropout=0.3, round=True),
        Cropping(cropping=64),
        ConvBlock(filters=1536, dropout=0.05),
    )
    head: FinalHead = FinalHead(units=5313, activation="softplus")
    head_name: str = "human"

    def __post_init__(self) -> None:
        object.__setattr__(self, "trunk", tuple(self.trunk))
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if self.norm_type not in _NORM_TYPES:
            raise ValueError(f"norm_type must be one of {_NORM_TYPES}, got {self.norm_type!r}")
        if not 0.0 < self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1), got {self.bn_momentum!r}")
        if not isinstance(self.seq_length, int) or self.seq_length <= 0:
            raise ValueError(f"seq_length must be a positive integer, got {self.seq_length!r}")
        if self.out_length <= 0:
            raise ValueError(
                f"seq_length={self.seq_length} leaves {self.out_length} bins after pooling "
                "and cropping; expected at least 1"
            )

    @property
    def out_length(self) -> int:
        """Output bins: ``seq_length`` after every pooling (ceil, same padding) and crop."""
        length = self.seq_length
        for block in self.trunk:
            pools = block.repeat if isinstance(block, ConvTower) else 1
            pool = block.pool_size if isinstance(block, (ConvBlock, ConvTower)) else 1
            for _ in range(pools):
                length = -(-length // pool)
            if isinstance(block, Cropping):
                length -= 2 * block.cropping
        return length

    @property
    def out_channels(self) -> int:
        """Channels of the trunk output (the embedding width, 1536 published).

        The last conv block's or conv tower's filters: residual blocks keep their input
        width and cropping keeps the channels.
        """
        for block in reversed(self.trunk):
            if isinstance(block, ConvTower):
                return block.filters[-1]
            if isinstance(block, ConvBlock):
                return block.filters
        return 4  # no conv at all: the one-hot input

    @classmethod
    def from_params(
        cls, params: str | Path | dict[str, Any], head: str | None = None
    ) -> Basenji2Config:
        """Read a Basenji params file (path or parsed dict); only ``model`` is used.

        Parameters
        ----------
        params : str, Path or dict
            The params JSON file, or its parsed dict (with a ``model`` section).
        head : str, optional
            Which ``head_<head>`` to build; needed only when there are several.

        Returns
        -------
        Basenji2Config

        Raises
        ------
        InputError
            When the file is missing or not JSON, has no ``model`` section, or the
            section has unknown keys, blocks or bad values.
        """
        source = "params" if isinstance(params, dict) else str(params)
        if isinstance(params, dict):
            doc = params
        else:
            try:
                doc = json.loads(Path(params).read_text())
            except (OSError, ValueError) as exc:
                raise InputError(source, f"cannot read params JSON ({exc}).") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
            raise InputError(source, "no 'model' section.", fix="pass a Basenji params.json.")
        return cls._from_model(doc["model"], source, head)

    @classmethod
    def _from_model(cls, model: dict[str, Any], source: str, head: str | None) -> Basenji2Config:
        """Parse the ``model`` section (see :meth:`from_params`)."""
        heads = sorted(k.removeprefix("head_") for k in model if k.startswith("head_"))
        if head is None and len(heads) == 1:
            head = heads[0]
        if head not in heads:
            raise InputError(
                source, f"head {head!r} not found; the model section has heads {heads}."
            )
        scalars = {"seq_length", "target_length", "activation", "norm_type", "bn_momentum"}
        unknown = sorted(
            set(model) - scalars - _IGNORED_MODEL_KEYS - {"trunk"} - {f"head_{h}" for h in heads}
        )
        if unknown:
            raise InputError(source, f"unknown model keys {unknown}.", record="model")
        trunk = []
        for i, spec in enumerate(model.get("trunk") or []):
            kind = spec.get("name") if isinstance(spec, dict) else None
            if kind not in _TRUNK_BLOCKS:
                raise InputError(
                    source,
                    f"trunk block {i} is {kind!r}; supported: {sorted(_TRUNK_BLOCKS)}.",
                    record=f"trunk[{i}]",
                )
            trunk.append(_block(_TRUNK_BLOCKS[kind], spec, source, f"trunk[{i}]"))
        if not trunk:
            raise InputError(source, "the model section has no trunk blocks.", record="trunk")
        head_spec = model[f"head_{head}"]
        if not isinstance(head_spec, dict) or head_spec.get("name") != FinalHead.name:
            raise InputError(source, f"head_{head} must be a 'final' block.", record=f"head_{head}")
        values = {k: model[k] for k in scalars if k in model}
        try:
            return cls(
                **values,
                trunk=tuple(trunk),
                head=_block(FinalHead, head_spec, source, f"head_{head}"),
                head_name=str(head),
            )
        except (TypeError, ValueError) as exc:
            raise InputError(source, f"bad model section ({exc}).", record="model") from None

    def to_params(self) -> dict[str, Any]:
        """The Basenji ``model`` section of this config (JSON-able)."""
        model: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("trunk", "head", "head_name")
        }
        model["trunk"] = [{"name": b.name, **asdict(b)} for b in self.trunk]
        model[f"head_{self.head_name}"] = {"name": self.head.name, **asdict(self.head)}
        return model

    def to_json(self) -> str:
        """JSON text: ``{"model_type": "basenji2", "model": <to_params()>}`` (sorted keys)."""
        return json.dumps(
            {"model_type": self.model_type, "model": self.to_params()}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str, source: str = "config") -> Basenji2Config:
        """Read a config written by :meth:`to_json`.

        Parameters
        ----------
        text : str
            The JSON document.
        source : str, optional
            File or record named in errors. Default ``"config"``.

        Returns
        -------
        Basenji2Config

        Raises
        ------
        InputError
            When the text is not JSON or names another ``model_type``, or the ``model``
            section is bad (see :meth:`from_params`).
        """
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise InputError(source, f"config is not JSON ({exc}).") from None
        if not isinstance(doc, dict) or doc.get("model_type") != cls.model_type:
            found = doc.get("model_type") if isinstance(doc, dict) else None
            raise InputError(source, f"model_type is {found!r}, expected {cls.model_type!r}.")
        if not isinstance(doc.get("model"), dict):
            raise InputError(source, "no 'model' section.")
        return cls._from_model(doc["model"], source, None)


def toy_params() -> dict[str, Any]:
    """A Basenji params dict of the published topology at toy sizes, for fast unit tests.

    Returns
    -------
    dict
        ``{"model": {...}}``: 256 bp in, stem 8 filters (k=7), a 2-block tower (10, 12
        filters), 3 dilated residual blocks (6 filters; dilations 1, 2, 3), crop 2,
        final conv 16 filters, head of 5 softplus targets; output 28 bins.
    """
    return {
        "model": {
            "seq_length": 256,
            "target_length": 16,
            "activation": "gelu",
            "norm_type": "batch",
            "bn_momentum": 0.9,
            "trunk": [
                {"name": "conv_block", "filters": 8, "kernel_size": 7, "pool_size": 2},
                {
                    "name": "conv_tower",
                    "filters_init": 10,
                    "filters_mult": 1.2,
                    "kernel_size": 5,
                    "pool_size": 2,
                    "repeat": 2,
                },
                {
                    "name": "dilated_residual",
                    "filters": 6,
                    "rate_mult": 1.5,
                    "repeat": 3,
                    "dropout": 0.3,
                    "round": True,
                },
                {"name": "Cropping1D", "cropping": 2},
                {"name": "conv_block", "filters": 16, "dropout": 0.05},
            ],
            "head_human": {"name": "final", "units": 5, "activation": "softplus"},
        }
    }
