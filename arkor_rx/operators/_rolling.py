"""``rolling_mean(n)``, ``rolling_min(n)``, ``rolling_max(n)``: one window, three reductions.

Rule: a window holds the last ``n`` values (fewer at the start: the first
output is the first value). A NaN in the window makes the output NaN until it
leaves the window, so a bad value is visible and never silently skipped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, check_int, stateful

__all__ = ["rolling", "rolling_max", "rolling_mean", "rolling_min"]

PointOperator = Callable[[Observable[MetricPoint]], Observable[MetricPoint]]


def rolling(n: int, reduce: Callable[[Sequence[float]], float]) -> PointOperator:
    """``MetricPoint(step, reduce(last n values))`` for every incoming point."""
    check_int("n", n, 1)

    def make() -> Callable[[MetricPoint], MetricPoint]:
        window: deque[float] = deque(maxlen=n)
        nans = 0

        def step(point: MetricPoint) -> MetricPoint:
            nonlocal nans
            if len(window) == n and math.isnan(window[0]):
                nans -= 1
            window.append(point.value)
            if math.isnan(point.value):
                nans += 1
            value = math.nan if nans else reduce(window)
            return MetricPoint(point.step, value)

        return step

    return stateful(make)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def rolling_mean(n: int) -> PointOperator:
    """The arithmetic mean of the last ``n`` values, one output per input (same step)."""
    return rolling(n, _mean)


def rolling_min(n: int) -> PointOperator:
    """The smallest value of the last ``n`` values, one output per input (same step)."""
    return rolling(n, min)


def rolling_max(n: int) -> PointOperator:
    """The largest value of the last ``n`` values, one output per input (same step)."""
    return rolling(n, max)
