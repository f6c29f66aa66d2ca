"""``retry_with(policy)``: resubscribe after an error, on the event stream's reconnect schedule.

Rule 1: ``retry_on`` says which errors are worth retrying; everything else is
decided by [`ReconnectState.count_failure`][arkor_rx.retry.ReconnectState.count_failure],
the very code `arkor_rx.stream.EventStream` runs on a transient failure: the same
backoff, jitter, ``Retry-After`` floor, budget and ``ReconnectExhaustedError``. This
module only waits and resubscribes.

Rule 2: every item that passes is progress (``record_data``): the next error
starts the backoff again from the first delay, with the whole budget.

Rule 3: at most one thing is held at a time, the source's subscription or the
pending delay: disposing the output disposes whichever it is, so a pending
delay is cancelled at once and never resubscribes (``_resubscribe.Resubscription``,
shared with ``repeat_with``).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from typing import TypeAlias, TypeVar, cast

from reactivex import Observable, abc

from arkor_rx.errors import ConfigError
from arkor_rx.operators._resubscribe import Resubscription
from arkor_rx.retry import GiveUp, ReconnectPolicy, ReconnectState, is_transient

__all__ = ["RetryOn", "check_policy", "default_retry_on", "retry_with", "retryable"]

_T = TypeVar("_T")

RetryOn: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], object]
)
"""Which errors to retry: exception types, or a predicate of the error."""


def default_retry_on(exc: BaseException) -> bool:
    """The default of ``retry_on``: transient transport and HTTP errors.

    [`is_transient`][arkor_rx.retry.is_transient] (the event stream's rule: never 401,
    403, 410, 426 or a ``ConfigError``), plus the built-in ``ConnectionError`` and
    ``TimeoutError`` that a source outside arkor_rx's client raises for the same faults.
    """
    return is_transient(exc) or isinstance(exc, ConnectionError | TimeoutError)


def check_policy(operator: str, policy: object) -> ReconnectPolicy:
    """``policy`` itself, or a ConfigError naming the operator."""
    if not isinstance(policy, ReconnectPolicy):
        raise ConfigError(f"{operator}: policy must be a ReconnectPolicy, got {policy!r}")
    return policy


def _is_error_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def retryable(retry_on: RetryOn | None) -> Callable[[BaseException], bool]:
    """``retry_on`` as a predicate; a ConfigError when it is neither types nor a callable."""
    if retry_on is None:
        return default_retry_on
    if _is_error_type(retry_on) or (
        isinstance(retry_on, tuple) and retry_on and all(map(_is_error_type, retry_on))
    ):
        types = cast("type[BaseException] | tuple[type[BaseException], ...]", retry_on)
        return lambda exc: isinstance(exc, types)
    if isinstance(retry_on, type | tuple) or not callable(retry_on):
        raise ConfigError(
            "retry_with: retry_on must be an exception type, a non-empty tuple of them "
            f"or a predicate, got {retry_on!r}"
        )
    predicate = retry_on
    return lambda exc: bool(predicate(exc))


def retry_with(
    policy: ReconnectPolicy,
    *,
    retry_on: RetryOn | None,
    scheduler: abc.SchedulerBase | None,
    random: Callable[[], float] | None,
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Resubscribe to the source after an accepted error, after the policy's delay."""
    check_policy("retry_with", policy)
    accepts = retryable(retry_on)
    draw = _random.random if random is None else random

    def operator(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], at_subscribe: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            state = ReconnectState(policy, random=draw)
            rounds = Resubscription(source, scheduler, at_subscribe)

            def on_next(value: _T) -> None:
                state.record_data()  # progress: the budget starts afresh (Rule 2)
                observer.on_next(value)

            def on_error(exc: Exception) -> None:
                try:
                    retry = accepts(exc)
                except Exception as bug:  # retry_on raised: that ends the stream
                    observer.on_error(bug)
                    return
                if not retry:
                    observer.on_error(exc)
                    return
                decision = state.count_failure(exc, subject="the source")
                if isinstance(decision, GiveUp):
                    observer.on_error(cast(Exception, decision.error))
                    return
                rounds.after(decision.delay)

            return rounds.start(on_next, on_error, observer.on_completed)

        return Observable(subscribe)

    return operator
