"""``repeat_with(policy)``: resubscribe after each completion, after the base delay (a poll).

Rule 1: the delay after every completion is the schedule's first value without
jitter, ``policy.delay(1)`` (that is ``initial_delay``), the delay the event
stream waits after a clean close. It does not grow: a completion is not a
failure. Errors are not this operator's business: they pass through at once
(put [`retry_with`][arkor_rx.operators.retry_with] before it to survive them).

Rule 2: it never completes by itself; it ends on a source error or when the
subscriber disposes, which cancels a pending delay at once (one
``SerialDisposable`` holds the subscription or the delay, as in ``retry_with``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from arkor_rx.operators._common import resolve_scheduler
from arkor_rx.operators._retry_with import check_policy
from arkor_rx.retry import ReconnectPolicy

__all__ = ["repeat_with"]

_T = TypeVar("_T")


def repeat_with(
    policy: ReconnectPolicy, *, scheduler: abc.SchedulerBase | None
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Resubscribe to the source after each completion, ``policy.delay(1)`` seconds later."""
    delay = check_policy("repeat_with", policy).delay(1)  # Rule 1: no jitter at draw 0.5

    def operator(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], at_subscribe: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            timer = resolve_scheduler(scheduler, at_subscribe)
            held = SerialDisposable()

            def on_completed() -> None:
                held.disposable = timer.schedule_relative(delay, resubscribe)

            def resubscribe(_: abc.SchedulerBase, __: object = None) -> None:
                if not held.is_disposed:
                    attach()

            def attach() -> None:
                # Held before subscribing: a source that completes at once
                # replaces it with its delay (see _retry_with.attach).
                inner = SingleAssignmentDisposable()
                held.disposable = inner
                inner.disposable = source.subscribe(
                    observer.on_next, observer.on_error, on_completed, scheduler=at_subscribe
                )

            attach()
            return held

        return Observable(subscribe)

    return operator
