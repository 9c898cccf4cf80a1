"""Promotion decisions on plain values: a candidate version against the current champion.

No MLflow here: the caller reads the versions' metric values and runs the checks
(:mod:`exprflow.promotion.registry_ops`), then :func:`decide` says what to do and why.

The rule, for a candidate that is not already the champion:

1. a failed check, or no finite value of the deciding metric → ``failed_checks``;
2. no champion → ``promoted``;
3. a champion without a finite value → ``kept`` (the two cannot be compared; a
   comparison that cannot be made never moves the champion);
4. the improvement — ``candidate - champion`` for ``max``, ``champion - candidate`` for
   ``min`` — must be positive (a tie keeps the champion) and at least
   ``min_improvement`` (equality, up to rounding, is enough) → ``promoted``; else ``kept``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from exprflow.errors import ExprflowError

__all__ = [
    "FAILED_CHECKS",
    "KEPT",
    "NOTHING_TO_PROMOTE",
    "PROMOTED",
    "Decision",
    "Entry",
    "decide",
    "improvement",
    "min_test_size_problem",
]

#: The candidate becomes champion.
PROMOTED: Final = "promoted"
#: The champion stays; the candidate stays challenger.
KEPT: Final = "kept"
#: The candidate failed a check; nothing moves.
FAILED_CHECKS: Final = "failed_checks"
#: The registered model has no version to consider.
NOTHING_TO_PROMOTE: Final = "nothing_to_promote"
#: Relative and absolute slack when an improvement is compared with the minimum.
_REL_TOL: Final = 1e-9
_ABS_TOL: Final = 1e-12


@dataclass(frozen=True)
class Entry:
    """A model version and its value of the deciding metric.

    Attributes
    ----------
    version : str
        Version number in the registry.
    value : float or None
        Value of the deciding metric; None when the version has none.
    """

    version: str
    value: float | None


@dataclass(frozen=True)
class Decision:
    """What happens to a candidate, and why.

    Attributes
    ----------
    outcome : str
        :data:`PROMOTED`, :data:`KEPT`, :data:`FAILED_CHECKS` or :data:`NOTHING_TO_PROMOTE`.
    reason : str
        One sentence a person can read in the registry.
    candidate, champion : float or None, default None
        The compared values (None when absent).
    improvement : float or None, default None
        Candidate over champion in the better direction; None when not computed.
    """

    outcome: str
    reason: str
    candidate: float | None = None
    champion: float | None = None
    improvement: float | None = None


def improvement(candidate: float, champion: float, direction: str) -> float:
    """How much better ``candidate`` is than ``champion`` (negative: worse).

    Parameters
    ----------
    candidate, champion : float
        Values of the deciding metric.
    direction : str
        ``"max"`` (higher is better) or ``"min"`` (lower is better).

    Returns
    -------
    float
        ``candidate - champion`` for ``max``, ``champion - candidate`` for ``min``.
    """
    if direction == "max":
        return candidate - champion
    if direction == "min":
        return champion - candidate
    raise ExprflowError(f"direction={direction!r}, expected 'max' or 'min'.")


def min_test_size_problem(value: float | None, key: str, minimum: int) -> str | None:
    """Check a test-set size against its minimum; return what is wrong, or None.

    Parameters
    ----------
    value : float or None
        The version's metric or tag ``key``; None when it has none.
    key : str
        Its name, e.g. ``"n_test"``.
    minimum : int
        Smallest accepted size.

    Returns
    -------
    str or None
        A sentence naming the value and the minimum, or None when it passes.
    """
    if value is None or not math.isfinite(value):
        return f"min_test_size: no {key} recorded (need >= {minimum})"
    if value < minimum:
        return f"min_test_size: {key} = {value:g} < {minimum}"
    return None


def decide(
    candidate: Entry,
    champion: Entry | None,
    *,
    metric: str,
    direction: str,
    min_improvement: float,
    failures: Sequence[str] = (),
) -> Decision:
    """Decide whether ``candidate`` replaces ``champion`` (see the module's rule).

    Parameters
    ----------
    candidate : Entry
        The version considered and its metric value.
    champion : Entry or None
        The current champion; None when there is none.
    metric : str
        Name of the deciding metric (for the reason).
    direction : str
        ``"max"`` or ``"min"``.
    min_improvement : float
        Smallest improvement that promotes, ≥ 0, in the metric's units.
    failures : sequence of str, default ()
        Descriptions of the checks the candidate failed.

    Returns
    -------
    Decision
        The outcome, its reason and the compared values.
    """
    if direction not in ("max", "min"):
        raise ExprflowError(f"direction={direction!r}, expected 'max' or 'min'.")
    if not min_improvement >= 0:
        raise ExprflowError(f"min_improvement={min_improvement!r}, expected a number >= 0.")
    ours = candidate.value
    theirs = None if champion is None else champion.value
    if champion is not None and champion.version == candidate.version:
        reason = f"version {candidate.version} is already the champion."
        return Decision(KEPT, reason, ours, theirs)
    problems = list(failures)
    value, reference = _finite(ours), _finite(theirs)
    if value is None:
        problems.append(f"no finite {metric} (got {ours})")
    if problems or value is None:
        return Decision(FAILED_CHECKS, f"failed checks: {'; '.join(problems)}.", ours, theirs)
    if champion is None:
        return Decision(PROMOTED, f"no champion yet; {metric} = {value:.6g}.", value)
    if reference is None:
        reason = (
            f"cannot compare: champion version {champion.version} has no finite {metric} "
            f"(got {theirs}); move @champion by hand if the candidate should replace it."
        )
        return Decision(KEPT, reason, ours, theirs)
    gain = improvement(value, reference, direction)
    names = f"{metric} {value:.6g} vs champion version {champion.version}'s {reference:.6g}"
    better = "higher" if direction == "max" else "lower"
    if gain > 0 and _at_least(gain, min_improvement):
        reason = f"{names}: {gain:.6g} {better}, >= the minimum {min_improvement:g}."
        return Decision(PROMOTED, reason, ours, theirs, gain)
    if gain > 0:
        reason = f"{names}: only {gain:.6g} {better}, < the minimum {min_improvement:g}."
    elif gain == 0:
        reason = f"{names}: a tie; the champion stays."
    else:
        reason = f"{names}: not {better} ({direction} is better)."
    return Decision(KEPT, reason, ours, theirs, gain)


def _finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None."""
    return value if value is not None and math.isfinite(value) else None


def _at_least(gain: float, minimum: float) -> bool:
    """``gain >= minimum``, with equality up to floating-point rounding."""
    return gain >= minimum or math.isclose(gain, minimum, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
