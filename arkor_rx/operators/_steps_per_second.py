"""``steps_per_second()``: training speed between consecutive logs."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from arkor_rx.operators._clocked import step_rates
from arkor_rx.operators._common import Clock, MetricPoint, check_clock

__all__ = ["steps_per_second"]


def steps_per_second(
    scheduler: abc.SchedulerBase | None = None, *, clock: Clock = "event"
) -> Callable[[Observable[object]], Observable[MetricPoint]]:
    """``MetricPoint(step, Δstep / Δseconds)`` between consecutive ``TrainingLog`` events.

    The first log only sets the anchor. A log at the same step, or at the same
    instant, emits nothing and keeps the anchor (the next rate covers the
    longer span); a step that goes backwards resets the anchor.
    """
    which = check_clock(clock)

    return step_rates(MetricPoint, since_first=False, clock=which, scheduler=scheduler)
