"""``steps_per_second()``: training speed between consecutive logs."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from arkor_rx.events import TrainingLog
from arkor_rx.operators._clocked import clocked
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

    def make() -> Callable[[TrainingLog, float], MetricPoint | None]:
        anchor: tuple[int, float] | None = None

        def step(log: TrainingLog, now: float) -> MetricPoint | None:
            nonlocal anchor
            if anchor is None or log.step < anchor[0]:
                anchor = (log.step, now)
                return None
            d_step, d_time = log.step - anchor[0], now - anchor[1]
            if d_step == 0 or d_time <= 0:
                return None
            anchor = (log.step, now)
            return MetricPoint(log.step, d_step / d_time)

        return step

    return clocked(make, which, scheduler)
