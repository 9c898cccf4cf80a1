"""Masking of haplotype tokens: target counts, protected ends, 80/10/10 split, MAF strata."""

from __future__ import annotations

import numpy as np
import pytest

from exprflow.training.mlm_masking import (
    IGNORE_INDEX,
    MaskSettings,
    apply_mask,
    one_hot,
    rolling_masks,
    training_mask,
)


def test_one_hot_puts_channels_before_positions() -> None:
    x = one_hot(np.array([[0, 1, 2, 1]]))
    assert x.shape == (1, 3, 4) and x.dtype == np.float32
    assert x[0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]


def test_one_hot_rejects_tokens_outside_the_alphabet() -> None:
    with pytest.raises(ValueError, match=r"0\.\.2"):
        one_hot(np.array([0, 3]))


def test_training_mask_has_exact_count_and_protected_ends() -> None:
    settings = MaskSettings()
    generator = np.random.default_rng(0)
    masks = np.stack([training_mask(200, generator, settings) for _ in range(2000)])
    assert (masks.sum(axis=1) == 28).all()  # round(0.2 · (200 − 2·30))
    assert not masks[:, :30].any() and not masks[:, -30:].any()
    rate = masks[:, 30:-30].mean(axis=0)  # each maskable SNP: p = 0.2, 2000 draws
    assert np.abs(rate - 0.2).max() < 5 * np.sqrt(0.2 * 0.8 / 2000)


@pytest.mark.parametrize(
    ("length", "targets", "first"),
    [(60, 6, 15), (40, 4, 10), (2, 1, 0), (1, 1, 0), (0, 0, 0), (63, 1, 30)],
)
def test_short_sequences_shrink_the_frame_to_a_quarter(
    length: int, targets: int, first: int
) -> None:
    mask = training_mask(length, np.random.default_rng(1), MaskSettings())
    assert mask.shape == (length,) and mask.sum() == targets
    assert not mask[:first].any() and not mask[length - first :].any()


def test_mask_count_rounds_half_up() -> None:
    settings = MaskSettings(mask_rate=0.25, frame=0)
    assert training_mask(10, np.random.default_rng(0), settings).sum() == 3  # 2.5 → 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mask_rate": 0.0}, "mask_rate"),
        ({"mask_rate": 1.5}, "mask_rate"),
        ({"frame": -1}, "frame"),
        ({"maf_bins": (0.0, 0.3, 0.2)}, "maf_bins"),
        ({"maf_bins": (0.5,)}, "maf_bins"),
    ],
)
def test_mask_settings_reject_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MaskSettings(**kwargs)  # type: ignore[arg-type]


def _bin_mafs() -> np.ndarray:
    """1030 SNPs: frame 15 at each end, then 100/200/300/400 in MAF bins 1, 2, 3, 5."""
    middle = np.repeat([0.05, 0.15, 0.95, 0.45], [100, 200, 300, 400])  # 0.95 folds to 0.05
    return np.concatenate([np.full(15, 0.25), middle, np.full(15, 0.25)])


def test_maf_stratified_mask_draws_the_same_share_of_every_bin() -> None:
    maf = _bin_mafs()
    settings = MaskSettings(frame=15, maf_stratified=True)
    generator = np.random.default_rng(2)
    folded = np.concatenate([np.full(15, 0), np.repeat([0, 1, 0, 4], [100, 200, 300, 400])])
    for _ in range(50):
        mask = training_mask(maf.size, generator, settings, maf)
        assert mask.sum() == 200 and not mask[:15].any() and not mask[-15:].any()
        per_bin = np.bincount(folded[mask[:-15]], minlength=5)
        assert per_bin.tolist() == [80, 40, 0, 0, 80]  # 20 % of 400, 200, 400


def test_maf_stratified_shares_use_largest_remainders() -> None:
    maf = np.repeat([0.05, 0.15, 0.25], [11, 7, 2])  # exact shares 2.2, 1.4, 0.4 of 4
    settings = MaskSettings(frame=0, maf_stratified=True)
    generator = np.random.default_rng(3)
    for _ in range(20):
        mask = training_mask(maf.size, generator, settings, maf)
        assert [mask[:11].sum(), mask[11:18].sum(), mask[18:].sum()] == [2, 1, 1]


def test_maf_stratified_mask_checks_the_frequencies() -> None:
    settings = MaskSettings(maf_stratified=True)
    generator = np.random.default_rng(0)
    with pytest.raises(ValueError, match="needs the MAF"):
        training_mask(100, generator, settings)
    with pytest.raises(ValueError, match=r"shape \(100,\)"):
        training_mask(100, generator, settings, np.full(99, 0.2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        training_mask(100, generator, settings, np.full(100, 1.2))


def test_split_mask_is_80_10_10_and_labels_only_targets() -> None:
    generator = np.random.default_rng(4)
    tokens = generator.integers(0, 3, size=60_000)
    mask = np.zeros(tokens.size, dtype=bool)
    mask[::2] = True
    x, labels = apply_mask(tokens, mask, generator)
    n = int(mask.sum())
    assert x.shape == (3, tokens.size) and x.dtype == np.float32 and labels.dtype == np.int64
    assert (labels[~mask] == IGNORE_INDEX).all() and (labels[mask] == tokens[mask]).all()
    assert (x[:, ~mask] == one_hot(tokens[~mask])).all()
    zeroed = (x[:, mask] == 0).all(axis=0)
    kept = (x[:, mask] == one_hot(tokens[mask])).all(axis=0)
    swapped = ~zeroed & ~kept  # random token ≠ true one: 10 % · 2/3
    for count, p in [(zeroed.sum(), 0.8), (kept.sum(), 0.1 + 0.1 / 3), (swapped.sum(), 0.2 / 3)]:
        assert abs(count - p * n) < 4 * np.sqrt(n * p * (1 - p))
    assert set(x[:, mask][:, swapped].argmax(axis=0)) == {0, 1, 2}


def test_without_split_every_target_is_zeroed() -> None:
    tokens = np.array([0, 1, 2, 1, 0], dtype=np.uint8)  # haplotype_tokens' dtype
    mask = np.array([False, True, True, False, True])
    x, labels = apply_mask(tokens, mask, np.random.default_rng(0), split_mask=False)
    assert (x[:, mask] == 0).all() and (x[:, ~mask] == one_hot(tokens[~mask])).all()
    assert labels.tolist() == [-100, 1, 2, -100, 0]


def test_apply_mask_checks_shapes() -> None:
    with pytest.raises(ValueError, match="must both be"):
        apply_mask(np.zeros(5, int), np.zeros(4, bool), np.random.default_rng(0))


@pytest.mark.parametrize(("length", "stride"), [(10, 3), (100, 50), (7, 7), (5, 1), (3, 5)])
def test_rolling_masks_cover_every_position_once(length: int, stride: int) -> None:
    masks = rolling_masks(length, stride)
    assert masks.shape == (stride, length)
    assert (masks.sum(axis=0) == 1).all()
    for i, row in enumerate(masks):
        assert np.flatnonzero(row).tolist() == list(range(i, length, stride))


def test_rolling_masks_reject_a_zero_stride() -> None:
    with pytest.raises(ValueError, match="stride"):
        rolling_masks(10, 0)
