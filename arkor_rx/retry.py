"""Reconnect rules for the job event stream: a policy, and a pure state object that applies it.

Nothing here does I/O, sleeps or reads a clock: :class:`ReconnectState` is told
what happened (a data frame, a clean close, a failure) and answers
:class:`Retry` (after so many seconds) or :class:`GiveUp` (with the error to
raise). :mod:`arkor_rx.stream` does the waiting.

Rule 1: a clean close after at least one new, parseable data frame is not a
failure: reconnect after the base delay (the server's ``retry:`` when it sent
one, else ``initial_delay``), without jitter.

Rule 2: a failure is a connect error, a dropped or silent connection, an
undecodable stream, a transient HTTP status (404, 408, 429, 5xx) or a clean
close that brought no new data frame (pings and garbage only). The ``n``-th
consecutive failure waits ``base * 2**(n-1)``, then ±``jitter``, clamped at
``max_delay``; the schedule comes from ``backoff.expo``. A ``Retry-After``
header is a floor for that one delay.

Rule 3: every new, parseable data frame resets the consecutive-failure count.

Rule 4: a permanent error (401, 403, 410, 426 and any other 4xx but 404, 408
and 429; or an error that is not about the network at all) gives up at once
with that very error. More consecutive failures than ``max_attempts`` give up
with :class:`~arkor_rx.errors.ReconnectExhaustedError`, whose ``__cause__`` is
the last failure.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, TypeAlias

import backoff

from arkor_rx.errors import (
    CloudApiError,
    ConfigError,
    ReconnectExhaustedError,
    SSEError,
    SSELimitError,
    TransportError,
)

__all__ = [
    "GiveUp",
    "ReconnectPolicy",
    "ReconnectState",
    "Retry",
    "RetryDecision",
    "is_transient",
]


def _number(name: str, value: object, *, minimum: float, allow_equal: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"ReconnectPolicy.{name} must be a finite number, got {value!r}")
    if value < minimum or (not allow_equal and value == minimum):
        op = ">=" if allow_equal else ">"
        raise ConfigError(f"ReconnectPolicy.{name} must be {op} {minimum:g}, got {value!r}")
    return float(value)


def _count(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"ReconnectPolicy.{name} must be an int, got {value!r}")
    if value < minimum:
        raise ConfigError(f"ReconnectPolicy.{name} must be >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How the event stream reconnects. Frozen; checked when built.

    The defaults match the official SDK (1 s, doubling, ±25 %, at most 60 s,
    unlimited attempts) plus what it lacks: an idle watchdog, ``retry:`` and
    ``Retry-After`` support and replay de-duplication.

    Examples:
        >>> ReconnectPolicy(initial_delay=0.5, max_attempts=5).max_attempts
        5
        >>> ReconnectPolicy(initial_delay=-1)
        Traceback (most recent call last):
          ...
        arkor_rx.errors.ConfigError: ReconnectPolicy.initial_delay must be >= 0, got -1

    Raises:
        ConfigError: a value of the wrong type or out of range.
    """

    initial_delay: float = 1.0
    """Seconds before the first reconnect after a failure; also the delay after a
    clean close, unless the server's ``retry:`` field says otherwise."""
    max_delay: float = 60.0
    """No delay is longer than this (``Retry-After`` excepted: the server asked)."""
    max_attempts: int | None = None
    """How many consecutive failures are retried; one more gives up with
    ``ReconnectExhaustedError``. ``None``: never give up. ``0``: never retry."""
    jitter: float = 0.25
    """Each failure delay is spread uniformly by ± this fraction (0 to 1)."""
    idle_timeout: float | None = 45.0
    """Seconds a read may wait for any byte (a keepalive counts) before the
    connection is deemed dead and reopened. Only the network read is timed,
    never the time your callbacks take. ``None`` turns the watchdog off."""
    honor_server_retry: bool = True
    """Use the server's ``retry:`` field as the base delay and its ``Retry-After``
    header as a floor for the next delay."""
    dedupe_window: int = 4096
    """How many recent event ids are remembered to drop events a server replays
    after a resume. ``0`` turns de-duplication off."""

    def __post_init__(self) -> None:
        initial = _number("initial_delay", self.initial_delay, minimum=0)
        maximum = _number("max_delay", self.max_delay, minimum=0)
        if maximum < initial:
            raise ConfigError(
                f"ReconnectPolicy.max_delay ({maximum:g}) must be >= initial_delay ({initial:g})"
            )
        jitter = _number("jitter", self.jitter, minimum=0)
        if jitter > 1:
            raise ConfigError(f"ReconnectPolicy.jitter must be <= 1, got {self.jitter!r}")
        if self.max_attempts is not None:
            _count("max_attempts", self.max_attempts, minimum=0)
        idle = self.idle_timeout
        if idle is not None:
            idle = _number("idle_timeout", idle, minimum=0, allow_equal=False)
        if not isinstance(self.honor_server_retry, bool):
            raise ConfigError(
                "ReconnectPolicy.honor_server_retry must be a bool, "
                f"got {self.honor_server_retry!r}"
            )
        _count("dedupe_window", self.dedupe_window, minimum=0)
        object.__setattr__(self, "initial_delay", initial)
        object.__setattr__(self, "max_delay", maximum)
        object.__setattr__(self, "jitter", jitter)
        object.__setattr__(self, "idle_timeout", idle)

    @classmethod
    def immediate(
        cls, *, max_attempts: int | None = None, idle_timeout: float | None = None
    ) -> ReconnectPolicy:
        """A policy with no delays at all, for tests and demos.

        Server ``retry:``/``Retry-After`` hints are ignored too, so nothing waits.

        Examples:
            >>> p = ReconnectPolicy.immediate(max_attempts=2)
            >>> (p.initial_delay, p.max_delay, p.max_attempts, p.honor_server_retry)
            (0.0, 0.0, 2, False)
        """
        return cls(
            initial_delay=0.0,
            max_delay=0.0,
            max_attempts=max_attempts,
            jitter=0.0,
            idle_timeout=idle_timeout,
            honor_server_retry=False,
        )


