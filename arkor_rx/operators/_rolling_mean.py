"""``rolling_mean(n)``: the arithmetic mean of the last ``n`` values."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint
from arkor_rx.operators._rolling import rolling

__all__ = ["rolling_mean"]


def rolling_mean(n: int) -> Callable[[Observable[MetricPoint]], Observable[MetricPoint]]:
    """The arithmetic mean of the last ``n`` values, one output per input (same step)."""
    return rolling(n, lambda values: sum(values) / len(values))
