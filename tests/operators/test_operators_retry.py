"""``retry_with`` and ``repeat_with``: the event stream's reconnect rules as operators.

Each source here is a script: its n-th subscription plays the n-th act (items,
then an error or a completion), and the script notes the virtual time of every
subscription, so the delays are read off exactly. Offset 0 plays synchronously
inside ``subscribe`` (the hard case: the error arrives before ``subscribe``
has even returned); larger offsets are scheduled.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.testing import TestScheduler

from arkor_rx import operators as aop
from arkor_rx.errors import (
    CloudApiError,
    ConfigError,
    ReconnectExhaustedError,
    SSEError,
    SSELimitError,
    StreamIdleTimeout,
    TransportError,
)
from arkor_rx.retry import GiveUp, ReconnectPolicy, ReconnectState, Retry

COMPLETE = object()
"""In an act: the source completes here."""

Act = Sequence[tuple[float, object]]
"""``(offset, what)`` pairs: an exception errors, ``COMPLETE`` completes, else an item."""


@dataclass
class Script:
    """A cold source whose n-th subscription plays ``acts[n]`` (the last act repeats)."""

    acts: Sequence[Act]
    subscribed: list[float] = field(default_factory=list)
    disposed: int = 0

    def observable(self) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            assert scheduler is not None, "the operator passes the subscribe-time scheduler on"
            self.subscribed.append(scheduler.now.timestamp())
            act = self.acts[min(len(self.subscribed), len(self.acts)) - 1]
            pending = CompositeDisposable(Disposable(self._count_dispose))
            for offset, what in act:
                if offset == 0:
                    self._play(observer, what)
                else:
                    pending.add(scheduler.schedule_relative(offset, self._later(observer, what)))
            return pending

        return Observable(subscribe)

    def _later(
        self, observer: abc.ObserverBase[Any], what: object
    ) -> Callable[[abc.SchedulerBase, Any], None]:
        return lambda _scheduler, _state: self._play(observer, what)

    def _count_dispose(self) -> None:
        self.disposed += 1

    @staticmethod
    def _play(observer: abc.ObserverBase[Any], what: object) -> None:
        if isinstance(what, Exception):
            observer.on_error(what)
        elif what is COMPLETE:
            observer.on_completed()
        else:
            observer.on_next(what)


@dataclass
class Outcome:
    """What the subscriber saw, each with its virtual time."""

    items: list[tuple[float, Any]] = field(default_factory=list)
    errors: list[tuple[float, Exception]] = field(default_factory=list)
    completed: list[float] = field(default_factory=list)


def run(
    source: Observable[Any],
    operator: Callable[[Observable[Any]], Observable[Any]],
    *,
    until: float = 1000.0,
    scheduler: TestScheduler | None = None,
) -> Outcome:
    s = scheduler or TestScheduler()
    out = Outcome()
    source.pipe(operator).subscribe(
        lambda x: out.items.append((s.now.timestamp(), x)),
        lambda e: out.errors.append((s.now.timestamp(), e)),
        lambda: out.completed.append(s.now.timestamp()),
        scheduler=s,
    )
    s.advance_to(until)
    return out


def constant(draw: float) -> Callable[[], float]:
    return lambda: draw


def gaps(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def down(n: int = 0) -> TransportError:
    return TransportError(f"down {n}")


FLAT = ReconnectPolicy(initial_delay=1, max_delay=4, jitter=0)
"""No jitter: every delay is exactly the schedule's value (powers of two: exact floats)."""


# --------------------------------------------------------------------------- the schedule