def is_transient(exc: BaseException) -> bool:
    """True when reconnecting may fix ``exc``.

    Transient: :class:`~arkor_rx.errors.TransportError` (including the idle
    watchdog's :class:`~arkor_rx.errors.StreamIdleTimeout`), an undecodable
    stream (:class:`~arkor_rx.errors.SSEError`), and HTTP 404, 408, 429 and 5xx.
    Everything else is permanent: 401, 403, 410, 426, the other 4xx, a line or
    event over the decoder's size limit (:class:`~arkor_rx.errors.SSELimitError`:
    the same event would come back on every resume), and any error that is not
    about the stream (a bug, a bad argument).

    Examples:
        >>> from arkor_rx.errors import CloudApiError
        >>> is_transient(CloudApiError(503, "busy")), is_transient(CloudApiError(403, "no"))
        (True, False)
    """
    if isinstance(exc, CloudApiError):
        return not exc.is_permanent
    if isinstance(exc, SSELimitError):
        return False
    return isinstance(exc, TransportError | SSEError)


@dataclass(frozen=True, slots=True)
class Retry:
    """Reconnect after :attr:`delay` seconds."""

    delay: float
    """Seconds to wait before opening the stream again."""
    failure: bool
    """True when the close counted as a failure (Rule 2), False for a clean close."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop reconnecting and raise :attr:`error`."""

    error: BaseException
    """The permanent error itself, or a ``ReconnectExhaustedError`` caused by the last failure."""


RetryDecision: TypeAlias = Retry | GiveUp
"""What :class:`ReconnectState` answers after a connection ends."""

_NO_DATA: Final = "the event stream closed without sending any event"


