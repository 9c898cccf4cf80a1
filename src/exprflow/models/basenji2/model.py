"""Build a Basenji2 network in Keras 3 (TensorFlow) from a :class:`Basenji2Config`.

Tensor contract
---------------
* input ``sequence``: float one-hot DNA ``(N, seq_length, 4)``, channels ``A, C, G, T``,
  ``N`` bases all zero (131072 × 4 published);
* :attr:`Basenji2.trunk` output: the embedding after the final GELU,
  ``(N, out_length, last filters)`` (896 × 1536 published);
* :attr:`Basenji2.model` output: the head, ``(N, out_length, head units)``
  (896 × 5313 softplus published).

Every conv block is GELU → Conv1D (same padding, no bias, he_normal) → BatchNorm
(momentum ``bn_momentum``, epsilon 1e-3) → optional Dropout → optional MaxPool1D (same
padding); the first GELU also acts on the raw one-hot input. A dilated residual block is a
conv block of ``filters`` with dilation ``d``, a 1-wide conv block back to the input width
(its BatchNorm gamma initialised to zeros, then Dropout), and an Add with the block input.
GELU is the form the released models were trained with, ``x · sigmoid(1.702 x)``
(:class:`SigmoidGELU`), not Keras' exact or tanh GELU.

Layers are named ``block<i>_…`` after their trunk block (``block1_3_conv`` is the 4th
tower conv, ``block2_10b_bn`` the second BatchNorm of the 11th residual block); the
weighted layers come in Basenji's order (conv, BN, …, Dense) for order-based loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from exprflow.models.basenji2.config import (
    Basenji2Config,
    ConvBlock,
    ConvTower,
    Cropping,
    DilatedResidual,
)

__all__ = ["GELU_SCALE", "Basenji2", "SigmoidGELU", "build_basenji2"]

#: The sigmoid-GELU slope of Basenji's 2019–2022 ``GELU`` layer.
GELU_SCALE = 1.702


@keras.saving.register_keras_serializable(package="exprflow")
class SigmoidGELU(keras.layers.Layer):
    """GELU as Basenji2 was trained: ``x · sigmoid(1.702 x)`` (no weights)."""

    def call(self, inputs: Any) -> Any:
        """Apply ``x · sigmoid(1.702 x)`` elementwise.

        Parameters
        ----------
        inputs : tensor
            Any shape.

        Returns
        -------
        tensor
            Same shape and dtype.
        """
        return inputs * keras.ops.sigmoid(GELU_SCALE * inputs)


@dataclass(frozen=True)
class Basenji2:
    """A built Basenji2: the full model and its trunk, sharing every layer.

    Attributes
    ----------
    config : Basenji2Config
        What was built.
    model : keras.Model
        ``sequence`` → head predictions ``(N, out_length, head.units)``.
    trunk : keras.Model
        ``sequence`` → embeddings ``(N, out_length, last filters)`` after the final GELU.
    """

    config: Basenji2Config
    model: keras.Model
    trunk: keras.Model


def _conv_block(
    x: Any,
    prefix: str,
    config: Basenji2Config,
    *,
    filters: int,
    kernel_size: int = 1,
    dilation: int = 1,
    dropout: float = 0.0,
    pool_size: int = 1,
    gamma: str = "ones",
) -> Any:
    """GELU → Conv1D → BatchNorm → [Dropout] → [MaxPool1D], layers named ``prefix_…``."""
    x = SigmoidGELU(name=f"{prefix}_gelu")(x)
    x = keras.layers.Conv1D(
        filters,
        kernel_size,
        padding="same",
        use_bias=False,
        dilation_rate=dilation,
        kernel_initializer="he_normal",
        name=f"{prefix}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=config.bn_momentum, gamma_initializer=gamma, name=f"{prefix}_bn"
    )(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    if pool_size > 1:
        x = keras.layers.MaxPooling1D(pool_size, padding="same", name=f"{prefix}_pool")(x)
    return x


def _residual(x: Any, prefix: str, block: DilatedResidual, config: Basenji2Config) -> Any:
    """The dilated residual blocks of one ``dilated_residual`` trunk entry."""
    for r, dilation in enumerate(block.dilations):
        skip = x
        x = _conv_block(
            x,
            f"{prefix}_{r}a",
            config,
            filters=block.filters,
            kernel_size=block.kernel_size,
            dilation=dilation,
        )
        x = _conv_block(
            x,
            f"{prefix}_{r}b",
            config,
            filters=skip.shape[-1],
            dropout=block.dropout,
            gamma="zeros",
        )
        x = keras.layers.Add(name=f"{prefix}_{r}_add")([skip, x])
    return x


def _trunk_block(x: Any, i: int, block: Any, config: Basenji2Config) -> Any:
    """Apply trunk entry ``i`` (any :data:`~exprflow.models.basenji2.config.BlockSpec`)."""
    prefix = f"block{i}"
    if isinstance(block, ConvBlock):
        return _conv_block(
            x,
            prefix,
            config,
            filters=block.filters,
            kernel_size=block.kernel_size,
            dropout=block.dropout,
            pool_size=block.pool_size,
        )
    if isinstance(block, ConvTower):
        for r, filters in enumerate(block.filters):
            x = _conv_block(
                x,
                f"{prefix}_{r}",
                config,
                filters=filters,
                kernel_size=block.kernel_size,
                pool_size=block.pool_size,
            )
        return x
    if isinstance(block, DilatedResidual):
        return _residual(x, prefix, block, config)
    if isinstance(block, Cropping):
        return keras.layers.Cropping1D(block.cropping, name=f"{prefix}_crop")(x)
    raise TypeError(f"unknown trunk block {block!r}")


def build_basenji2(config: Basenji2Config | None = None) -> Basenji2:
    """Build the Basenji2 model and trunk for ``config`` (default: the published one).

    Parameters
    ----------
    config : Basenji2Config, optional
        Default :class:`Basenji2Config` (131072 bp, 30,123,584 parameters).

    Returns
    -------
    Basenji2
        ``model`` and ``trunk`` sharing layers, freshly initialised.
    """
    config = config or Basenji2Config()
    sequence = keras.Input((config.seq_length, 4), name="sequence")
    x = sequence
    for i, block in enumerate(config.trunk):
        x = _trunk_block(x, i, block, config)
    embedding = SigmoidGELU(name="trunk_gelu")(x)
    trunk = keras.Model(sequence, embedding, name="basenji2_trunk")
    head = keras.layers.Dense(
        config.head.units,
        activation=config.head.activation,
        kernel_initializer="he_normal",
        name=f"head_{config.head_name}",
    )(embedding)
    model = keras.Model(sequence, head, name="basenji2")
    return Basenji2(config=config, model=model, trunk=trunk)
