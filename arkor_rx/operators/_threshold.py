"""``threshold(...)``: stop once the metric is good enough."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, Mode, check_finite, check_mode, check_monitor
from arkor_rx.operators._rule import Checker, Rule, check_gate, fmt, watch
from arkor_rx.stopping import StopDecision

__all__ = ["Threshold"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold(Rule):
    """Stop when ``monitor`` reaches ``value``: ``<=`` with ``mode="min"``, ``>=`` with ``"max"``.

    NaN and infinities never count as reaching it.
    """

    monitor: str
    value: float
    mode: Mode = "min"
    warmup_steps: int = 0
    interval: int = 1
    smoothing: float | None = None

    def __post_init__(self) -> None:
        check_monitor(self.monitor)
        check_finite("value", self.value)
        check_mode(self.mode)
        check_gate(self.warmup_steps, self.interval, self.smoothing)

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

        return watch(self, source, make)
