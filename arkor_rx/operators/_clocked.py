"""The engine behind the rate operators: read each log's time from the chosen clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc

from arkor_rx.events import TrainingLog
from arkor_rx.operators._common import (
    Clock,
    event_seconds,
    resolve_scheduler,
    scheduler_seconds,
    stateful,
)
from arkor_rx.operators._of_type import logs

__all__ = ["clocked", "step_rates"]

_Out = TypeVar("_Out")


def clocked(
    make: Callable[[], Callable[[TrainingLog, float], _Out | None]],
    clock: Clock,
    scheduler: abc.SchedulerBase | None,
) -> Callable[[Observable[object]], Observable[_Out]]:
    """Call a fresh ``step(log, seconds)`` per subscription for every timed ``TrainingLog``.

    With ``clock="event"`` the time is the log's own ``timestamp`` (logs
    without one are skipped); with ``clock="scheduler"`` it is the scheduler's
    ``now`` when the log arrives.
    """

    def operator(source: Observable[object]) -> Observable[_Out]:
        def subscribe(
            observer: abc.ObserverBase[_Out], at_subscribe: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            # Hand-written only to learn the scheduler given at subscribe time.
            timer = resolve_scheduler(scheduler, at_subscribe)

            def make_timed() -> Callable[[TrainingLog], _Out | None]:
                step = make()

                def timed(event: TrainingLog) -> _Out | None:
                    seconds = event_seconds(event) if clock == "event" else scheduler_seconds(timer)
                    return None if seconds is None else step(event, seconds)

                return timed

            return source.pipe(logs(), stateful(make_timed)).subscribe(
                observer, scheduler=at_subscribe
            )

        return Observable(subscribe)

    return operator


def step_rates(
    out: Callable[[int, float], _Out],
    *,
    since_first: bool,
    clock: Clock,
    scheduler: abc.SchedulerBase | None,
) -> Callable[[Observable[object]], Observable[_Out]]:
    """``out(step, steps per second)`` for every timed ``TrainingLog`` after the anchor.

    The first log only sets the anchor (its step and time); a step that goes
    backwards resets it; a log at the anchor's step, or at its instant, emits
    nothing and keeps it. With ``since_first`` the anchor stays where it was set
    (the average speed so far), else each rate moves it to its own log (the
    speed between consecutive logs).
    """

    def make() -> Callable[[TrainingLog, float], _Out | None]:
        anchor: tuple[int, float] | None = None

        def step(log: TrainingLog, now: float) -> _Out | None:
            nonlocal anchor
            if anchor is None or log.step < anchor[0]:
                anchor = (log.step, now)
                return None
            d_step, d_time = log.step - anchor[0], now - anchor[1]
            if d_step == 0 or d_time <= 0:
                return None
            if not since_first:
                anchor = (log.step, now)
            return out(log.step, d_step / d_time)

        return step

    return clocked(make, clock, scheduler)
