"""Batched Beluga inference with reverse-complement averaging, on CPU or GPU alike.

Tensor contract
---------------
* :func:`encode_windows`: DNA strings of ``seq_len`` bases → float32 one-hot
  ``(N, 4, seq_len)`` in the model's alphabet (``A, G, C, T``), ``N`` → zeros;
* :func:`predict_windows`: one-hot ``(N, 4, L)`` or ``(N, 4, 1, L)`` (numpy or torch)
  → numpy float32 ``(N, n_outputs)``, by default the mean of the forward and the
  reverse-complement predictions (:func:`rc_average`), as ExPecto does.

With the ``A, G, C, T`` channel order the reverse complement is the reversal of both the
channel and the position axes (A↔T and G↔C are mirror images). The batching loop takes
a ``func(model, batch) -> Tensor`` plug point, so other per-window computations
(forward-only, variant effects, attributions) share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Literal

import numpy as np
import torch
from torch import nn

from exprflow.genome.onehot import one_hot_batch
from exprflow.models.beluga.config import BelugaConfig

__all__ = ["encode_windows", "forward_only", "predict_windows", "rc_average", "reverse_complement"]

BatchFunc = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def encode_windows(sequences: Sequence[str], config: BelugaConfig) -> np.ndarray:
    """One-hot encode DNA windows in the model's channel order.

    Parameters
    ----------
    sequences : sequence of str
        DNA, each exactly ``config.seq_len`` bases; case-insensitive, ``N`` → zeros.
    config : BelugaConfig
        Gives ``seq_len`` and ``alphabet``.

    Returns
    -------
    numpy.ndarray
        float32, ``(len(sequences), 4, seq_len)``.
    """
    bad = next((i for i, s in enumerate(sequences) if len(s) != config.seq_len), None)
    if bad is not None:
        raise ValueError(
            f"sequences[{bad}] has {len(sequences[bad])} bases, expected seq_len={config.seq_len}"
        )
    if not sequences:
        return np.zeros((0, 4, config.seq_len), dtype=np.float32)
    return np.ascontiguousarray(one_hot_batch(sequences, config.alphabet).transpose(0, 2, 1))


def reverse_complement(x: torch.Tensor) -> torch.Tensor:
    """Reverse-complement one-hot ``(N, 4, L)`` or ``(N, 4, 1, L)`` in a mirror alphabet.

    Parameters
    ----------
    x : torch.Tensor
        One-hot DNA whose channel reversal is the complement (``AGCT``, ``ACGT``).

    Returns
    -------
    torch.Tensor
        Same shape: channel and position axes reversed.
    """
    return x.flip(1, -1)


def forward_only(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Plain forward pass (a ``func`` for :func:`predict_windows`)."""
    return model(batch)


def rc_average(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean of the predictions for ``batch`` and its reverse complement, run as one batch.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(2B, 4, ..., L)`` to ``(2B, F)``.
    batch : torch.Tensor
        ``(B, 4, L)`` or ``(B, 4, 1, L)``.

    Returns
    -------
    torch.Tensor
        ``(B, F)``.
    """
    both = model(torch.cat([batch, reverse_complement(batch)]))
    forward, backward = both.float().chunk(2)
    return (forward + backward) / 2


def _device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU when it has none)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@contextmanager
def _inference(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """Eval mode on ``device`` under no_grad, TF32 matmuls on CUDA; restore all afterwards.

    cuDNN convolutions use TF32 by default already; the linear layers need the matmul flag.
    """
    was_training, home = model.training, _device_of(model)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    model.to(device).eval()
    try:
        torch.backends.cuda.matmul.allow_tf32 = device.type == "cuda" or tf32
        with torch.no_grad():
            yield model
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        model.to(home).train(was_training)


def predict_windows(
    model: nn.Module,
    onehot: np.ndarray | torch.Tensor,
    *,
    batch_size: int,
    device: str | torch.device | None = None,
    dtype: Literal["fp32", "bf16"] | None = None,
    func: BatchFunc = rc_average,
) -> np.ndarray:
    """Run ``func`` over windows in batches; by default forward + reverse-complement mean.

    The model runs in eval mode under ``no_grad`` on ``device``; its device and train
    mode are restored afterwards. Each batch is converted to float32 and moved to that
    device as it is used, so ``onehot`` may be a compact (e.g. uint8) array.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~exprflow.models.beluga.model.Beluga` (or any module with its contract).
    onehot : numpy.ndarray or torch.Tensor
        ``(N, 4, L)`` or ``(N, 4, 1, L)`` one-hot windows in the model's alphabet.
    batch_size : int
        Windows per batch (> 0); with :func:`rc_average` the model sees twice as many.
    device : str or torch.device, optional
        Where to run. Default None: where the model is.
    dtype : {"fp32", "bf16"}, optional
        ``"bf16"`` runs under bfloat16 autocast on CUDA (float32 on CPU). Default None
        (float32; TF32 tensor cores on CUDA).
    func : callable, optional
        ``func(model, batch) -> (B, F)`` tensor. Default :func:`rc_average`.

    Returns
    -------
    numpy.ndarray
        float32, ``(N, F)``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if dtype not in (None, "fp32", "bf16"):
        raise ValueError(f"dtype must be None, 'fp32' or 'bf16', got {dtype!r}")
    target = torch.device(device) if device is not None else _device_of(model)
    autocast = target.type == "cuda" and dtype == "bf16"
    outputs = []
    with _inference(model, target) as net:
        for start in range(0, len(onehot), batch_size):
            batch = torch.as_tensor(onehot[start : start + batch_size]).to(target, torch.float32)
            with torch.autocast("cuda", dtype=torch.bfloat16) if autocast else nullcontext():
                outputs.append(func(net, batch).float().cpu())
    if not outputs:
        return np.zeros((0, _n_outputs(model)), dtype=np.float32)
    return torch.cat(outputs).numpy()


def _n_outputs(model: nn.Module) -> int:
    """Output width, from the model's config (0 when it has none)."""
    config = getattr(model, "config", None)
    return int(getattr(config, "n_outputs", 0))
