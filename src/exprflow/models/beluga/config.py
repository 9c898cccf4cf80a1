"""Configuration of the Beluga chromatin network: the published sizes, a tiny one, JSON.

The topology is fixed by the released model: three blocks of two ``(1, kernel)``
convolutions, max-pooling after the first two blocks, then two linear layers. A config
only sets the sizes. Its JSON form (:meth:`BelugaConfig.to_json`) is a flat object that
carries ``"model_type": "beluga"``. Checkpoints store it beside the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from exprflow.models.json_config import JsonConfig

__all__ = ["BelugaConfig"]

_N_CONVS = 6


def _is_mirror_alphabet(alphabet: str) -> bool:
    """Whether ``alphabet`` orders ACGT so that reversing the channels complements them."""
    complement = alphabet.translate(str.maketrans("ACGT", "TGCA"))
    return sorted(alphabet) == list("ACGT") and alphabet[::-1] == complement


@dataclass(frozen=True)
class BelugaConfig(JsonConfig):
    """Sizes of a Beluga network; the defaults are the published model.

    Parameters
    ----------
    seq_len : int, optional
        Input length in bases. Default 2000.
    conv_channels : tuple of 6 int, optional
        Output channels of the six convolutions. Default ``(320, 320, 480, 480, 640, 640)``.
    kernel_size : int, optional
        Convolution width in bases (no padding, stride 1). Default 8.
    pool_size : int, optional
        Max-pool width and stride after convolutions 2 and 4. Default 4.
    hidden : int, optional
        Width of the first linear layer. Default 2003.
    n_outputs : int, optional
        Chromatin features predicted. Default 2002.
    conv_dropout : float, optional
        Dropout after convolutions 2 and 4. Default 0.2.
    fc_dropout : float, optional
        Dropout before the first linear layer. Default 0.5.
    alphabet : str, optional
        One-hot channel order of the input. Default ``"AGCT"``.

    Raises
    ------
    ValueError
        When a size is not positive, the input is too short for the convolutions, or the
        alphabet is not a permutation of ACGT whose complement is the channel reversal.
    """

    model_type: ClassVar[str] = "beluga"

    seq_len: int = 2000
    conv_channels: tuple[int, ...] = (320, 320, 480, 480, 640, 640)
    kernel_size: int = 8
    pool_size: int = 4
    hidden: int = 2003
    n_outputs: int = 2002
    conv_dropout: float = 0.2
    fc_dropout: float = 0.5
    alphabet: str = "AGCT"

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(self.conv_channels))
        if len(self.conv_channels) != _N_CONVS:
            raise ValueError(
                f"conv_channels needs {_N_CONVS} entries, got {len(self.conv_channels)}: "
                f"{self.conv_channels}"
            )
        sizes = {
            "seq_len": self.seq_len,
            "kernel_size": self.kernel_size,
            "pool_size": self.pool_size,
            "hidden": self.hidden,
            "n_outputs": self.n_outputs,
            **{f"conv_channels[{i}]": c for i, c in enumerate(self.conv_channels)},
        }
        for name, value in sizes.items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("conv_dropout", "fc_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not _is_mirror_alphabet(self.alphabet):
            raise ValueError(
                f"alphabet must order ACGT so that its reversal is its complement "
                f"(e.g. 'AGCT'), got {self.alphabet!r}"
            )
        if self.conv_out_len <= 0:
            raise ValueError(
                f"seq_len={self.seq_len} is too short for kernel_size={self.kernel_size} and "
                f"pool_size={self.pool_size}: the last convolution has no output"
            )

    @property
    def conv_out_len(self) -> int:
        """Length after the convolution stack (106 for the published 2000 bp input)."""
        shrink = self.kernel_size - 1
        length = (self.seq_len - 2 * shrink) // self.pool_size
        length = (length - 2 * shrink) // self.pool_size
        return length - 2 * shrink

    @property
    def flat_features(self) -> int:
        """Inputs of the first linear layer: last channels × :attr:`conv_out_len` (67840)."""
        return self.conv_channels[-1] * self.conv_out_len

    @classmethod
    def tiny(cls, n_outputs: int, seq_len: int = 2000) -> BelugaConfig:
        """Return the published topology with small widths, for demos and tests.

        Parameters
        ----------
        n_outputs : int
            Chromatin features predicted.
        seq_len : int, optional
            Input length in bases. Default 2000 (as published).

        Returns
        -------
        BelugaConfig
            Channels ``(8, 8, 12, 12, 16, 16)``, hidden 32.
        """
        return cls(
            seq_len=seq_len, conv_channels=(8, 8, 12, 12, 16, 16), hidden=32, n_outputs=n_outputs
        )
