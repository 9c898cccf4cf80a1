"""Get a Basenji2 trunk ready to embed: params, released weights, device and precision.

``precision="auto"`` picks mixed float16 with XLA on a GPU and float32 without XLA on a
CPU (where float16 arithmetic is slower, and XLA gains little); the choice is explicit
otherwise. :class:`TrunkRunner` is the compiled forward pass that
:func:`~exprflow.embedding.extract.embed_regions` calls: with ``reverse_complement`` the
trunk also reads each sequence's reverse complement and the result is the mean of the
forward output and the bin-reversed reverse-complement output (Basenji's ``--rc``),
computed in float32 before the cast to float16. Mixed precision keeps the variables in
float32 and computes in float16, so released float32 weights load unchanged. Without a
weights file the model is initialised from ``seed`` (an untrained trunk: embeddings are
random features, logged as such).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from exprflow.errors import InputError
from exprflow.models.basenji2.config import Basenji2Config
from exprflow.models.basenji2.model import build_basenji2
from exprflow.models.basenji2.weights import load_legacy_weights

__all__ = ["PRECISIONS", "Placement", "TrunkRunner", "load_trunk", "resolve_runtime"]

log = logging.getLogger(__name__)

#: Accepted ``precision`` values.
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Placement:
    """Where and how the trunk runs."""

    device: str  # "GPU" or "CPU"
    precision: str  # a Keras dtype policy name
    xla: bool


def resolve_runtime(precision: str, xla: str = "auto") -> Placement:
    """Resolve ``precision`` / ``xla`` (``auto``, ``true``, ``false``) for this machine."""
    if precision not in PRECISIONS:
        raise InputError(
            "argument precision",
            f"precision={precision!r}; expected one of {', '.join(PRECISIONS)}.",
        )
    if xla not in ("auto", "true", "false"):
        raise InputError("argument xla", f"xla={xla!r}; expected auto, true or false.")
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if precision == "auto":
        precision = "mixed_float16" if gpu else "float32"
    use_xla = gpu if xla == "auto" else xla == "true"
    return Placement("GPU" if gpu else "CPU", precision, use_xla)


def load_trunk(
    config: Basenji2Config, weights: Path | None, seed: int, precision: str
) -> keras.Model:
    """Build the model under ``precision``, load ``weights`` (or seed), return its trunk.

    Parameters
    ----------
    config : Basenji2Config
        The architecture.
    weights : Path or None
        A legacy full-model Keras HDF5 (``model_human.h5``); None: initialise from ``seed``.
    seed : int
        Initialisation seed (used only without weights).
    precision : str
        Keras dtype policy, e.g. ``"float32"`` or ``"mixed_float16"``.

    Returns
    -------
    keras.Model
        The trunk: ``(N, seq_length, 4)`` → ``(N, out_length, channels)``.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(seed)
        built = build_basenji2(config)
    finally:
        keras.config.set_dtype_policy(previous)
    if weights is None:
        log.warning("no weights given: the trunk is randomly initialised (seed %d)", seed)
    else:
        load_legacy_weights(built.model, weights)
    return built.trunk


class TrunkRunner:
    """A compiled, fixed-batch-shape forward pass of a trunk, float16 out.

    Parameters
    ----------
    trunk : keras.Model
        Input ``(N, seq_length, 4)``, output ``(N, bins, channels)``.
    batch_size : int
        Every call gets exactly this many sequences.
    reverse_complement : bool
        Average with the reverse complement (see the module docstring).
    xla : bool
        Compile with XLA (``jit_compile``); worth it on a GPU.
    """

    def __init__(
        self, trunk: keras.Model, batch_size: int, reverse_complement: bool, xla: bool
    ) -> None:
        self.batch_size = batch_size
        self.seq_length = int(trunk.input.shape[1])
        self.out_shape = (int(trunk.output.shape[1]), int(trunk.output.shape[2]))

        def forward(x: tf.Tensor) -> tf.Tensor:
            y = tf.cast(trunk(x, training=False), tf.float32)
            if reverse_complement:  # reversing A,C,G,T channels complements them
                back = tf.cast(trunk(tf.reverse(x, axis=[1, 2]), training=False), tf.float32)
                y = (y + tf.reverse(back, axis=[1])) / 2
            return tf.cast(y, tf.float16)

        spec = tf.TensorSpec((batch_size, self.seq_length, 4), tf.float32)
        self._forward = tf.function(forward, input_signature=[spec], jit_compile=xla)

    def __call__(self, onehot: np.ndarray) -> np.ndarray:
        """Embed a ``(batch_size, seq_length, 4)`` float32 batch; float16 out."""
        return np.asarray(self._forward(tf.constant(onehot)))
