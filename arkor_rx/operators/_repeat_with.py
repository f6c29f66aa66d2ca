"""``repeat_with(policy)``: resubscribe after each completion, after the base delay (a poll).

Rule 1: the delay after every completion is the schedule's first value without
jitter, ``policy.delay(1)`` (that is ``initial_delay``), the delay the event
stream waits after a clean close. It does not grow: a completion is not a
failure. Errors are not this operator's business: they pass through at once
(put [`retry_with`][arkor_rx.operators.retry_with] before it to survive them).

Rule 2: it never completes by itself; it ends on a source error or when the
subscriber disposes, which cancels a pending delay at once (the rounds are
``_resubscribe.Resubscription``'s, as in ``retry_with``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc

from arkor_rx.operators._resubscribe import Resubscription
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
            rounds = Resubscription(source, scheduler, at_subscribe)
            return rounds.start(observer.on_next, observer.on_error, lambda: rounds.after(delay))

        return Observable(subscribe)

    return operator
