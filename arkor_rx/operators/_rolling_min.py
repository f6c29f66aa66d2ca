"""``rolling_min(n)``: the smallest value of the last ``n`` values."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint
from arkor_rx.operators._rolling import rolling

__all__ = ["rolling_min"]


def rolling_min(n: int) -> Callable[[Observable[MetricPoint]], Observable[MetricPoint]]:
    """The smallest value of the last ``n`` values, one output per input (same step)."""
    return rolling(n, min)
