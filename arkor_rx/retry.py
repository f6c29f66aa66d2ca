"""Reconnect rules for the job event stream: a policy, and a pure state object that applies it.

Nothing here does I/O, sleeps or reads a clock: [`ReconnectState`][arkor_rx.retry.ReconnectState] is
told
what happened (a data frame, a clean close, a failure) and answers
[`Retry`][arkor_rx.retry.Retry] (after so many seconds) or [`GiveUp`][arkor_rx.retry.GiveUp] (with
the error to
raise). [`arkor_rx.stream`][arkor_rx.stream] does the waiting.

Rule 1: a clean close after at least one new, parseable data frame is not a
failure: reconnect after the base delay (the server's ``retry:`` when it sent
one, else ``initial_delay``), without jitter.

Rule 2: a failure is a connect error, a dropped or silent connection, an
undecodable stream, a transient HTTP status (the one rule is
``arkor_rx.protocol.is_transient_status``: 404, 408, 429, 5xx) or a clean
close that brought no new data frame (pings and garbage only). The ``n``-th
consecutive failure waits ``min(base * 2**(n-1), max_delay)`` (the ``n``-th
value of ``backoff.expo``), then ±``jitter``, clamped at ``max_delay``. A
``Retry-After`` header is a floor for that one delay. The schedule is a pure
function of ``n``
([`ReconnectPolicy.delay`][arkor_rx.retry.ReconnectPolicy.delay]): it never
overflows, for any number of failures.

Rule 3: every new, parseable data frame resets the consecutive-failure count.

Rule 4: a permanent error (a status that is not transient, such as 401, 403,
410 or 426; or an error that is not about the network at all) gives up at
once with that very error. More consecutive failures than ``max_attempts``
give up with [`ReconnectExhaustedError`][arkor_rx.errors.ReconnectExhaustedError], whose
``__cause__`` is the last failure.

Rule 5: a server's ``retry:`` is never taken below
[`SERVER_RETRY_FLOOR`][arkor_rx.retry.SERVER_RETRY_FLOOR] (0.1 s), so
``retry: 0`` cannot turn into a reconnect storm; nor above ``max_delay``.

The same policy and state drive the operators
[`retry_with`][arkor_rx.operators.retry_with] and
[`repeat_with`][arkor_rx.operators.repeat_with] for any Observable: one schedule and
one budget, whoever does the waiting.
"""

from __future__ import annotations

import itertools
import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass
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
    "SERVER_RETRY_FLOOR",
    "GiveUp",
    "ReconnectPolicy",
    "ReconnectState",
    "Retry",
    "RetryDecision",
    "is_transient",
]


SERVER_RETRY_FLOOR: Final = 0.1
"""Seconds: the shortest base delay a server's ``retry:`` field can set.

``retry: 0`` (or any value under 100 ms) counts as 100 ms. A clean close after
new data then waits at least this long, and failures double from it, so a
server cannot make the client reconnect in a tight loop."""

_MAX_SERVER_RETRY_MS: Final = 10**12
"""``retry:`` values past this many milliseconds (about 31 years) count as this: any
longer is clamped at ``max_delay`` anyway, and a 400-digit value must not overflow."""

_MAX_WALK: Final = 1000
"""Most values of ``backoff.expo`` walked for one delay: ``2**1000`` fits in a float."""


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

    def delay(self, attempt: int, *, base: float | None = None, draw: float = 0.5) -> float:
        """The delay before reconnecting after the ``attempt``-th failure in a row.

        ``min(base * 2**(attempt - 1), max_delay)``, spread by ``jitter`` with
        ``draw`` and clamped at ``max_delay``. Pure: the same arguments always
        give the same delay, and it is finite for any attempt count.

        Examples:
            >>> policy = ReconnectPolicy(initial_delay=1, max_delay=10)
            >>> [policy.delay(n) for n in (1, 2, 3, 4, 5, 10**100)]
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
            >>> policy.delay(2, draw=1.0), policy.delay(2, draw=0.0)  # jitter ±25 %
            (2.5, 1.5)
            >>> ReconnectPolicy(initial_delay=0).delay(5000)
            0.0

        Args:
            attempt: the number of consecutive failures so far, from 1.
            base: the first delay of the schedule (default ``initial_delay``).
            draw: a number in ``[0, 1]`` placing the delay in its jitter band:
                0 is ``-jitter``, 0.5 the middle (no spread), 1 is ``+jitter``.

        Returns:
            Seconds, between 0 and ``max_delay``.
        """
        ceiling = self.max_delay
        value = _expo(attempt, self.initial_delay if base is None else base, ceiling)
        if self.jitter:
            value *= 1.0 + self.jitter * (2.0 * draw - 1.0)
        return max(0.0, min(value, ceiling))

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


