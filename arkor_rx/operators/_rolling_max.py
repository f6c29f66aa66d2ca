"""``rolling_max(n)``: the largest value of the last ``n`` values."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint
from arkor_rx.operators._rolling import rolling

__all__ = ["rolling_max"]


def rolling_max(n: int) -> Callable[[Observable[MetricPoint]], Observable[MetricPoint]]:
    """The largest value of the last ``n`` values, one output per input (same step)."""
    return rolling(n, max)
