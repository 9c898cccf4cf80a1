"""ChromExpress: the promoter CNN of epi_to_express, in PyTorch with Keras semantics.

The published model (``neurogenomics/chromexpress`` ``model.py : covnet``, TF 2.8,
"DeepChrome-like") reads one histone mark over TSS ± 3 kb in 100 bp bins; here the marks
are the input channels, so one model reads ``M ≥ 1`` marks. Tensor contract::

    batch["promoter_cnn"] (B, 60, M) float32   ln(mean depth + 1), strand-flipped
      → 3 × [Conv1D 'same' → ReLU → MaxPool (floor) → Dropout 0.1]
           175 k8 → pool 4 (60 → 15), 350 k4 → pool 2 (→ 7), 700 k4 → pool 2 (→ 3)
      → Flatten (steps, channels) → (B, 3 × 700) → Dropout 0.4
      → Dense 625 ReLU → Dense 125 ReLU → Dense n_outputs    → (B, n_outputs)

``n_outputs`` is 1 for regression (log2(RPKM + 1)) and 2 for classification (logits of
the above-median label).

Keras semantics kept so that a converted Keras weight set lines up:

- ``padding='same'`` pads ``k − 1`` zeros, ``(k − 1) // 2`` on the left and the rest on
  the right (more on the right for even kernels: 3 | 4 for k 8, 1 | 2 for k 4), see
  :func:`same_padding`;
- ``MaxPool1D`` has stride = pool size and drops the incomplete last window (floor);
- ``Flatten`` of Keras's channel-last ``(steps, channels)`` output is step-major: element
  ``(s, c)`` goes to ``s · C + c``. The convolutions here run channel-first ``(C, L)``, so
  the flatten transposes first (:func:`keras_flatten`). The first dense layer's Keras
  kernel ``(3·700, 625)`` then converts by a plain transpose, Conv1D kernels
  ``(k, in, out)`` by ``permute(2, 1, 0)``;
- Keras default initialisers: Glorot-uniform kernels, zero biases.

:func:`save_chromexpress` / :func:`load_chromexpress` keep a trained model in a folder
holding ``config.json`` (``ChromExpressConfig.to_json()``) and ``weights.pt`` (plain
state dict, read with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from os import PathLike
from pathlib import Path
from typing import ClassVar

from torch import Tensor, nn
from torch.nn import functional as F

from exprflow.models.json_config import JsonConfig
from exprflow.models.model_folder import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    read_model_folder,
    write_model_folder,
)

__all__ = [
    "CONFIG_FILE",
    "TASK_OUTPUTS",
    "WEIGHTS_FILE",
    "ChromExpress",
    "ChromExpressConfig",
    "keras_flatten",
    "load_chromexpress",
    "same_padding",
    "save_chromexpress",
]

#: Outputs of the head per task.
TASK_OUTPUTS: dict[str, int] = {"regression": 1, "classification": 2}

_FIX = "write the folder with exprflow.models.chromexpress.save_chromexpress."
_TUPLES = ("filters", "kernels", "pools", "dense")


def _outputs(task: str) -> int:
    """Head size for ``task``; ValueError naming the known tasks."""
    if task not in TASK_OUTPUTS:
        raise ValueError(f"task must be one of {sorted(TASK_OUTPUTS)}, got {task!r}")
    return TASK_OUTPUTS[task]


@dataclass(frozen=True)
class ChromExpressConfig(JsonConfig):
    """Sizes of :class:`ChromExpress`; defaults are the published single-mark regressor.

    Parameters
    ----------
    n_marks : int, optional
        Input channels (histone marks). Default 1.
    window_bins : int, optional
        Bins of the input window (TSS ± 3 kb at 100 bp). Default 60.
    filters : tuple of int, optional
        Filters of the convolution blocks. Default (175, 350, 700).
    kernels : tuple of int, optional
        Kernel widths, one per block. Default (8, 4, 4).
    pools : tuple of int, optional
        Max-pool sizes (= strides), one per block. Default (4, 2, 2).
    dropout : float, optional
        Dropout after each convolution block, in [0, 1). Default 0.1.
    dense_dropout : float, optional
        Dropout after the flatten, in [0, 1). Default 0.4.
    dense : tuple of int, optional
        Hidden dense layers (ReLU). Default (625, 125).
    n_outputs : int, optional
        1 (regression) or 2 (classification logits). Default 1.

    Raises
    ------
    ValueError
        On a non-positive size, a dropout outside [0, 1), blocks of unequal lengths, or
        pools that shrink the window to no bin.
    """

    model_type: ClassVar[str] = "chromexpress"

    n_marks: int = 1
    window_bins: int = 60
    filters: tuple[int, ...] = (175, 350, 700)
    kernels: tuple[int, ...] = (8, 4, 4)
    pools: tuple[int, ...] = (4, 2, 2)
    dropout: float = 0.1
    dense_dropout: float = 0.4
    dense: tuple[int, ...] = (625, 125)
    n_outputs: int = 1

    def __post_init__(self) -> None:
        for name in _TUPLES:
            value = getattr(self, name)
            if not isinstance(value, list | tuple) or not value:
                raise ValueError(f"{name} must be a non-empty tuple of ints, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("dropout", "dense_dropout"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{field.name} must be a number in [0, 1), got {value!r}")
                if not 0.0 <= value < 1.0:
                    raise ValueError(f"{field.name} must be in [0, 1), got {value!r}")
                continue
            for item in value if field.name in _TUPLES else (value,):
                if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
                    raise ValueError(f"{field.name} must hold positive integers, got {value!r}")
        if not len(self.filters) == len(self.kernels) == len(self.pools):
            raise ValueError(
                f"filters, kernels and pools need one entry per block, got "
                f"{self.filters}, {self.kernels}, {self.pools}"
            )
        if self.bins_after_pools[-1] < 1:
            raise ValueError(
                f"pools {self.pools} shrink {self.window_bins} bins to none "
                f"({self.bins_after_pools})"
            )

    @property
    def bins_after_pools(self) -> tuple[int, ...]:
        """Bins after each block's pool (floor): (15, 7, 3) for the published sizes."""
        bins, out = self.window_bins, []
        for pool in self.pools:
            bins //= pool
            out.append(bins)
        return tuple(out)

    @property
    def flat_features(self) -> int:
        """Width of the flattened trunk output: last bins × last filters (3 × 700)."""
        return self.bins_after_pools[-1] * self.filters[-1]

    @property
    def task(self) -> str:
        """``"regression"`` (1 output) or ``"classification"`` (otherwise)."""
        return "regression" if self.n_outputs == 1 else "classification"

    @classmethod
    def published(cls, n_marks: int = 1, task: str = "regression") -> ChromExpressConfig:
        """The published sizes on ``n_marks`` input marks for ``task``.

        Parameters
        ----------
        n_marks : int, optional
            Input marks. Default 1 (as published).
        task : str, optional
            ``"regression"`` (default) or ``"classification"``.

        Returns
        -------
        ChromExpressConfig
        """
        return cls(n_marks=n_marks, n_outputs=_outputs(task))

    @classmethod
    def tiny(cls, n_marks: int = 1, task: str = "regression") -> ChromExpressConfig:
        """Small sizes for tests and the tiny world (8/16/32 filters, dense 32 → 16).

        Parameters
        ----------
        n_marks : int, optional
            Input marks. Default 1.
        task : str, optional
            ``"regression"`` (default) or ``"classification"``.

        Returns
        -------
        ChromExpressConfig
        """
        return cls(n_marks=n_marks, filters=(8, 16, 32), dense=(32, 16), n_outputs=_outputs(task))


