"""WindowBank: one slot per distinct window, batched evaluation, bounded state."""

from __future__ import annotations

import numpy as np
import pytest
from tests.scoring._standin import StandIn

from exprflow.errors import ExprflowError
from exprflow.scoring.dedup import WindowBank, encode_windows, run_chromatin


def _windows(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=2000)) for _ in range(count)]


def test_encoding_is_channel_first_agct() -> None:
    onehot = encode_windows(["AGCTN" * 400])
    assert onehot.shape == (1, 4, 2000) and onehot.dtype == np.float32
    assert onehot.flags.c_contiguous
    np.testing.assert_array_equal(onehot[0, :, :5], np.eye(5, 4).T)


def test_duplicates_share_a_slot_and_are_evaluated_once() -> None:
    model = StandIn()
    distinct = _windows(7, seed=1)
    bank = WindowBank()
    first = bank.add(distinct[:5])
    second = bank.add([distinct[4], distinct[0], distinct[5], distinct[6], distinct[0]])
    np.testing.assert_array_equal(first, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(second, [4, 0, 5, 6, 0])
    assert len(bank) == 7 and bank.pending == 7 and bank.requested == 10
    assert bank.evaluate(model.chromatin, batch_size=3) == 7
    assert model.calls == 3 and model.windows == 7 and bank.evaluations == 7
    assert bank.evaluate(model.chromatin, batch_size=3) == 0 and model.calls == 3
    alone = np.stack([run_chromatin(model.chromatin, [w])[0] for w in distinct])
    np.testing.assert_array_equal(bank.features(second), alone[[4, 0, 5, 6, 0]])
    np.testing.assert_array_equal(bank.features(np.stack([first, first])).shape, (2, 5, 6))


def test_clear_drops_slots_but_keeps_counts() -> None:
    model = StandIn()
    bank = WindowBank()
    windows = _windows(3, seed=2)
    bank.add(windows)
    bank.evaluate(model.chromatin)
    bank.clear()
    assert len(bank) == 0 and bank.pending == 0
    np.testing.assert_array_equal(bank.add(windows[::-1]), [0, 1, 2])
    with pytest.raises(ValueError, match="not evaluated"):
        bank.features(np.array([0]))
    bank.evaluate(model.chromatin)
    assert bank.evaluations == 6 and bank.requested == 6


def test_bad_windows_and_bad_plugins_are_refused() -> None:
    bank = WindowBank()
    with pytest.raises(ValueError, match="window 1 has 1999 bases, expected 2000"):
        bank.add(["A" * 2000, "A" * 1999])
    bank = WindowBank()
    bank.add(_windows(2, seed=3))
    with pytest.raises(ExprflowError, match=r"chromatin returned shape \(1, 6\) for 2 windows"):
        bank.evaluate(lambda x: np.zeros((1, 6)))
    with pytest.raises(ValueError, match="batch_size"):
        bank.evaluate(StandIn().chromatin, batch_size=0)
    bank = WindowBank()
    bank.add(_windows(2, seed=4))
    widths = iter([3, 4])
    with pytest.raises(ExprflowError, match="4 features per window, earlier 3"):
        bank.evaluate(lambda x: np.zeros((len(x), next(widths))), batch_size=1)
