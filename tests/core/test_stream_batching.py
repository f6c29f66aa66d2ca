"""EventStream's per-event rules hold when many frames arrive in one chunk.

The library's own loops (``observe_async``, ``drain``) take the events of a
chunk read as one batch; these tests put every frame in a single chunk and
check each rule of the stream (PROTOCOL.md, module docs of ``arkor_rx.stream``)
through all three ways of consuming it: ``async for``, the Observable and
``drain``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from reactivex import operators as ops

from arkor_rx.client import ArkorClient
from arkor_rx.dispatch import drain
from arkor_rx.events import TrainingEvent
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stream import EventStream, observe_async
from tests.core.core_fakes import END, GARBAGE, PING, FakeBackend, Serve, SleepSpy, completed, log

POLICY = ReconnectPolicy(initial_delay=1.0, jitter=0.0, idle_timeout=5.0)

Handler = Callable[[TrainingEvent], None]
Consume = Callable[[EventStream, Handler], Awaitable[None]]


async def by_iteration(stream: EventStream, handle: Handler) -> None:
    async with contextlib.aclosing(stream):
        async for event in stream:
            handle(event)


async def by_drain(stream: EventStream, handle: Handler) -> None:
    def dispatch(event: TrainingEvent) -> None:
        handle(event)

    async with contextlib.aclosing(stream):
        await drain(stream, dispatch)


async def by_observable(stream: EventStream, handle: Handler) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    async def open_stream() -> EventStream:
        return stream

    def on_error(exc: Exception) -> None:
        if not done.done():
            done.set_exception(exc)

    def on_completed() -> None:
        if not done.done():
            done.set_result(None)

    subscription = observe_async(open_stream).subscribe(handle, on_error, on_completed)
    try:
        await asyncio.wait_for(done, 5)
    finally:
        subscription.dispose()


CONSUMERS = pytest.mark.parametrize(
    "consume", [by_iteration, by_drain, by_observable], ids=["anext", "drain", "observable"]
)


class Boom(Exception):
    pass


def stream_of(client: ArkorClient, policy: ReconnectPolicy = POLICY) -> EventStream:
    return EventStream(client, "j1", policy, sleep=SleepSpy())


@CONSUMERS
async def test_state_seen_while_handling_is_per_event(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    backend.add(Serve([log("1", 1) + log("2", 2) + log("3", 3) + completed("4")]))
    stream = stream_of(client)
    seen: list[tuple[str | None, str | None, int]] = []

    def handle(event: TrainingEvent) -> None:
        seen.append((event.event_id, stream.last_event_id, stream.stats.events))

    await consume(stream, handle)
    assert seen == [("1", None, 0), ("2", "1", 1), ("3", "2", 2), ("4", "3", 3)]


@CONSUMERS
async def test_a_failing_consumer_leaves_the_resume_id_on_the_previous_event(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    backend.add(Serve([log("1", 1) + log("2", 2) + log("3", 3) + completed("4")]))
    stream = stream_of(client)

    def handle(event: TrainingEvent) -> None:
        if event.event_id == "3":
            raise Boom

    with pytest.raises(Boom):
        await consume(stream, handle)
    assert stream.last_event_id == "2"
    assert stream.stats.events == 2
    assert len(backend.connections) == 1


@CONSUMERS
@pytest.mark.parametrize(("fail_on", "resume"), [("1", None), ("2", "g1"), ("3", "2")])
async def test_frames_without_events_move_the_resume_id_once_reached(
    backend: FakeBackend,
    client: ArkorClient,
    consume: Consume,
    fail_on: str,
    resume: str | None,
) -> None:
    # GARBAGE has id "g1" but no event: nothing to handle, so the resume id
    # moves past it as soon as the event before it has been handled.
    backend.add(Serve([log("1", 1) + GARBAGE + PING + log("2", 2) + log("3", 3) + completed("4")]))
    stream = stream_of(client)

    def handle(event: TrainingEvent) -> None:
        if event.event_id == fail_on:
            raise Boom

    with pytest.raises(Boom):
        await consume(stream, handle)
    assert stream.last_event_id == resume


@CONSUMERS
async def test_a_trailing_skipped_frame_counts_once_the_last_event_is_handled(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    backend.add(Serve([log("1", 1) + GARBAGE, completed("2")]))
    stream = stream_of(client)
    resume_ids: list[str | None] = []
    await consume(stream, lambda _event: resume_ids.append(stream.last_event_id))
    assert resume_ids == [None, "g1"]


@CONSUMERS
async def test_ids_repeated_within_one_chunk_are_delivered_once(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    # (An id equal to the previous frame's is SSE's carry-over, not a replay.)
    backend.add(Serve([log("1", 1) + log("2", 2) + log("1", 1) + log("2", 2) + completed("3")]))
    stream = stream_of(client)
    seen: list[tuple[str | None, int]] = []
    await consume(stream, lambda e: seen.append((e.event_id, stream.stats.duplicates)))
    # The duplicates count once the event before them has been handled.
    assert seen == [("1", 0), ("2", 0), ("3", 2)]
    assert stream.stats.duplicates == 2
    assert stream.stats.events == 3


@CONSUMERS
async def test_replay_in_one_chunk_after_a_reconnect_is_deduplicated(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    backend.add(
        Serve([log("a", 1) + log("b", 2)]),
        Serve([log("a", 1) + log("b", 2) + log("c", 3) + completed("d")]),
    )
    stream = stream_of(client)
    got: list[str | None] = []
    await consume(stream, lambda e: got.append(e.event_id))
    assert got == ["a", "b", "c", "d"]
    assert stream.stats.duplicates == 2
    assert backend.connections[1].last_event_id == "b"


@CONSUMERS
async def test_dedupe_window_holds_within_one_chunk(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    backend.add(Serve([log("1", 1) + log("2", 2) + log("3", 3) + log("1", 1) + completed("4")]))
    stream = stream_of(client, ReconnectPolicy(jitter=0.0, dedupe_window=2))  # "1" forgotten
    got: list[str | None] = []
    await consume(stream, lambda e: got.append(e.event_id))
    assert got == ["1", "2", "3", "1", "4"]


@CONSUMERS
async def test_terminal_event_in_the_middle_of_a_chunk_ends_the_stream(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    backend.add(Serve([log("1", 1) + completed("2") + log("3", 3)]))
    stream = stream_of(client)
    got: list[str | None] = []
    await consume(stream, lambda e: got.append(e.event_id))
    assert got == ["1", "2"]
    assert stream.last_event_id == "2"
    assert len(backend.connections) == 1
    assert backend.unexpected == 0


@CONSUMERS
async def test_end_frame_in_the_middle_of_a_chunk_ends_the_stream(
    backend: FakeBackend, client: ArkorClient, consume: Consume
) -> None:
    backend.add(Serve([log("1", 1) + log("2", 2) + END + log("3", 3)]))
    stream = stream_of(client)
    got: list[str | None] = []
    await consume(stream, lambda e: got.append(e.event_id))
    assert got == ["1", "2"]
    assert len(backend.connections) == 1
    assert backend.unexpected == 0


async def test_disposing_mid_chunk_stops_delivery_and_closes(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([b"".join(log(str(i), i) for i in range(1, 6)) + completed("6")]))
    stream = stream_of(client)
    got: list[Any] = []
    done = asyncio.Event()

    async def open_stream() -> EventStream:
        return stream

    observe_async(open_stream).pipe(ops.take(2)).subscribe(got.append, on_completed=done.set)
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.wait_for(backend.connections_closed(1), 5)
    assert [e.event_id for e in got] == ["1", "2"]
    assert stream.last_event_id == "1"  # the second was delivered, never reported handled


async def test_drain_awaits_each_callback_before_the_next_event(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([log("1", 1) + log("2", 2) + completed("3")]))
    stream = stream_of(client)
    trace: list[str] = []

    async def callback(event: TrainingEvent) -> None:
        trace.append(f"start {event.event_id}")
        await asyncio.sleep(0)
        trace.append(f"end {event.event_id} resume={stream.last_event_id}")

    async with contextlib.aclosing(stream):
        count = await drain(stream, callback)
    assert count == 3
    assert trace == [
        "start 1",
        "end 1 resume=None",
        "start 2",
        "end 2 resume=1",
        "start 3",
        "end 3 resume=2",
    ]


async def test_drain_stops_mid_chunk_when_after_says_so(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([log("1", 1) + log("2", 2) + log("3", 3) + completed("4")]))
    stream = stream_of(client)
    got: list[str | None] = []

    def dispatch(event: TrainingEvent) -> None:
        got.append(event.event_id)

    async with contextlib.aclosing(stream):
        count = await drain(stream, dispatch, lambda e: e.event_id == "2")
    assert count == 2
    assert got == ["1", "2"]
    assert stream.last_event_id == "1"  # "2" was the last one dispatched, not yet acknowledged
