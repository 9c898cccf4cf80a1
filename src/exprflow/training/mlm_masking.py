"""Masking of haplotype token rows for the masked language model, as published.

Tokens are the ``"RAN"`` alphabet (R = 0 reference, A = 1 alternative, N = 2 unknown);
the model sees them one-hot, ``float32 (3, L)`` in channel order R, A, N, and a masked
position is the all-zeros column. Labels are ``int64 (L,)``: the true token at each target,
``-100`` (cross-entropy ``ignore_index``) elsewhere.

Training mask (:func:`training_mask`)
    Exactly ``round(mask_rate · L')`` targets (half rounded up, at least one when any
    position is maskable) drawn without replacement among the ``L'`` maskable positions:
    the ``frame`` SNPs at each end are never masked. A sequence too short for its frame
    (``L ≤ 2·frame``) keeps a frame of ``L // 4`` so its middle half stays maskable.
    With ``maf_stratified`` the draw is stratified by MAF bin (bins ``(0, .1], (.1, .2],
    …, (.4, .5]``; an allele frequency above .5 is folded to ``1 - AF``): each bin gives
    its share of the targets, by largest remainder, like the stratified
    ``train_test_split`` of the published ``get_random_mask`` (which the published
    training left disabled).
Split mask (:func:`apply_mask`)
    Each target independently: 80 % zeroed (the mask token), 10 % replaced by a random
    one-hot drawn uniformly from {R, A, N}, 10 % left unchanged; all are targets with
    labels. Without ``split_mask`` every target is zeroed.
Rolling masks (:func:`rolling_masks`)
    For embeddings: copy ``i`` masks positions ``i, i + stride, …``, so every position,
    the ends included, is masked in exactly one copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "IGNORE_INDEX",
    "MaskSettings",
    "apply_mask",
    "one_hot",
    "rolling_masks",
    "training_mask",
]

#: Label of every position that is not a target (cross-entropy ``ignore_index``).
IGNORE_INDEX = -100

_N_TOKENS = 3
_ZEROED, _RANDOM = 0.8, 0.9  # cumulative shares of the split mask: 80 % zeroed, 10 % random


@dataclass(frozen=True)
class MaskSettings:
    """How training haplotypes are masked.

    Parameters
    ----------
    mask_rate : float, optional
        Share of the maskable positions that become targets, in (0, 1]. Default 0.2.
    frame : int, optional
        SNPs at each end that are never masked, ≥ 0. Default 30 (published).
    split_mask : bool, optional
        80 % zeroed / 10 % random / 10 % unchanged targets; otherwise all zeroed.
        Default True.
    maf_stratified : bool, optional
        Draw the same share of targets from each MAF bin (needs per-SNP MAF).
        Default False (as the published training).
    maf_bins : tuple of float, optional
        Increasing bin edges of the MAF strata. Default ``(0, .1, .2, .3, .4, .5)``.
    """

    mask_rate: float = 0.2
    frame: int = 30
    split_mask: bool = True
    maf_stratified: bool = False
    maf_bins: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_rate <= 1.0:
            raise ValueError(f"mask_rate must be in (0, 1], got {self.mask_rate}")
        if self.frame < 0:
            raise ValueError(f"frame must be ≥ 0, got {self.frame}")
        edges = np.asarray(self.maf_bins, dtype=float)
        if edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"maf_bins must be ≥ 2 increasing edges, got {self.maf_bins}")


def one_hot(tokens: np.ndarray) -> np.ndarray:
    """One-hot encode ``"RAN"`` tokens with the channel axis before the position axis.

    Parameters
    ----------
    tokens : numpy.ndarray
        Integer tokens ``(..., L)`` in 0..2.

    Returns
    -------
    numpy.ndarray
        float32 ``(..., 3, L)``, channels R, A, N.
    """
    tokens = np.asarray(tokens)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= _N_TOKENS):
        raise ValueError(
            f"tokens must be in 0..{_N_TOKENS - 1}, got {tokens.min()}..{tokens.max()}"
        )
    return (tokens[..., None, :] == np.arange(_N_TOKENS)[:, None]).astype(np.float32)


def _maskable(length: int, frame: int) -> np.ndarray:
    """Positions that may be masked: all but ``frame`` at each end (``L // 4`` if short)."""
    if length <= 2 * frame:
        frame = length // 4
    return np.arange(frame, length - frame)


def _target_count(maskable: int, rate: float) -> int:
    """``round(rate · maskable)``, half up, at least 1 when anything is maskable."""
    if maskable == 0:
        return 0
    return max(1, int(np.floor(rate * maskable + 0.5)))


def _fold_maf(maf: np.ndarray, length: int) -> np.ndarray:
    """Validated minor allele frequencies: ``(L,)`` in [0, 1], AF above .5 folded."""
    maf = np.asarray(maf, dtype=float)
    if maf.shape != (length,):
        raise ValueError(f"maf must have shape ({length},) like the sequence, got {maf.shape}")
    if not np.all(np.isfinite(maf)) or maf.min() < 0 or maf.max() > 1:
        raise ValueError("maf must hold finite frequencies in [0, 1]")
    return np.minimum(maf, 1.0 - maf)


def _stratified_choice(
    positions: np.ndarray, strata: np.ndarray, count: int, generator: np.random.Generator
) -> np.ndarray:
    """``count`` of ``positions``, each stratum giving its share by largest remainder."""
    labels, sizes = np.unique(strata, return_counts=True)
    exact = count * sizes / sizes.sum()
    take = np.floor(exact).astype(int)
    short = count - int(take.sum())
    if short:
        order = np.lexsort((generator.random(labels.size), -(exact - take)))
        take[order[:short]] += 1
    chosen = [
        generator.choice(positions[strata == label], size=n, replace=False)
        for label, n in zip(labels, take, strict=True)
    ]
    return np.concatenate(chosen)


def training_mask(
    length: int,
    generator: np.random.Generator,
    settings: MaskSettings,
    maf: np.ndarray | None = None,
) -> np.ndarray:
    """Draw the targets of one training haplotype.

    Parameters
    ----------
    length : int
        Number of SNPs ``L``.
    generator : numpy.random.Generator
        Source of randomness.
    settings : MaskSettings
        Rate, frame and stratification.
    maf : numpy.ndarray, optional
        ``(L,)`` MAF (or AF) of each SNP; required when ``settings.maf_stratified``.

    Returns
    -------
    numpy.ndarray
        bool ``(L,)``, True at the targets.
    """
    if length < 0:
        raise ValueError(f"length must be ≥ 0, got {length}")
    positions = _maskable(length, settings.frame)
    count = _target_count(positions.size, settings.mask_rate)
    mask = np.zeros(length, dtype=bool)
    if settings.maf_stratified:
        if maf is None:
            raise ValueError("maf_stratified masking needs the MAF of every SNP (maf=None)")
        edges = np.asarray(settings.maf_bins, dtype=float)
        strata = np.digitize(_fold_maf(maf, length)[positions], edges[1:-1], right=True)
        mask[_stratified_choice(positions, strata, count, generator)] = True
    else:
        mask[generator.choice(positions, size=count, replace=False)] = True
    return mask


def apply_mask(
    tokens: np.ndarray,
    mask: np.ndarray,
    generator: np.random.Generator,
    split_mask: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Model input and labels of one haplotype with its targets masked.

    Parameters
    ----------
    tokens : numpy.ndarray
        ``(L,)`` true tokens in 0..2.
    mask : numpy.ndarray
        bool ``(L,)``, True at the targets.
    generator : numpy.random.Generator
        Source of randomness for the split.
    split_mask : bool, optional
        80 % zeroed / 10 % random / 10 % unchanged; otherwise every target is zeroed.
        Default True.

    Returns
    -------
    x : numpy.ndarray
        float32 ``(3, L)`` one-hot input, all-zeros at zeroed targets.
    labels : numpy.ndarray
        int64 ``(L,)``: the true token at targets, ``-100`` elsewhere.
    """
    tokens = np.asarray(tokens).astype(np.int64)
    mask = np.asarray(mask, dtype=bool)
    if tokens.ndim != 1 or mask.shape != tokens.shape:
        raise ValueError(f"tokens {tokens.shape} and mask {mask.shape} must both be (L,)")
    x = one_hot(tokens)
    labels = np.where(mask, tokens, IGNORE_INDEX)
    targets = np.flatnonzero(mask)
    if not split_mask:
        x[:, targets] = 0.0
        return x, labels
    draw = generator.random(targets.size)
    x[:, targets[draw < _ZEROED]] = 0.0
    swapped = targets[(draw >= _ZEROED) & (draw < _RANDOM)]
    x[:, swapped] = one_hot(generator.integers(0, _N_TOKENS, size=swapped.size))
    return x, labels


def rolling_masks(length: int, stride: int) -> np.ndarray:
    """Masks that together cover every position exactly once (for embeddings).

    Parameters
    ----------
    length : int
        Number of SNPs ``L`` (≥ 0).
    stride : int
        Distance between positions masked in one copy (published 50), ≥ 1.

    Returns
    -------
    numpy.ndarray
        bool ``(stride, L)``: row ``i`` masks ``i, i + stride, …``. Rows ``i ≥ L``
        (``stride > L``) mask nothing.
    """
    if stride < 1 or length < 0:
        raise ValueError(f"stride must be ≥ 1 and length ≥ 0, got stride={stride}, {length=}")
    positions = np.arange(length)
    return positions[None, :] % stride == np.arange(stride)[:, None]
