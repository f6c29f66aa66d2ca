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
)

__all__ = ["clocked"]

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
            step = make()
            timer = resolve_scheduler(scheduler, at_subscribe)

            def on_next(event: object) -> None:
                if not isinstance(event, TrainingLog):
                    return
                try:
                    seconds = event_seconds(event) if clock == "event" else scheduler_seconds(timer)
                    result = None if seconds is None else step(event, seconds)
                except Exception as exc:
                    observer.on_error(exc)
                    return
                if result is not None:
                    observer.on_next(result)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=at_subscribe
            )

        return Observable(subscribe)

    return operator
