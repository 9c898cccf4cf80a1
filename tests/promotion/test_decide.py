from __future__ import annotations

import math

import pytest

from exprflow.errors import ExprflowError
from exprflow.promotion.decide import (
    FAILED_CHECKS,
    KEPT,
    PROMOTED,
    Decision,
    Entry,
    decide,
    improvement,
    min_test_size_problem,
)


def _decide(
    candidate: float | None,
    champion: float | str | None = "none",
    *,
    direction: str = "max",
    min_improvement: float = 0.01,
    failures: tuple[str, ...] = (),
) -> Decision:
    """Candidate version 2 against champion version 1 ('none': no champion)."""
    theirs = None if isinstance(champion, str) else Entry("1", champion)
    return decide(
        Entry("2", candidate),
        theirs,
        metric="test_spearman",
        direction=direction,
        min_improvement=min_improvement,
        failures=failures,
    )


def test_better_by_more_than_the_minimum_is_promoted() -> None:
    decision = _decide(0.55, 0.5)
    assert decision.outcome == PROMOTED
    assert (decision.candidate, decision.champion) == (0.55, 0.5)
    assert decision.improvement == pytest.approx(0.05)
    assert decision.reason == (
        "test_spearman 0.55 vs champion version 1's 0.5: 0.05 higher, >= the minimum 0.01."
    )


def test_worse_is_kept() -> None:
    decision = _decide(0.4, 0.5)
    assert decision.outcome == KEPT
    assert decision.improvement == pytest.approx(-0.1)
    assert decision.reason.endswith("not higher (max is better).")


def test_a_tie_keeps_the_champion_even_without_a_minimum() -> None:
    decision = _decide(0.5, 0.5, min_improvement=0.0)
    assert (decision.outcome, decision.improvement) == (KEPT, 0.0)
    assert "a tie; the champion stays" in decision.reason


def test_an_improvement_below_the_minimum_is_kept() -> None:
    decision = _decide(0.505, 0.5)
    assert decision.outcome == KEPT
    assert "only 0.005 higher, < the minimum 0.01" in decision.reason


def test_an_improvement_equal_to_the_minimum_is_promoted_despite_rounding() -> None:
    assert 0.57 - 0.56 < 0.01  # floating point says no
    assert _decide(0.57, 0.56).outcome == PROMOTED


def test_min_direction_prefers_lower_values() -> None:
    lower = _decide(0.2, 0.3, direction="min")
    assert (lower.outcome, lower.improvement) == (PROMOTED, pytest.approx(0.1))
    assert "0.1 lower" in lower.reason
    higher = _decide(0.4, 0.3, direction="min")
    assert (higher.outcome, higher.improvement) == (KEPT, pytest.approx(-0.1))
    assert improvement(0.2, 0.3, "min") == pytest.approx(0.1)
    assert improvement(0.2, 0.3, "max") == pytest.approx(-0.1)


@pytest.mark.parametrize("value", [math.nan, None, math.inf])
def test_a_candidate_without_a_finite_metric_is_refused(value: float | None) -> None:
    decision = _decide(value, 0.5)
    assert decision.outcome == FAILED_CHECKS
    assert decision.reason == f"failed checks: no finite test_spearman (got {value})."
    # Also when there is no champion to beat.
    assert _decide(value).outcome == FAILED_CHECKS


def test_failed_checks_refuse_even_a_much_better_candidate() -> None:
    decision = _decide(0.9, 0.1, failures=("signature: the model has no signature", "x"))
    assert decision.outcome == FAILED_CHECKS
    assert decision.reason == "failed checks: signature: the model has no signature; x."


def test_no_champion_promotes() -> None:
    decision = _decide(0.1)
    assert decision == Decision(PROMOTED, "no champion yet; test_spearman = 0.1.", 0.1)


def test_a_champion_without_a_value_is_not_replaced() -> None:
    decision = _decide(0.9, math.nan)
    assert decision.outcome == KEPT
    assert decision.reason.startswith("cannot compare: champion version 1 has no finite")


def test_the_champion_itself_is_kept() -> None:
    decision = decide(
        Entry("1", 0.5), Entry("1", 0.5), metric="m", direction="max", min_improvement=0
    )
    assert (decision.outcome, decision.reason) == (KEPT, "version 1 is already the champion.")


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ExprflowError, match="direction='up', expected 'max' or 'min'"):
        _decide(0.5, 0.4, direction="up")
    with pytest.raises(ExprflowError, match=r"min_improvement=-0\.1, expected a number >= 0"):
        _decide(0.5, 0.4, min_improvement=-0.1)
    with pytest.raises(ExprflowError, match="direction='up'"):
        improvement(0.5, 0.4, "up")


def test_min_test_size_problem() -> None:
    assert min_test_size_problem(20.0, "n_test", 20) is None
    assert min_test_size_problem(19.0, "n_test", 20) == "min_test_size: n_test = 19 < 20"
    assert min_test_size_problem(None, "n_test", 20) == (
        "min_test_size: no n_test recorded (need >= 20)"
    )
    assert min_test_size_problem(math.nan, "n_test", 20) is not None