def _expo(attempt: int, base: float, ceiling: float) -> float:
    """The ``attempt``-th (1-based) value of ``backoff.expo(2, base, max_value=ceiling)``.

    The generator is made afresh and walked only as far as it changes: it yields
    ``min(base * 2**i, ceiling)`` for ``i = 0, 1, ...``, so a zero base stays
    zero and, once it reaches the ceiling, it stays there. That is a handful of
    steps for any real policy, and never a power of two too large for a float.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt!r}")
    if not 0 < base < ceiling:
        steps = 0  # zero stays zero; a base at or over the ceiling is the ceiling
    else:
        # +1: log2's rounding must not stop the walk one step short of the ceiling.
        saturated = math.ceil(math.log2(ceiling) - math.log2(base)) + 1
        steps = min(attempt - 1, saturated)
    # Only a base under 2**-1000 of the ceiling needs more than 1000 doublings:
    # start that walk further on, so that every value stays a finite float.
    skip = max(0, steps - _MAX_WALK)
    schedule = backoff.expo(base=2, factor=math.ldexp(base, skip), max_value=ceiling)
    next(schedule)  # backoff's generators are primed with one next()
    return float(next(itertools.islice(schedule, steps - skip, None)))


def is_transient(exc: BaseException) -> bool:
    """True when reconnecting may fix ``exc``.

    Transient: [`TransportError`][arkor_rx.errors.TransportError] (including the idle
    watchdog's [`StreamIdleTimeout`][arkor_rx.errors.StreamIdleTimeout]), an undecodable
    stream ([`SSEError`][arkor_rx.errors.SSEError]), and a
    [`CloudApiError`][arkor_rx.errors.CloudApiError] whose status is transient by the
    protocol's one rule, ``arkor_rx.protocol.is_transient_status``.
    Everything else is permanent: the other statuses, a line or event over the
    decoder's size limit ([`SSELimitError`][arkor_rx.errors.SSELimitError]: the same
    event would come back on every resume), and any error that is not about
    the stream (a bug, a bad argument).

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
    """Reconnect after [`delay`][arkor_rx.retry.Retry.delay] seconds."""

    delay: float
    """Seconds to wait before opening the stream again."""
    failure: bool
    """True when the close counted as a failure (Rule 2), False for a clean close."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop reconnecting and raise [`error`][arkor_rx.retry.GiveUp.error]."""

    error: BaseException
    """The permanent error itself, or a ``ReconnectExhaustedError`` caused by the last failure."""


RetryDecision: TypeAlias = Retry | GiveUp
"""What [`ReconnectState`][arkor_rx.retry.ReconnectState] answers after a connection ends."""

_NO_DATA: Final = "the event stream closed without sending any event"


@dataclass(slots=True)
class ReconnectState:
    """Applies a [`ReconnectPolicy`][arkor_rx.retry.ReconnectPolicy] to what happened on the
    connections so far. No I/O.

    Tell it about every parseable new data frame
    ([`record_data`][arkor_rx.retry.ReconnectState.record_data]), the
    server's ``retry:`` field
    ([`record_server_retry`][arkor_rx.retry.ReconnectState.record_server_retry]), and how each
    connection ended ([`on_clean_close`][arkor_rx.retry.ReconnectState.on_clean_close] or
    [`on_failure`][arkor_rx.retry.ReconnectState.on_failure]); each of
    the latter answers [`Retry`][arkor_rx.retry.Retry] or [`GiveUp`][arkor_rx.retry.GiveUp].

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
    """The server's last ``retry:`` value, in seconds (never under ``SERVER_RETRY_FLOOR``)."""
    _saw_data: bool = False

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
        """The server sent ``retry: <milliseconds>`` (None: nothing new).

        Kept in seconds, raised to
        [`SERVER_RETRY_FLOOR`][arkor_rx.retry.SERVER_RETRY_FLOOR] when lower.
        """
        if milliseconds is not None and milliseconds >= 0:
            seconds = min(milliseconds, _MAX_SERVER_RETRY_MS) / 1000.0
            self.server_retry = max(SERVER_RETRY_FLOOR, seconds)

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
            [`GiveUp`][arkor_rx.retry.GiveUp] with ``exc`` itself when it is permanent
            (not [`is_transient`][arkor_rx.retry.is_transient]); else what
            [`count_failure`][arkor_rx.retry.ReconnectState.count_failure] answers.
        """
        if not is_transient(exc):
            self._saw_data = False
            return GiveUp(exc)
        return self.count_failure(exc)

    def count_failure(
        self, exc: BaseException, *, subject: str = "the event stream"
    ) -> RetryDecision:
        """Count ``exc``, a failure already judged worth retrying, and answer (Rules 2 and 4).

        [`on_failure`][arkor_rx.retry.ReconnectState.on_failure] calls it for a transient
        error; [`retry_with`][arkor_rx.operators.retry_with] calls it for the errors its
        ``retry_on`` accepts.

        Args:
            exc: the failure.
            subject: what failed, for the ``ReconnectExhaustedError`` message.

        Returns:
            [`GiveUp`][arkor_rx.retry.GiveUp] with a ``ReconnectExhaustedError``
            (``__cause__`` = ``exc``) past ``max_attempts``; else
            [`Retry`][arkor_rx.retry.Retry] with the jittered backoff delay, floored
            by the error's ``Retry-After``.
        """
        self._saw_data = False
        self.failures += 1
        self.total_failures += 1
        limit = self.policy.max_attempts
        if limit is not None and self.failures > limit:
            error = ReconnectExhaustedError(
                f"{subject} failed {self.failures} times in a row "
                f"(max_attempts={limit}); last error: {exc}",
                attempts=self.failures,
            )
            error.__cause__ = exc
            return GiveUp(error)
        draw = self.random() if self.policy.jitter else 0.5
        delay = self.policy.delay(self.failures, base=self.base_delay, draw=draw)
        retry_after = getattr(exc, "retry_after", None)
        if (
            self.policy.honor_server_retry
            and isinstance(retry_after, int | float)
            and math.isfinite(retry_after)
        ):
            delay = max(delay, float(retry_after))
        return Retry(delay, failure=True)