def test_the_delays_are_the_policys_schedule_and_items_and_completion_pass() -> None:
    script = Script([[(0, down())]] * 5 + [[(0, "a"), (0.5, "b"), (0.5, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(FLAT))
    assert gaps(script.subscribed) == [FLAT.delay(n) for n in range(1, 6)] == [1, 2, 4, 4, 4]
    assert out.items == [(15.0, "a"), (15.5, "b")]
    assert out.completed == [15.5]
    assert out.errors == []


def test_jittered_delays_are_the_event_streams_with_the_same_draws() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=60, jitter=0.5)
    for draw in (0.0, 0.3, 0.999):
        script = Script([[(0, down())]] * 4 + [[(0, COMPLETE)]])
        run(script.observable(), aop.retry_with(policy, random=constant(draw)))
        # The stream's own state object, told the same failures with the same draw:
        state = ReconnectState(policy, random=constant(draw))
        expected = [state.on_failure(down()) for _ in range(4)]
        assert all(isinstance(r, Retry) for r in expected)
        # Virtual time is kept in float seconds from the epoch; sums of these
        # delays are exact to far below a microsecond.
        delays = [r.delay for r in expected if isinstance(r, Retry)]
        assert gaps(script.subscribed) == pytest.approx(delays, abs=1e-6)
    assert policy.delay(1, draw=0.0) == 0.5
    assert policy.delay(1, draw=1.0) == 1.5


def test_errors_that_arrive_later_are_retried_too() -> None:
    script = Script([[(0, "a"), (2, down())], [(3, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(FLAT))
    assert script.subscribed == [0.0, 3.0]  # failed at 2, waited 1
    assert out.items == [(0.0, "a")]
    assert out.completed == [6.0]


def test_the_default_policy_and_no_arguments() -> None:
    script = Script([[(0, down())], [(0, "ok"), (0, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(random=lambda: 0.5))
    assert script.subscribed == [0.0, ReconnectPolicy().initial_delay]
    assert [x for _, x in out.items] == ["ok"]


# --------------------------------------------------------------------------- reset and budget


def test_an_item_after_a_resubscription_resets_the_count() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=60, jitter=0, max_attempts=2)
    script = Script(
        [
            [(0, down(1))],
            [(0, down(2))],
            [(0, "a"), (0, down(3))],  # the item resets: this is failure 1 again
            [(0, down(4))],
            [(0, COMPLETE)],
        ]
    )
    out = run(script.observable(), aop.retry_with(policy))
    assert gaps(script.subscribed) == [1, 2, 1, 2]
    assert out.errors == []
    assert out.completed == [6.0]
    # Without the item the third failure in a row is over the budget:
    script = Script([[(0, down(1))], [(0, down(2))], [(0, down(3))], [(0, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(policy))
    assert len(script.subscribed) == 3
    assert len(out.errors) == 1


def test_past_max_attempts_exhausted_with_the_last_error_as_cause() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=60, jitter=0, max_attempts=3)
    errors = [down(n) for n in range(1, 6)]
    script = Script([[(0, e)] for e in errors])
    out = run(script.observable(), aop.retry_with(policy))
    assert script.subscribed == [0.0, 1.0, 3.0, 7.0]  # 3 retries, then no more
    [(when, error)] = out.errors
    assert when == 7.0
    assert isinstance(error, ReconnectExhaustedError)
    assert error.__cause__ is errors[3]
    assert error.attempts == 4
    assert "the source failed 4 times in a row (max_attempts=3)" in str(error)
    assert out.items == []
    assert out.completed == []


def test_max_attempts_zero_never_retries() -> None:
    script = Script([[(0, down())]])
    out = run(script.observable(), aop.retry_with(ReconnectPolicy(max_attempts=0)))
    assert script.subscribed == [0.0]
    [(when, error)] = out.errors
    assert when == 0.0
    assert isinstance(error, ReconnectExhaustedError)


def test_each_subscription_has_its_own_budget() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=60, jitter=0, max_attempts=1)
    script = Script([[(0, down())]])
    op = aop.retry_with(policy)
    first, second = run(script.observable(), op), run(script.observable(), op)
    assert [type(e) for _, e in first.errors + second.errors] == [ReconnectExhaustedError] * 2
    assert script.subscribed == [0.0, 1.0, 0.0, 1.0]  # two fresh runs, each retried once


# --------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (30.0, 30.0),  # over the backoff and over max_delay: the server asked
        (0.25, 1.0),  # under the backoff: the backoff wins
        (None, 1.0),
    ],
)
def test_retry_after_is_a_floor_for_the_delay(retry_after: float | None, expected: float) -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=10, jitter=0)
    busy = CloudApiError(503, "busy", retry_after=retry_after)
    script = Script([[(0, busy)], [(0, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(policy))
    assert script.subscribed == [0.0, expected]
    assert out.completed == [expected]


def test_retry_after_is_ignored_when_the_policy_says_so() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=10, jitter=0, honor_server_retry=False)
    script = Script([[(0, CloudApiError(429, "slow down", retry_after=30))], [(0, COMPLETE)]])
    run(script.observable(), aop.retry_with(policy))
    assert script.subscribed == [0.0, 1.0]


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    "error",
    [
        CloudApiError(401, "unauthorized"),
        CloudApiError(403, "forbidden"),
        CloudApiError(410, "gone"),
        CloudApiError(426, "upgrade required"),
        CloudApiError(400, "bad request"),
        ConfigError("bad field"),
        SSELimitError("line too long"),
        ValueError("a bug"),
        KeyError("a bug"),
    ],
    ids=repr,
)
def test_permanent_errors_pass_through_at_once(error: Exception) -> None:
    script = Script([[(0, error)], [(0, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(FLAT))
    assert script.subscribed == [0.0]
    assert out.errors == [(0.0, error)]  # the very error, not wrapped


@pytest.mark.parametrize(
    "error",
    [
        CloudApiError(503, "unavailable"),
        CloudApiError(502, "bad gateway"),
        CloudApiError(429, "too many"),
        CloudApiError(408, "timeout"),
        CloudApiError(404, "not yet"),
        TransportError("refused"),
        StreamIdleTimeout("silent"),
        SSEError("garbled"),
        ConnectionResetError("reset by peer"),
        TimeoutError("slow"),
    ],
    ids=repr,
)
def test_transient_errors_are_retried_by_default(error: Exception) -> None:
    script = Script([[(0, error)], [(0, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(FLAT))
    assert script.subscribed == [0.0, 1.0]
    assert out.completed == [1.0]
    assert out.errors == []


class Flaky(Exception):
    pass


@pytest.mark.parametrize(
    "retry_on",
    [Flaky, (KeyError, Flaky), lambda e: isinstance(e, Flaky) and "again" in str(e)],
    ids=["type", "tuple", "predicate"],
)
def test_retry_on_chooses_the_errors(retry_on: Any) -> None:
    script = Script([[(0, Flaky("again"))], [(0, down())]])
    out = run(script.observable(), aop.retry_with(FLAT, retry_on=retry_on))
    assert script.subscribed == [0.0, 1.0]  # Flaky retried; the TransportError is not
    assert [type(e) for _, e in out.errors] == [TransportError]


def test_given_types_replace_the_default_rule() -> None:
    forbidden = CloudApiError(403, "forbidden")
    script = Script([[(0, forbidden)], [(0, COMPLETE)]])
    run(script.observable(), aop.retry_with(FLAT, retry_on=CloudApiError))
    assert script.subscribed == [0.0, 1.0]


def test_a_raising_predicate_ends_the_stream_with_its_error() -> None:
    bug = RuntimeError("predicate bug")

    def judge(_: BaseException) -> bool:
        raise bug

    script = Script([[(0, down())], [(0, COMPLETE)]])
    out = run(script.observable(), aop.retry_with(FLAT, retry_on=judge))
    assert out.errors == [(0.0, bug)]
    assert script.subscribed == [0.0]


@pytest.mark.parametrize("bad", [42, (), (ValueError, 3), int, "TransportError"], ids=repr)
def test_a_bad_retry_on_is_a_config_error_at_build_time(bad: Any) -> None:
    with pytest.raises(ConfigError, match="retry_on"):
        aop.retry_with(FLAT, retry_on=bad)


@pytest.mark.parametrize("build", [aop.retry_with, aop.repeat_with], ids=["retry", "repeat"])
def test_a_policy_that_is_not_a_reconnect_policy_is_a_config_error(build: Any) -> None:
    with pytest.raises(ConfigError, match=r"policy must be a ReconnectPolicy"):
        build({"initial_delay": 1})


# --------------------------------------------------------------------------- disposal


class RecordingScheduler(TestScheduler):
    """A TestScheduler that keeps what each ``schedule_relative`` returned."""

    def __init__(self) -> None:
        super().__init__()
        self.timers: list[abc.DisposableBase] = []

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> Any:
        timer = super().schedule_relative(duetime, action, state)
        self.timers.append(timer)
        return timer


@pytest.mark.parametrize("build", [aop.retry_with, aop.repeat_with], ids=["retry", "repeat"])
def test_disposing_during_a_delay_cancels_it_at_once(build: Any) -> None:
    s = RecordingScheduler()
    script = Script([[(0, down())] if build is aop.retry_with else [(0, COMPLETE)]])
    subscription = (
        script.observable()
        .pipe(build(ReconnectPolicy(initial_delay=10, max_delay=10)))
        .subscribe(scheduler=s)
    )
    s.advance_to(5.0)
    [delay] = s.timers
    assert not delay.is_disposed  # type: ignore[attr-defined]
    subscription.dispose()
    assert delay.is_disposed  # type: ignore[attr-defined]
    s.advance_to(1000.0)
    assert script.subscribed == [0.0]  # never subscribed again


def test_disposing_while_subscribed_disposes_the_source() -> None:
    s = TestScheduler()
    script = Script([[(0, down())], [(100, COMPLETE)]])
    subscription = script.observable().pipe(aop.retry_with(FLAT)).subscribe(scheduler=s)
    s.advance_to(50.0)
    assert script.subscribed == [0.0, 1.0]
    assert script.disposed == 1
    subscription.dispose()
    assert script.disposed == 2
    s.advance_to(1000.0)
    assert script.subscribed == [0.0, 1.0]


# --------------------------------------------------------------------------- repeat_with


EVERY_5 = ReconnectPolicy(initial_delay=5, max_delay=60)
"""Jitter stays at its default 0.25: repeat_with does not use it."""


def test_repeat_polls_after_each_completion_with_the_base_delay() -> None:
    script = Script([[(0, "a"), (1, COMPLETE)], [(2, COMPLETE)], [(0, "c"), (0, COMPLETE)]])
    out = run(script.observable(), aop.repeat_with(EVERY_5), until=30.0)
    # done at 1 -> 6; empty, done at 8 -> 13; then at once -> 18, 23, 28
    assert script.subscribed == [0.0, 6.0, 13.0, 18.0, 23.0, 28.0]
    assert gaps([1.0, 6.0, 8.0, 13.0]) == [EVERY_5.delay(1), 2.0, EVERY_5.delay(1)]
    assert out.items == [(0.0, "a"), (13.0, "c"), (18.0, "c"), (23.0, "c"), (28.0, "c")]
    assert out.completed == []
    assert out.errors == []


def test_repeat_passes_an_error_through_and_stops() -> None:
    boom = down()
    script = Script([[(0, "a"), (0, COMPLETE)], [(0, boom)], [(0, COMPLETE)]])
    out = run(script.observable(), aop.repeat_with(EVERY_5))
    assert script.subscribed == [0.0, 5.0]
    assert out.errors == [(5.0, boom)]


def test_repeat_after_retry_backs_off_only_on_errors_with_a_fresh_budget_each_round() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=60, jitter=0, max_attempts=2)
    script = Script(
        [
            [(0, "r1"), (0, COMPLETE)],
            [(0, down(1))],
            [(0, down(2))],
            [(0, "r2"), (0, COMPLETE)],
            [(0, down(3))],
            [(0, down(4))],
            [(0, down(5))],
        ]
    )
    poll = reactivex.compose(aop.retry_with(policy), aop.repeat_with(EVERY_5))
    out = run(script.observable(), poll)
    # 0 ok -> 5 fails -> 6 fails -> 8 ok -> 13 fails -> 14 fails -> 16 fails: over budget
    assert script.subscribed == [0.0, 5.0, 6.0, 8.0, 13.0, 14.0, 16.0]
    assert [x for _, x in out.items] == ["r1", "r2"]
    [(when, error)] = out.errors
    assert when == 16.0
    assert isinstance(error, ReconnectExhaustedError)


# --------------------------------------------------------------------------- asyncio


async def test_retry_with_on_the_real_asyncio_scheduler() -> None:
    loop = asyncio.get_running_loop()
    delay = 0.01
    opened: list[float] = []
    outcomes = iter([down(1), down(2), None])

    def connect(_: abc.SchedulerBase | None) -> Observable[str]:
        opened.append(loop.time())
        error = next(outcomes)
        return reactivex.throw(error) if error else reactivex.of("a", "b")

    done: asyncio.Future[list[str]] = loop.create_future()
    seen: list[str] = []
    policy = ReconnectPolicy(initial_delay=delay, max_delay=1, jitter=0)
    reactivex.defer(connect).pipe(aop.retry_with(policy)).subscribe(
        seen.append,
        done.set_exception,
        lambda: done.set_result(seen),
        scheduler=AsyncIOScheduler(loop),
    )
    async with asyncio.timeout(30):  # a safety net, not a synchronization
        assert await done == ["a", "b"]
    assert len(opened) == 3
    # The loop may run a timer up to its clock's resolution early (asyncio's
    # _run_once); nothing else can make a delay shorter than asked.
    slack = time.get_clock_info("monotonic").resolution
    assert all(g >= want - slack for g, want in zip(gaps(opened), [delay, 2 * delay], strict=True))


class RecordingAsyncIOScheduler(AsyncIOScheduler):
    """An AsyncIOScheduler that keeps what each ``schedule_relative`` returned."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.timers: list[abc.DisposableBase] = []
        self.scheduled = asyncio.Event()

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> Any:
        timer = super().schedule_relative(duetime, action, state)
        self.timers.append(timer)
        self.scheduled.set()
        return timer


async def test_disposing_on_asyncio_cancels_the_pending_timer() -> None:
    loop = asyncio.get_running_loop()
    opened: list[float] = []

    def connect(_: abc.SchedulerBase | None) -> Observable[str]:
        opened.append(loop.time())
        return reactivex.throw(down())

    s = RecordingAsyncIOScheduler(loop)
    subscription = (
        reactivex.defer(connect)
        .pipe(aop.retry_with(ReconnectPolicy(initial_delay=3600, max_delay=3600)))
        .subscribe(scheduler=s)
    )
    await s.scheduled.wait()  # reactivex.throw delivers its error on the loop, soon
    [delay] = s.timers
    assert not delay.is_disposed  # type: ignore[attr-defined]
    subscription.dispose()
    assert delay.is_disposed  # type: ignore[attr-defined]
    assert len(opened) == 1


# --------------------------------------------------------------------------- the shared state


def test_count_failure_is_on_failure_without_the_classification() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=60, jitter=0, max_attempts=1)
    stream, operator = ReconnectState(policy), ReconnectState(policy)
    bug = ValueError("not about the network")
    assert stream.on_failure(bug) == GiveUp(bug)  # permanent for the stream ...
    assert stream.failures == 0
    assert operator.count_failure(bug, subject="the poll") == Retry(1.0, failure=True)  # ... judged
    exhausted = operator.count_failure(bug, subject="the poll")
    assert isinstance(exhausted, GiveUp)
    assert str(exhausted.error).startswith("the poll failed 2 times in a row (max_attempts=1)")
    default = ReconnectState(policy)
    default.count_failure(down())
    last = default.count_failure(down())
    assert isinstance(last, GiveUp)
    assert str(last.error).startswith("the event stream failed 2 times in a row")
