"""``ema(alpha)``: the classic exponential moving average."""

from __future__ import annotations

import math
from collections.abc import Callable

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, check_fraction, stateful

__all__ = ["ema"]


def ema(alpha: float) -> Callable[[Observable[MetricPoint]], Observable[MetricPoint]]:
    """``s = alpha * y + (1 - alpha) * s``, starting at the first finite value.

    Non-finite values are passed through unchanged and leave the average alone.
    """
    a = check_fraction("alpha", alpha, low_open=True, high_open=False)

    def make() -> Callable[[MetricPoint], MetricPoint]:
        state: float | None = None

        def step(point: MetricPoint) -> MetricPoint:
            nonlocal state
            y = point.value
            if not math.isfinite(y):
                return point
            state = y if state is None else a * y + (1 - a) * state
            return MetricPoint(point.step, state)

        return step

    return stateful(make)
