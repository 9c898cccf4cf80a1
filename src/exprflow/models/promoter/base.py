"""What every promoter backbone shares: its attributes and the checks of its input.

A backbone maps a batch to one embedding per sequence, ``forward(x) -> (B, out_dim)``:

- ``input_kind == "onehot"``: ``x`` is (B, L, 4) float one-hot ACGT (N = 0.25 in every
  channel, padding all zeros; :mod:`exprflow.data.promoter_codes`), permuted to
  (B, 4, L) inside;
- ``input_kind == "motif_counts"``: ``x`` is (B, n_motifs) float motif counts.

``probe_frozen`` lists the parameter-name prefixes (relative to the backbone) that
linear probing freezes; ``fixed_length`` is the only length a backbone accepts (PureCNN,
whose flatten is sized for it) or None (any length the convolutions leave ≥ 1 bp).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["INPUT_KINDS", "PromoterBackbone", "check_counts", "check_onehot"]

#: The two kinds of backbone input.
INPUT_KINDS = ("onehot", "motif_counts")


class PromoterBackbone(nn.Module):
    """Base class of the promoter backbones (sets the attributes every backbone has).

    Parameters
    ----------
    out_dim : int
        Width of the embedding ``forward`` returns.
    input_kind : str
        ``"onehot"`` or ``"motif_counts"``.
    probe_frozen : tuple of str
        Parameter-name prefixes frozen by linear probing (e.g. ``("cnn.",)``).
    fixed_length : int or None, optional
        The one sequence length accepted, or None (any). Default None.
    """

    def __init__(
        self,
        out_dim: int,
        input_kind: str,
        probe_frozen: tuple[str, ...],
        fixed_length: int | None = None,
    ) -> None:
        super().__init__()
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {list(INPUT_KINDS)}, got {input_kind!r}")
        self.out_dim = out_dim
        self.input_kind = input_kind
        self.probe_frozen = probe_frozen
        self.fixed_length = fixed_length

    def is_probe_frozen(self, name: str) -> bool:
        """Whether parameter ``name`` (relative to the backbone) is frozen by probing.

        Parameters
        ----------
        name : str
            A name from ``named_parameters()`` or ``named_modules()``.

        Returns
        -------
        bool
        """
        return any(name.startswith(prefix) for prefix in self.probe_frozen)


def check_onehot(x: Tensor, who: str, min_length: int = 1) -> None:
    """ValueError unless ``x`` is a (B, L, 4) one-hot batch with L ≥ ``min_length``.

    Parameters
    ----------
    x : Tensor
        The batch.
    who : str
        The backbone named in the error.
    min_length : int, optional
        Shortest sequence the backbone can read. Default 1.
    """
    if x.ndim != 3 or x.shape[-1] != 4:
        raise ValueError(
            f"{who} takes one-hot sequences of shape (batch, length, 4), got {tuple(x.shape)}"
        )
    if x.shape[1] < min_length:
        raise ValueError(f"{who} needs sequences of at least {min_length} bp, got {x.shape[1]} bp")


def check_counts(x: Tensor, n_motifs: int, who: str) -> None:
    """ValueError unless ``x`` is a (B, n_motifs) motif-count batch.

    Parameters
    ----------
    x : Tensor
        The batch.
    n_motifs : int
        Motif columns the backbone was built for.
    who : str
        The backbone named in the error.
    """
    if x.ndim != 2 or x.shape[1] != n_motifs:
        raise ValueError(
            f"{who} takes motif counts of shape (batch, {n_motifs}), got {tuple(x.shape)}"
        )
