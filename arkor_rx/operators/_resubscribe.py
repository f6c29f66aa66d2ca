"""What ``retry_with`` and ``repeat_with`` share: subscribe to a source, again after a delay.

Rule 1: at most one thing is held at a time, the source's subscription or the
pending delay, in one ``SerialDisposable``: disposing the output disposes
whichever it is, so a pending delay is cancelled at once and never resubscribes.

Rule 2: the subscription is held before the source is subscribed to: a source
that ends at once (its ``on_error`` or ``on_completed`` asks for the next
round) replaces it with the delay, and the ended subscription is disposed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from arkor_rx.operators._common import resolve_scheduler

__all__ = ["Resubscription"]

_T = TypeVar("_T")


class Resubscription(Generic[_T]):
    """One subscriber's rounds of ``source``: ``start`` subscribes, ``after`` schedules
    the next round.

    Args:
        source: the Observable to subscribe to, round after round.
        scheduler: the operator's scheduler for the delays (None: ``at_subscribe``,
            else reactivex's default for timers; see ``resolve_scheduler``).
        at_subscribe: the scheduler the output was subscribed with, handed on to
            the source.
    """

    def __init__(
        self,
        source: Observable[_T],
        scheduler: abc.SchedulerBase | None,
        at_subscribe: abc.SchedulerBase | None,
    ) -> None:
        self._source = source
        self._timer = resolve_scheduler(scheduler, at_subscribe)
        self._at_subscribe = at_subscribe
        self._held = SerialDisposable()
        self._callbacks: tuple[
            Callable[[_T], None], Callable[[Exception], None], Callable[[], None]
        ] = (lambda _: None, lambda _: None, lambda: None)

    def start(
        self,
        on_next: Callable[[_T], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
    ) -> abc.DisposableBase:
        """Subscribe with these callbacks (every round uses them); return what disposes it all."""
        self._callbacks = (on_next, on_error, on_completed)
        self._attach()
        return self._held

    def after(self, delay: float) -> None:
        """Subscribe again ``delay`` seconds from now (unless disposed first)."""
        self._held.disposable = self._timer.schedule_relative(delay, self._resubscribe)

    def _resubscribe(self, _: abc.SchedulerBase, __: object = None) -> None:
        if not self._held.is_disposed:
            self._attach()

    def _attach(self) -> None:
        inner = SingleAssignmentDisposable()  # held first (Rule 2)
        self._held.disposable = inner
        on_next, on_error, on_completed = self._callbacks
        inner.disposable = self._source.subscribe(
            on_next, on_error, on_completed, scheduler=self._at_subscribe
        )
