"""EventStream end to end against the scripted backend: every reconnect rule of PROTOCOL.md."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from arkor_rx.client import ArkorClient
from arkor_rx.errors import (
    CloudApiError,
    ReconnectExhaustedError,
    StreamIdleTimeout,
    TransportError,
    UpgradeRequiredError,
)
from arkor_rx.events import TrainingCompleted, TrainingEvent, TrainingLog
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.sse import encode
from arkor_rx.stream import EventStream
from tests.core.core_fakes import (
    COMMENT,
    END,
    GARBAGE,
    PING,
    FakeBackend,
    Reject,
    Serve,
    SleepSpy,
    completed,
    log,
    started,
)

POLICY = ReconnectPolicy(initial_delay=1.0, max_delay=60.0, jitter=0.0, idle_timeout=5.0)
"""Deterministic delays (no jitter); the spy sleep records them without waiting."""


async def collect(stream: EventStream) -> list[TrainingEvent]:
    async with contextlib.aclosing(stream):
        return [event async for event in stream]


def ids(events: list[TrainingEvent]) -> list[str | None]:
    return [e.event_id for e in events]


def stream_of(
    client: ArkorClient, policy: ReconnectPolicy = POLICY, sleep: SleepSpy | None = None
) -> EventStream:
    return EventStream(client, "j1", policy, sleep=sleep or SleepSpy())


async def test_events_in_order_then_completes_after_terminal(
    backend: FakeBackend, client: ArkorClient
) -> None:
    # A frame after the terminal event is never read: the stream ends there.
    backend.add(Serve([started("1") + log("2", 10), log("3", 20), completed("4"), log("5", 30)]))
    events = await collect(stream_of(client))
    assert ids(events) == ["1", "2", "3", "4"]
    assert isinstance(events[-1], TrainingCompleted)
    assert len(backend.connections) == 1
    assert backend.connections[0].headers["Accept"] == "text/event-stream"
    assert "Last-Event-ID" not in backend.connections[0].headers


async def test_clean_close_after_data_reconnects_after_base_delay_not_a_failure(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("1"), log("2", 1)]), Serve([completed("3")]))
    sleep = SleepSpy()
    stream = stream_of(client, sleep=sleep)
    events = await collect(stream)
    assert ids(events) == ["1", "2", "3"]
    assert sleep.delays == [1.0]
    assert stream.stats.failures == 0
    assert stream.stats.reconnects == 1
    assert backend.connections[1].last_event_id == "2"


async def test_close_with_only_pings_and_garbage_is_a_failure(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Serve([PING, COMMENT, GARBAGE]),
        Serve([PING]),
        Serve([log("1", 1), completed("2")]),
    )
    sleep = SleepSpy()
    stream = stream_of(client, sleep=sleep)
    events = await collect(stream)
    assert ids(events) == ["1", "2"]
    assert sleep.delays == [1.0, 2.0]  # failures 1 and 2: initial * 2**(n-1)
    assert stream.stats.failures == 2


async def test_failure_counter_resets_on_every_data_frame(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Reject(503),
        Serve([], end="drop"),
        Serve([log("1", 1)], end="drop"),  # progress, then a drop: the count starts over
        Reject(500),
        Serve([completed("2")]),
    )
    sleep = SleepSpy()
    stream = stream_of(client, sleep=sleep)
    assert ids(await collect(stream)) == ["1", "2"]
    assert sleep.delays == [1.0, 2.0, 1.0, 2.0]
    assert stream.stats.failures == 4


@pytest.mark.parametrize("status", [401, 403, 410, 426, 400, 422])
async def test_permanent_statuses_fail_at_once(
    backend: FakeBackend, client: ArkorClient, status: int
) -> None:
    backend.add(Reject(status, message="denied"))
    sleep = SleepSpy()
    with pytest.raises(CloudApiError) as info:
        await collect(stream_of(client, sleep=sleep))
    assert info.value.status == status
    assert isinstance(info.value, UpgradeRequiredError) == (status == 426)
    assert len(backend.connections) == 1
    assert sleep.delays == []


@pytest.mark.parametrize("status", [404, 408, 429, 500, 502, 503])
async def test_transient_statuses_are_retried(
    backend: FakeBackend, client: ArkorClient, status: int
) -> None:
    backend.add(Reject(status), Serve([completed("1")]))
    sleep = SleepSpy()
    stream = stream_of(client, sleep=sleep)
    assert ids(await collect(stream)) == ["1"]
    assert sleep.delays == [1.0]
    assert stream.stats.failures == 1


async def test_retry_after_is_a_floor_for_the_next_delay(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Reject(429, retry_after="7"), Reject(503), Serve([completed("1")]))
    sleep = SleepSpy()
    await collect(stream_of(client, sleep=sleep))
    assert sleep.delays == [7.0, 2.0]  # the floor applies to that one attempt only


async def test_retry_after_is_ignored_when_the_policy_says_so(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Reject(429, retry_after="7"), Serve([completed("1")]))
    sleep = SleepSpy()
    policy = ReconnectPolicy(jitter=0.0, honor_server_retry=False)
    await collect(stream_of(client, policy, sleep))
    assert sleep.delays == [1.0]


async def test_server_retry_field_sets_the_base_delay(
    backend: FakeBackend, client: ArkorClient
) -> None:
    retry_frame = encode("", event="ping", retry=2500)
    backend.add(
        Serve([retry_frame, log("1", 1)]),  # clean close after data: the base delay
        Serve([PING]),  # no data: failure 1, base * 1
        Reject(503),  # failure 2, base * 2
        Serve([completed("2")]),
    )
    sleep = SleepSpy()
    await collect(stream_of(client, sleep=sleep))
    assert sleep.delays == [2.5, 2.5, 5.0]


async def test_max_attempts_gives_up_with_the_last_error_as_cause(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Reject(503), Serve([], end="drop"), Reject(502, message="bad gateway"))
    sleep = SleepSpy()
    policy = ReconnectPolicy(jitter=0.0, max_attempts=2)
    with pytest.raises(ReconnectExhaustedError) as info:
        await collect(stream_of(client, policy, sleep))
    assert info.value.attempts == 3
    cause = info.value.__cause__
    assert isinstance(cause, CloudApiError)
    assert cause.status == 502
    assert sleep.delays == [1.0, 2.0]
    assert len(backend.connections) == 3


async def test_a_dropped_connection_is_a_transport_failure_and_resumes(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Serve([started("1"), log("2", 1)], end="drop"),  # the partial frame 500 is lost
        Serve([log("3", 2), completed("4")]),
    )
    sleep = SleepSpy()
    policy = ReconnectPolicy(jitter=0.0, max_attempts=1)
    stream = stream_of(client, policy, sleep)
    assert ids(await collect(stream)) == ["1", "2", "3", "4"]
    assert backend.connections[1].last_event_id == "2"
    assert stream.stats.failures == 1


async def test_max_attempts_zero_gives_up_on_the_first_failure(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([], end="drop"))
    with pytest.raises(ReconnectExhaustedError) as info:
        await collect(stream_of(client, ReconnectPolicy(max_attempts=0)))
    assert isinstance(info.value.__cause__, TransportError)


async def test_idle_watchdog_reconnects_a_silent_connection(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("1")], end="hang"), Serve([completed("2")]))
    policy = ReconnectPolicy(jitter=0.0, idle_timeout=0.05)
    stream = stream_of(client, policy)
    assert ids(await asyncio.wait_for(collect(stream), 5)) == ["1", "2"]
    assert stream.stats.failures == 1
    assert backend.connections[1].last_event_id == "1"
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)


async def test_idle_watchdog_times_out_with_stream_idle_timeout(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([PING], end="hang"))
    policy = ReconnectPolicy(idle_timeout=0.05, max_attempts=0)
    with pytest.raises(ReconnectExhaustedError) as info:
        await asyncio.wait_for(collect(stream_of(client, policy)), 5)
    assert isinstance(info.value.__cause__, StreamIdleTimeout)


async def test_replayed_events_are_not_delivered_twice(
    backend: FakeBackend, client: ArkorClient
) -> None:
    # The second connection ignores Last-Event-ID and replays from the start.
    backend.add(
        Serve([started("a"), log("b", 1)]),
        Serve([started("a"), log("b", 1), log("c", 2), completed("d")]),
    )
    stream = stream_of(client)
    assert ids(await collect(stream)) == ["a", "b", "c", "d"]
    assert stream.stats.duplicates == 2
    assert backend.connections[1].last_event_id == "b"


async def test_ids_are_opaque_strings(backend: FakeBackend, client: ArkorClient) -> None:
    odd = ["2026-01-01T00:00:00.000Z", "x/y?z=1", "10", "9"]  # not numeric, not ordered
    backend.add(Serve([log(odd[0], 1), log(odd[1], 2)]), Serve([log(odd[2], 3), completed(odd[3])]))
    assert ids(await collect(stream_of(client))) == odd
    assert backend.connections[1].last_event_id == odd[1]


async def test_dedupe_memory_is_bounded(backend: FakeBackend, client: ArkorClient) -> None:
    # Opaque ids: only the window remembers them, and it is bounded. (Increasing
    # integer ids have a high-water mark instead: see test_stream_dedupe.py.)
    backend.add(
        Serve([log("k1", 1), log("k2", 2), log("k3", 3)]),
        Serve([log("k1", 1), log("k3", 3), completed("k4")]),
    )
    policy = ReconnectPolicy(jitter=0.0, dedupe_window=2)  # "k1" has been forgotten
    assert ids(await collect(stream_of(client, policy))) == ["k1", "k2", "k3", "k1", "k4"]


async def test_end_frame_stops_without_reconnect(backend: FakeBackend, client: ArkorClient) -> None:
    backend.add(Serve([log("1", 1), END, log("2", 2)]))
    stream = stream_of(client)
    assert ids(await collect(stream)) == ["1"]
    assert len(backend.connections) == 1
    assert backend.unexpected == 0


async def test_resume_id_moves_only_after_the_event_was_handled(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([log("1", 1) + log("2", 2), completed("3")]))
    stream = stream_of(client)
    async with contextlib.aclosing(stream):
        first = await anext(stream)
        assert first.event_id == "1"
        assert stream.last_event_id is None  # delivered, not yet handled
        await anext(stream)
        assert stream.last_event_id == "1"
        await anext(stream)
        assert stream.last_event_id == "2"


async def test_unknown_types_pass_and_malformed_frames_are_skipped(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Serve(
            [
                encode('{"type": "training.new", "x": 1}', event="training.new", id="1"),
                encode('{"type": "training.log"}', event="training.log", id="2"),  # no step
                encode("[1, 2]", id="3"),
                log("4", 4),
                completed("5"),
            ]
        )
    )
    events = await collect(stream_of(client))
    assert [type(e).__name__ for e in events] == [
        "UnknownEvent",
        "TrainingLog",
        "TrainingCompleted",
    ]
    assert isinstance(events[1], TrainingLog)
    assert events[1].step == 4


async def test_cancelling_the_consumer_interrupts_a_backoff_at_once(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Reject(503))
    in_backoff = asyncio.Event()

    async def slow_sleep(delay: float) -> None:
        in_backoff.set()
        await asyncio.sleep(delay)

    stream = EventStream(client, "j1", ReconnectPolicy(initial_delay=30.0), sleep=slow_sleep)
    task = asyncio.create_task(collect(stream))
    await asyncio.wait_for(in_backoff.wait(), 2)
    task.cancel()
    async with asyncio.timeout(10):
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_cancelling_during_a_read_closes_the_connection(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("1")], end="hang"))
    stream = stream_of(client)
    got_one = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(stream):
            async for _ in stream:
                got_one.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_one.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)


async def test_last_event_id_given_resumes_the_first_connection(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([completed("9")]))
    stream = EventStream(client, "j1", POLICY, last_event_id="8")
    await collect(stream)
    assert backend.connections[0].last_event_id == "8"


async def test_on_reconnect_is_called_as_each_reconnect_happens(
    backend: FakeBackend, client: ArkorClient
) -> None:
    # A failed open counts as a reconnect too (StreamStats.reconnects counts attempts).
    backend.add(Serve([started("1")]), Reject(503), Serve([log("2", 1)]), Serve([completed("3")]))
    timeline: list[object] = []
    stream = EventStream(client, "j1", POLICY, sleep=SleepSpy(), on_reconnect=timeline.append)
    async with contextlib.aclosing(stream):
        async for event in stream:
            timeline.append(event.event_id)
    assert timeline == ["1", 1, 2, "2", 3, "3"]  # each count before the next connection's events
    assert stream.stats.reconnects == 3