@dataclass(slots=True)
class ReconnectState:
    """Applies a :class:`ReconnectPolicy` to what happened on the connections so far. No I/O.

    Tell it about every parseable new data frame (:meth:`record_data`), the
    server's ``retry:`` field (:meth:`record_server_retry`), and how each
    connection ended (:meth:`on_clean_close` or :meth:`on_failure`); each of
    the latter answers :class:`Retry` or :class:`GiveUp`.

    Examples:
        >>> state = ReconnectState(ReconnectPolicy(jitter=0), random=lambda: 0.5)
        >>> from arkor_rx.errors import TransportError
        >>> [state.on_failure(TransportError("down")).delay for _ in range(3)]
        [1.0, 2.0, 4.0]
        >>> state.record_data(); state.on_clean_close()
        Retry(delay=1.0, failure=False)

    Args:
        policy: the rules.
        random: a source of floats in ``[0, 1)`` for the jitter (``random.random``
            by default); inject a fixed one in tests.
    """

    policy: ReconnectPolicy
    random: Callable[[], float] = _random.random
    failures: int = 0
    """Consecutive failures so far (reset by every new data frame)."""
    total_failures: int = 0
    """Failures since the start, never reset."""
    server_retry: float | None = None
    """The server's last ``retry:`` value, in seconds."""
    _saw_data: bool = False
    _schedule: Iterator[float] | None = field(default=None, repr=False)
    _schedule_base: float = -1.0
    _schedule_pos: int = 0

    @property
    def base_delay(self) -> float:
        """The delay after a clean close and the first failure: ``retry:`` or ``initial_delay``."""
        if self.server_retry is not None and self.policy.honor_server_retry:
            return self.server_retry
        return self.policy.initial_delay

    def record_data(self) -> None:
        """A new, parseable data frame arrived: progress, so the failure count resets."""
        self._saw_data = True
        self.failures = 0

    def record_server_retry(self, milliseconds: int | None) -> None:
        """The server sent ``retry: <milliseconds>`` (None: nothing new)."""
        if milliseconds is not None and milliseconds >= 0:
            self.server_retry = milliseconds / 1000.0

    def on_clean_close(self) -> RetryDecision:
        """The server ended the body normally (no ``end`` frame, no terminal event).

        After a new data frame on this connection it is a plain reconnect after
        the base delay; otherwise it counts as a failure.
        """
        if self._saw_data:
            self._saw_data = False
            return Retry(min(self.base_delay, self.policy.max_delay), failure=False)
        return self.on_failure(TransportError(_NO_DATA))

    def on_failure(self, exc: BaseException) -> RetryDecision:
        """The connection failed with ``exc`` (or could not be opened).

        Returns:
            :class:`GiveUp` with ``exc`` itself when it is permanent, or with a
            ``ReconnectExhaustedError`` (``__cause__`` = ``exc``) past
            ``max_attempts``; else :class:`Retry` with the jittered backoff delay,
            floored by the error's ``Retry-After``.
        """
        self._saw_data = False
        if not is_transient(exc):
            return GiveUp(exc)
        self.failures += 1
        self.total_failures += 1
        limit = self.policy.max_attempts
        if limit is not None and self.failures > limit:
            error = ReconnectExhaustedError(
                f"the event stream failed {self.failures} times in a row "
                f"(max_attempts={limit}); last error: {exc}",
                attempts=self.failures,
            )
            error.__cause__ = exc
            return GiveUp(error)
        delay = self._backoff(self.failures)
        retry_after = getattr(exc, "retry_after", None)
        if (
            self.policy.honor_server_retry
            and isinstance(retry_after, int | float)
            and math.isfinite(retry_after)
        ):
            delay = max(delay, float(retry_after))
        return Retry(delay, failure=True)

    def _backoff(self, n: int) -> float:
        """The ``n``-th (1-based) delay of the schedule, jittered and clamped."""
        base = self.base_delay
        ceiling = self.policy.max_delay  # a server retry: over max_delay is clamped too
        if self._schedule is None or base != self._schedule_base or n <= self._schedule_pos:
            self._schedule = backoff.expo(base=2, factor=base, max_value=ceiling)
            next(self._schedule)  # backoff's generators are primed with one next()
            self._schedule_base = base
            self._schedule_pos = 0
        value = 0.0
        while self._schedule_pos < n:
            value = float(next(self._schedule))
            self._schedule_pos += 1
        jitter = self.policy.jitter
        if jitter:
            value *= 1.0 + jitter * (2.0 * self.random() - 1.0)
        return max(0.0, min(value, ceiling))
