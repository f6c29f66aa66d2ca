"""``threshold(...)``: stop once the metric is good enough."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, Mode, check_finite, check_mode
from arkor_rx.operators._rule import Checker, Gated, fmt, monitored
from arkor_rx.stopping import StopDecision

__all__ = ["Threshold"]


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Threshold(Gated):
    """Stop when ``monitor`` reaches ``value``: ``<=`` with ``mode="min"``, ``>=`` with ``"max"``.

    NaN and infinities never count as reaching it.
    """

    monitor: str
    value: float
    mode: Mode = "min"

    def _check(self) -> None:
        check_finite("value", self.value)
        check_mode(self.mode)

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        target = self.value
        below = self.mode == "min"

        def make() -> Checker:
            def check(point: MetricPoint) -> StopDecision | None:
                y = point.value
                if not math.isfinite(y) or not (y <= target if below else y >= target):
                    return None
                return StopDecision(
                    rule="threshold",
                    reason=(
                        f"{self.monitor} {fmt(y)} reached the target "
                        f"{'<=' if below else '>='} {fmt(target)}"
                    ),
                    step=point.step,
                    value=y,
                    best=y,
                    best_step=point.step,
                    monitor=self.monitor,
                )

            return check

        return monitored(source, self.monitor, make, self)
