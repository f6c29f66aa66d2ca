"""The pure rules of cross-run pruning, as Optuna computes them (see `arkor_rx.pruning`).

Each is a small function of plain numbers: NumPy's percentile, the interval
gate of the percentile pruner, and successive halving's rung step, minimum
resource and promotion test. No state, no Rx, no I/O.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from arkor_rx._mode import Mode

__all__ = [
    "estimate_min_resource",
    "is_first_in_interval",
    "percentile",
    "promotable",
    "rung_promotion_step",
]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ascending, NaN-free values, as NumPy computes it.

    NumPy's default ``"linear"`` method, step by step in the same float
    operations (so the result is the same double, infinities and NaN included):
    the virtual index ``(n - 1) * q / 100``, its neighbours, and the two-sided
    lerp. NaN when there are no values.

    Examples:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 25.0)
        1.75
        >>> percentile([1.0, 2.0, float("inf")], 50.0)  # 2 + (inf - 2) * 0, as numpy
        nan
    """
    n = len(sorted_values)
    if n == 0:
        return math.nan
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:  # numpy takes the last value and counts the gap from index -1
        lower = upper = n - 1
        gamma = virtual + 1
    else:
        lower = math.floor(virtual)
        upper = lower + 1
        gamma = virtual - lower
    a, b = sorted_values[lower], sorted_values[upper]
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


def is_first_in_interval(step: int, previous_step: int, warmup: int, interval: int) -> bool:
    """Whether ``step`` is the first step reported in its pruning interval.

    Checks happen at ``warmup``, ``warmup + interval``, ... ; a check with no
    value is postponed to the next reported step. ``previous_step`` is the
    largest step the run reported before ``step`` (-1 for none).
    """
    nearest_check = (step - warmup) // interval * interval + warmup
    return previous_step < nearest_check


def rung_promotion_step(min_resource: int, reduction_factor: int, rate: int, rung: int) -> int:
    """The step a run must reach to be judged at ``rung``: ``r * eta ** (s + rung)``."""
    return min_resource * int(reduction_factor ** (rate + rung))


def estimate_min_resource(max_completed_last_step: int | None) -> int | None:
    """``min_resource="auto"``: a hundredth of the longest completed run (at least 1)."""
    if max_completed_last_step is None:
        return None
    return max(max_completed_last_step // 100, 1)


def promotable(
    value: float, others: Sequence[float], reduction_factor: int, direction: Mode
) -> tuple[bool, int, int]:
    """Whether ``value`` is promoted past a rung where ``others`` (ascending) were recorded.

    The run competes with everyone who reached the rung, itself included:
    the top ``len // reduction_factor`` go on (the best one while fewer than
    ``reduction_factor`` have competed). Ties are promoted.

    Returns:
        ``(promoted, kept, competing)``: the verdict, how many the rung keeps,
        and how many competed.
    """
    competing = len(others) + 1
    kept = max(competing // reduction_factor, 1)
    if direction == "max":
        better = len(others) - bisect_right(others, value)
    else:
        better = bisect_left(others, value)
    return better < kept, kept, competing
