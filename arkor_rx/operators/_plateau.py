"""``plateau(...)``: stop when a metric has stopped moving."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, check_int, check_positive
from arkor_rx.operators._rule import Checker, Gated, fmt, monitored
from arkor_rx.stopping import StopDecision

__all__ = ["Plateau"]


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Plateau(Gated):
    """Stop when the last ``window`` checked values all lie within a narrow band.

    The band test is ``max(w) - min(w) <= rel_delta * |mean(w)|`` over the last
    ``window`` values ``w``; a window holding a NaN or an infinity is never a
    plateau. It is direction-free: a loss that stopped falling and a loss that
    a trainer pins to a running mean (instead of reporting NaN) both fire it.
    """

    monitor: str = "loss"
    window: int = 10
    rel_delta: float = 1e-3

    def _check(self) -> None:
        check_int("window", self.window, 2)
        check_positive("rel_delta", self.rel_delta, allow_zero=True)

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        size, rel = self.window, self.rel_delta

        def make() -> Checker:
            values: deque[float] = deque(maxlen=size)

            def check(point: MetricPoint) -> StopDecision | None:
                values.append(point.value)
                if len(values) < size or not all(math.isfinite(v) for v in values):
                    return None
                low, high = min(values), max(values)
                mean = sum(values) / size
                if not high - low <= rel * abs(mean):
                    return None
                return StopDecision(
                    rule="plateau",
                    reason=(
                        f"{self.monitor} stayed within [{fmt(low)}, {fmt(high)}] for {size} "
                        f"checks, a spread of at most {fmt(rel)} of its mean {fmt(mean)}"
                    ),
                    step=point.step,
                    value=point.value,
                    monitor=self.monitor,
                )

            return check

        return monitored(source, self.monitor, make, self)
