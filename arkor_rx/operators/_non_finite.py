"""``non_finite(...)``: stop at the first NaN or infinite value of a metric."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint, check_monitor
from arkor_rx.operators._rule import Checker, Rule, monitored
from arkor_rx.stopping import StopDecision

__all__ = ["NonFinite"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NonFinite(Rule):
    """Stop at the first NaN, ``inf`` or ``-inf`` value of ``monitor``, at any step.

    Not enough alone: some trainers never let a NaN reach the stream. Pair it
    with `Divergence` or ``plateau``.
    """

    monitor: str = "loss"

    def __post_init__(self) -> None:
        check_monitor(self.monitor)

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        def make() -> Checker:
            def check(point: MetricPoint) -> StopDecision | None:
                if math.isfinite(point.value):
                    return None
                return StopDecision(
                    rule="non_finite",
                    reason=f"{self.monitor} is {point.value} at step {point.step}",
                    step=point.step,
                    value=point.value,
                    monitor=self.monitor,
                )

            return check

        return monitored(source, self.monitor, make)
