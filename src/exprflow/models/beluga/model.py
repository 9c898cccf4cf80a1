"""The Beluga network (DeepSEA / ExPecto chromatin model), nested like the released weights.

Tensor contract
---------------
* input: float one-hot DNA, shape ``(N, 4, L)`` or ``(N, 4, 1, L)`` with
  ``L = config.seq_len`` (2000), channels in ``config.alphabet`` order (``A, G, C, T``);
  ``N`` bases are all-zero columns;
* output: :meth:`Beluga.forward` gives sigmoid probabilities ``(N, config.n_outputs)``
  (2002), :meth:`Beluga.logits` the same before the sigmoid.

The module tree is the published one, so ``deepsea.beluga.pth`` loads with
``strict=True``: ``model.0`` is the convolution stack (``Conv2d`` with ``(1, 8)`` kernels
at indices 0, 2, 6, 8, 12, 14), ``model.1`` the classifier (dropout, flatten,
``Sequential(Identity, Linear)`` at 2 and 4, the published parameter-free ``Lambda``
wrappers being identities here) and ``model.2`` the sigmoid. The 16 state-dict keys are
``model.0.{0,2,6,8,12,14}.{weight,bias}``, ``model.1.2.1.{weight,bias}`` and
``model.1.4.1.{weight,bias}`` (:data:`STATE_DICT_KEYS`).
"""

from __future__ import annotations

import torch
from torch import nn

from exprflow.models.beluga.config import BelugaConfig

__all__ = ["CONV_INDICES", "STATE_DICT_KEYS", "Beluga"]

#: Indices of the six convolutions inside ``model.0``.
CONV_INDICES: tuple[int, ...] = (0, 2, 6, 8, 12, 14)
#: The 16 state-dict keys of the released weights, in module order.
STATE_DICT_KEYS: tuple[str, ...] = (
    *(f"model.0.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")),
    *(f"model.1.{i}.1.{p}" for i in (2, 4) for p in ("weight", "bias")),
)


def _conv(c_in: int, c_out: int, config: BelugaConfig) -> nn.Conv2d:
    """A ``(1, kernel)`` convolution, no padding, stride 1."""
    return nn.Conv2d(c_in, c_out, kernel_size=(1, config.kernel_size))


def _conv_stack(config: BelugaConfig) -> nn.Sequential:
    """``model.0``: three blocks of two convolutions; dropout and pooling after two."""
    c = config.conv_channels
    pool = (1, config.pool_size)
    return nn.Sequential(
        _conv(4, c[0], config),
        nn.ReLU(),
        _conv(c[0], c[1], config),
        nn.ReLU(),
        nn.Dropout(config.conv_dropout),
        nn.MaxPool2d(pool, pool),
        _conv(c[1], c[2], config),
        nn.ReLU(),
        _conv(c[2], c[3], config),
        nn.ReLU(),
        nn.Dropout(config.conv_dropout),
        nn.MaxPool2d(pool, pool),
        _conv(c[3], c[4], config),
        nn.ReLU(),
        _conv(c[4], c[5], config),
        nn.ReLU(),
    )


def _classifier(config: BelugaConfig) -> nn.Sequential:
    """``model.1``: dropout, flatten, linear, ReLU, linear (linears wrapped at slot 1)."""
    return nn.Sequential(
        nn.Dropout(config.fc_dropout),
        nn.Flatten(),
        nn.Sequential(nn.Identity(), nn.Linear(config.flat_features, config.hidden)),
        nn.ReLU(),
        nn.Sequential(nn.Identity(), nn.Linear(config.hidden, config.n_outputs)),
    )


class Beluga(nn.Module):
    """Beluga: one-hot DNA ``(N, 4, L)`` → chromatin probabilities ``(N, n_outputs)``.

    Parameters
    ----------
    config : BelugaConfig, optional
        Sizes. Default: the published model (149,536,251 parameters).

    Attributes
    ----------
    config : BelugaConfig
        The sizes this network was built with.
    model : torch.nn.Sequential
        ``[conv stack, classifier, Sigmoid]``, as in the released state dict.
    """

    def __init__(self, config: BelugaConfig | None = None) -> None:
        super().__init__()
        self.config = config or BelugaConfig()
        self.model = nn.Sequential(_conv_stack(self.config), _classifier(self.config), nn.Sigmoid())

    def _as_4d(self, x: torch.Tensor) -> torch.Tensor:
        """Check the input shape; return it as ``(N, 4, 1, L)``."""
        shape = tuple(x.shape)
        length = self.config.seq_len
        if x.ndim == 3 and shape[1:] == (4, length):
            x = x.unsqueeze(2)
        elif not (x.ndim == 4 and shape[1:] == (4, 1, length)):
            raise ValueError(
                f"Beluga input must have shape (N, 4, {length}) or (N, 4, 1, {length}) "
                f"(one-hot, channels {self.config.alphabet}), got {shape}"
            )
        # Channels-last runs the narrow (1, k) convolutions about 2x faster on CPU (oneDNN).
        return x.contiguous(memory_format=torch.channels_last)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs.

        Parameters
        ----------
        x : torch.Tensor
            One-hot DNA, ``(N, 4, L)`` or ``(N, 4, 1, L)``, float.

        Returns
        -------
        torch.Tensor
            ``(N, n_outputs)``.
        """
        return self.model[1](self.model[0](self._as_4d(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Chromatin-feature probabilities.

        Parameters
        ----------
        x : torch.Tensor
            One-hot DNA, ``(N, 4, L)`` or ``(N, 4, 1, L)``, float.

        Returns
        -------
        torch.Tensor
            ``(N, n_outputs)``, values in (0, 1).
        """
        return self.model[2](self.logits(x))
