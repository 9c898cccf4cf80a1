"""Sizes of the haplotype masked language model (DSS-ResNet), with a JSON round trip.

:class:`MlmConfig` defaults are the published model ("aware_large_splitmsk" of lm-eqtl:
d 256, 16 bidirectional DSS layers of state size 64, 3 ResNet blocks, 10 genes);
:data:`MLM_SIZES` names the published, small and tiny sizes and :func:`mlm_config` picks
one for a given number of genes. ``to_json`` writes ``{"model_type": "haplotype_mlm", …}``
and :meth:`MlmConfig.from_json` reads it back (see :mod:`exprflow.models.json_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

from exprflow.models.json_config import JsonConfig

__all__ = ["MLM_SIZES", "MlmConfig", "mlm_config"]


@dataclass(frozen=True)
class MlmConfig(JsonConfig):
    """Sizes of :class:`~exprflow.models.mlm.model.HaplotypeMLM`; defaults are published.

    Parameters
    ----------
    n_genes : int, optional
        Rows of the gene ("segment") embedding. Default 10 (the published top-10 genes).
    d_model : int, optional
        Channels of the encoder, ResNet and backbone. Default 256.
    n_layers : int, optional
        Bidirectional DSS blocks of the backbone. Default 16.
    state_size : int, optional
        DSS state size N per channel (N/2 complex modes); even. Default 64.
    encoder_kernel : int, optional
        Width of the input convolution. Default 15.
    resnet_kernel : int, optional
        Width of the ResNet convolutions. Default 7.
    n_resblocks : int, optional
        ResNet blocks. Default 3.
    decoder_kernel : int, optional
        Width of the output convolution. Default 15.
    dropout : float, optional
        Dropout after the DSS activation, in [0, 1). Default 0.0.
    n_tokens : int, optional
        Token alphabet size (R, A, N). Default 3.

    Raises
    ------
    ValueError
        When an integer size is not positive, ``state_size`` is odd or ``dropout`` is
        outside [0, 1).
    """

    model_type: ClassVar[str] = "haplotype_mlm"

    n_genes: int = 10
    d_model: int = 256
    n_layers: int = 16
    state_size: int = 64
    encoder_kernel: int = 15
    resnet_kernel: int = 7
    n_resblocks: int = 3
    decoder_kernel: int = 15
    dropout: float = 0.0
    n_tokens: int = 3

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "dropout":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"dropout must be a number in [0, 1), got {value!r}")
                if not 0.0 <= value < 1.0:
                    raise ValueError(f"dropout must be in [0, 1), got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{field.name} must be a positive integer, got {value!r}")
        if self.state_size % 2:
            raise ValueError(f"state_size must be even (N/2 complex modes), got {self.state_size}")


#: Named sizes: ``published`` (≈5.7 M parameters with 10 genes), ``small`` (the demo
#: world) and ``tiny`` (unit tests and the tiny world).
MLM_SIZES: dict[str, MlmConfig] = {
    "published": MlmConfig(),
    "small": MlmConfig(d_model=64, n_layers=4, state_size=32),
    "tiny": MlmConfig(d_model=32, n_layers=2, state_size=16),
}


def mlm_config(size: str, n_genes: int, **overrides: float) -> MlmConfig:
    """Return the named size of :data:`MLM_SIZES` for ``n_genes`` genes.

    Parameters
    ----------
    size : str
        A key of :data:`MLM_SIZES`.
    n_genes : int
        Rows of the gene embedding (1 for a gene-agnostic model).
    **overrides : float
        Other fields to replace (e.g. ``dropout=0.1``).

    Returns
    -------
    MlmConfig

    Raises
    ------
    ValueError
        On an unknown size or an invalid field.
    """
    if size not in MLM_SIZES:
        raise ValueError(f"unknown MLM size {size!r}, expected one of {sorted(MLM_SIZES)}")
    return replace(MLM_SIZES[size], n_genes=n_genes, **overrides)  # type: ignore[arg-type]
