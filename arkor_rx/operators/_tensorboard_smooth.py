"""``tensorboard_smooth(weight)``: TensorBoard's scalar smoothing (a debiased EMA)."""

from __future__ import annotations

import math
from collections.abc import Callable

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, check_fraction, stateful

__all__ = ["tensorboard_smooth"]


def tensorboard_smooth(
    weight: float,
) -> Callable[[Observable[MetricPoint]], Observable[MetricPoint]]:
    """The smoothing of TensorBoard's scalar dashboard.

    For each finite ``y``: ``last = last * w + (1 - w) * y; n += 1;
    out = last / (1 - w ** n)`` with ``last = 0`` and ``n = 0`` at the start.
    Non-finite values are passed through and do not advance ``n``.
    """
    w = check_fraction("weight", weight, low_open=False, high_open=True)

    def make() -> Callable[[MetricPoint], MetricPoint]:
        last = 0.0
        count = 0

        def step(point: MetricPoint) -> MetricPoint:
            nonlocal last, count
            y = point.value
            if not math.isfinite(y):
                return point
            last = last * w + (1 - w) * y
            count += 1
            return MetricPoint(point.step, last / (1 - w**count))

        return step

    return stateful(make)
