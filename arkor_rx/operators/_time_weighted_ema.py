"""``time_weighted_ema(half_life_steps)``: an EMA keyed on the step, for uneven logging."""

from __future__ import annotations

import math
from collections.abc import Callable

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, check_positive, stateful

__all__ = ["time_weighted_ema"]


def time_weighted_ema(
    half_life_steps: float,
) -> Callable[[Observable[MetricPoint]], Observable[MetricPoint]]:
    """An exponentially weighted mean where a value's weight halves every ``half_life_steps``.

    Each value enters with weight 1; between two points ``d = 0.5 ** (Δstep /
    half_life_steps)`` decays the running sums: ``S = d * S + y``,
    ``W = d * W + 1``, ``out = S / W``. Logs 10 steps apart count ten times less
    decay than logs 100 steps apart, so uneven logging does not skew the curve.
    Two values at the same step weigh the same; a step that goes backwards is
    treated as ``Δstep = 0``. Non-finite values are passed through and leave the
    sums alone.
    """
    half_life = check_positive("half_life_steps", half_life_steps)

    def make() -> Callable[[MetricPoint], MetricPoint]:
        total = 0.0
        weight = 0.0
        last_step: int | None = None

        def step(point: MetricPoint) -> MetricPoint:
            nonlocal total, weight, last_step
            y = point.value
            if not math.isfinite(y):
                return point
            if last_step is not None:
                decay = 0.5 ** (max(point.step - last_step, 0) / half_life)
                total *= decay
                weight *= decay
            total += y
            weight += 1.0
            last_step = point.step
            return MetricPoint(point.step, total / weight)

        return step

    return stateful(make)
