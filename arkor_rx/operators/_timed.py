"""The engine behind the wall-clock and cost budgets: a timer raced against the stream."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SingleAssignmentDisposable

from arkor_rx.operators._common import resolve_scheduler, scheduler_seconds
from arkor_rx.stopping import StopDecision

__all__ = ["timed_rule"]


def timed_rule(
    source: Observable[object],
    seconds: float,
    scheduler: abc.SchedulerBase | None,
    decide: Callable[[float, int | None], StopDecision],
) -> Observable[StopDecision]:
    """Emit ``decide(elapsed, last_step)`` once ``seconds`` have passed since subscription.

    The timer runs on ``scheduler`` (else the subscribe-time scheduler, else
    reactivex's timeout scheduler), so it fires even when no event arrives: a
    stalled job bills too. If the source ends first, so does the rule, with no
    decision. ``last_step`` is the step of the last event that had one.
    """

    def subscribe(
        observer: abc.ObserverBase[StopDecision], at_subscribe: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        timer = resolve_scheduler(scheduler, at_subscribe)
        lock = threading.Lock()
        done = False
        last_step: int | None = None
        start = scheduler_seconds(timer)
        upstream = SingleAssignmentDisposable()

        def finish() -> bool:
            nonlocal done
            with lock:
                if done:
                    return False
                done = True
                return True

        def fire(_: abc.SchedulerBase, __: Any = None) -> None:
            if not finish():
                return
            try:
                decision = decide(scheduler_seconds(timer) - start, last_step)
            except Exception as exc:
                observer.on_error(exc)
            else:
                observer.on_next(decision)
                observer.on_completed()
            upstream.dispose()

        def on_next(event: object) -> None:
            nonlocal last_step
            step = getattr(event, "step", None)
            if isinstance(step, int):
                last_step = step

        def on_error(exc: Exception) -> None:
            if finish():
                pending.dispose()
                observer.on_error(exc)

        def on_completed() -> None:
            if finish():
                pending.dispose()
                observer.on_completed()

        pending = timer.schedule_relative(seconds, fire)
        upstream.disposable = source.subscribe(
            on_next, on_error, on_completed, scheduler=at_subscribe
        )
        return CompositeDisposable(pending, upstream)

    return Observable(subscribe)