def same_padding(kernel: int) -> tuple[int, int]:
    """Zeros Keras ``padding='same'`` adds (left, right) for a stride-1 kernel.

    Parameters
    ----------
    kernel : int
        Kernel width (> 0).

    Returns
    -------
    tuple of (int, int)
        ``((k − 1) // 2, k − 1 − (k − 1) // 2)``: (3, 4) for 8, (1, 2) for 4, (1, 1) for 3.
    """
    left = (kernel - 1) // 2
    return left, kernel - 1 - left


def keras_flatten(x: Tensor) -> Tensor:
    """Flatten channel-first ``(B, C, L)`` in Keras's channel-last order.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, L)``.

    Returns
    -------
    torch.Tensor
        ``(B, L · C)``; element ``(c, s)`` of a row lands at ``s · C + c``.
    """
    return x.transpose(1, 2).flatten(1)


class _ConvBlock(nn.Module):
    """Conv1D 'same' → ReLU → MaxPool (floor) → Dropout, on ``(B, C, L)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, pool: int, dropout: float):
        super().__init__()
        self.pad = same_padding(kernel)
        self.pool = pool
        self.conv = nn.Conv1d(c_in, c_out, kernel)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, c_in, L)`` → ``(B, c_out, L // pool)``."""
        x = F.relu(self.conv(F.pad(x, self.pad)))
        return self.dropout(F.max_pool1d(x, self.pool))


