"""``tensorboard_smooth(weight)``: TensorBoard's scalar smoothing (a debiased EMA)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, check_fraction, stateful

__all__ = ["TensorBoardEMA", "tensorboard_smooth"]


class TensorBoardEMA(NamedTuple):
    """The smoother's state as a value: ``push`` returns the next state, nothing mutates.

    The live views keep one in their (immutable) state, so the dashboard's
    smoothed loss is this operator's arithmetic, not a copy of it.
    """

    weight: float
    last: float = 0.0
    n: int = 0
    """How many finite values went in."""

    def push(self, y: float) -> TensorBoardEMA:
        """The state after ``y`` (a non-finite ``y`` leaves it unchanged)."""
        if not math.isfinite(y):
            return self
        return TensorBoardEMA(
            self.weight, self.last * self.weight + (1 - self.weight) * y, self.n + 1
        )

    @property
    def value(self) -> float | None:
        """The debiased smoothed value, or None before the first finite ``y``."""
        if self.n == 0:
            return None
        return self.last / (1 - self.weight**self.n)


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
        ema = TensorBoardEMA(w)

        def step(point: MetricPoint) -> MetricPoint:
            nonlocal ema
            if not math.isfinite(point.value):
                return point
            ema = ema.push(point.value)
            assert ema.value is not None
            return MetricPoint(point.step, ema.value)

        return step

    return stateful(make)
