"""The engine behind the wall-clock and cost budgets: a timer raced against the stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SingleAssignmentDisposable

from arkor_rx._latch import FirstOutcome
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
        race = _Race(observer, timer, decide)
        return race.follow(source, seconds, at_subscribe)

    return Observable(subscribe)


class _Race:
    """One subscription of a timed rule: the timer against the source, the first to end wins."""

    def __init__(
        self,
        observer: abc.ObserverBase[StopDecision],
        timer: abc.SchedulerBase,
        decide: Callable[[float, int | None], StopDecision],
    ) -> None:
        self._observer = observer
        self._timer = timer
        self._decide = decide
        self._latch: FirstOutcome[None] = FirstOutcome()  # the timer and the source race
        self._last_step: int | None = None
        self._start = scheduler_seconds(timer)
        self._upstream = SingleAssignmentDisposable()
        self._pending: abc.DisposableBase | None = None

    def follow(
        self, source: Observable[object], seconds: float, scheduler: abc.SchedulerBase | None
    ) -> abc.DisposableBase:
        """Start the timer, then subscribe to ``source``; the disposable of both."""
        pending = self._pending = self._timer.schedule_relative(seconds, self._fire)
        self._upstream.disposable = source.subscribe(
            self._on_next, self._on_error, self._on_completed, scheduler=scheduler
        )
        return CompositeDisposable(pending, self._upstream)

    def _fire(self, _: abc.SchedulerBase, __: Any = None) -> None:
        if not self._latch.end():
            return
        try:
            decision = self._decide(scheduler_seconds(self._timer) - self._start, self._last_step)
        except Exception as exc:
            self._observer.on_error(exc)
        else:
            self._observer.on_next(decision)
            self._observer.on_completed()
        self._upstream.dispose()

    def _on_next(self, event: object) -> None:
        step = getattr(event, "step", None)
        if isinstance(step, int):
            self._last_step = step

    def _on_error(self, exc: Exception) -> None:
        if self._latch.set_error(exc):
            self._cancel_timer()
            self._observer.on_error(exc)

    def _on_completed(self) -> None:
        if self._latch.end():
            self._cancel_timer()
            self._observer.on_completed()

    def _cancel_timer(self) -> None:
        if self._pending is not None:
            self._pending.dispose()