class ChromExpress(nn.Module):
    """The promoter CNN on ``batch["promoter_cnn"]`` (see the module docstring).

    Parameters
    ----------
    config : ChromExpressConfig
        Sizes.

    Attributes
    ----------
    input_keys : tuple of str
        Batch keys the model reads (training moves only these and the target).
    """

    input_keys: ClassVar[tuple[str, ...]] = ("promoter_cnn",)

    def __init__(self, config: ChromExpressConfig):
        super().__init__()
        self.config = config
        channels = (config.n_marks, *config.filters)
        self.blocks = nn.ModuleList(
            _ConvBlock(channels[i], channels[i + 1], kernel, pool, config.dropout)
            for i, (kernel, pool) in enumerate(zip(config.kernels, config.pools, strict=True))
        )
        self.flat_dropout = nn.Dropout(config.dense_dropout)
        widths = (config.flat_features, *config.dense)
        self.dense = nn.ModuleList(
            nn.Linear(widths[i], widths[i + 1]) for i in range(len(config.dense))
        )
        self.out = nn.Linear(widths[-1], config.n_outputs)
        self.apply(_keras_init)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Predict from ``batch["promoter_cnn"]`` ``(B, window_bins, n_marks)``.

        Parameters
        ----------
        batch : mapping of str to torch.Tensor
            The batch dict; keys other than ``promoter_cnn`` are ignored.

        Returns
        -------
        torch.Tensor
            ``(B, n_outputs)``: the regression value or the two class logits.
        """
        x = batch["promoter_cnn"]
        wanted = (self.config.window_bins, self.config.n_marks)
        if x.dim() != 3 or tuple(x.shape[1:]) != wanted:
            raise ValueError(
                f"promoter_cnn must be (B, {wanted[0]}, {wanted[1]}), got {tuple(x.shape)}"
            )
        x = x.transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.flat_dropout(keras_flatten(x))
        for layer in self.dense:
            x = F.relu(layer(x))
        return self.out(x)


def _keras_init(module: nn.Module) -> None:
    """Keras defaults: Glorot-uniform kernels, zero biases."""
    if isinstance(module, nn.Conv1d | nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def save_chromexpress(model: ChromExpress, folder: str | PathLike[str]) -> Path:
    """Write ``model`` to ``folder`` as ``config.json`` + ``weights.pt``; return ``folder``."""
    return write_model_folder(model, model.config.to_json(), folder)


def load_chromexpress(folder: str | PathLike[str]) -> ChromExpress:
    """Read a folder written by :func:`save_chromexpress` (eval mode, CPU).

    Raises
    ------
    InputError
        A file is missing or unreadable, the config is malformed, or a weight is missing,
        unexpected or of the wrong shape for the config.
    """
    return read_model_folder(folder, ChromExpressConfig.from_json, ChromExpress, _FIX)
