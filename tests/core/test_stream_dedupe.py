"""De-duplication is exact (issue: hardening, item 5): own ids only, and a high-water mark.

Regression tests for the two kinds of duplicate the attack found: the same
frame sent twice in a row with its own id (delivered twice, because an id
equal to the previous frame's was taken as carried over), and a server that
ignores ``Last-Event-ID`` and replays a long run from the start (delivered
again past the 4,096 ids of the window).
"""

from __future__ import annotations

import contextlib
import logging

import pytest

from arkor_rx.client import ArkorClient
from arkor_rx.events import TrainingEvent
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stream import EventStream
from tests.core.core_fakes import PING, FakeBackend, Serve, SleepSpy, completed, frame, log

POLICY = ReconnectPolicy(initial_delay=1.0, jitter=0.0, idle_timeout=5.0)


async def collect(stream: EventStream) -> list[TrainingEvent]:
    async with contextlib.aclosing(stream):
        return [event async for event in stream]


def ids(events: list[TrainingEvent]) -> list[str | None]:
    return [e.event_id for e in events]


def stream_of(client: ArkorClient, policy: ReconnectPolicy = POLICY) -> EventStream:
    return EventStream(client, "j1", policy, sleep=SleepSpy())


def no_id_log(step: int) -> bytes:
    """A log frame without an ``id`` line: SSE carries the previous id over."""
    return frame(None, "training.log", step=step, loss=1.0)


@pytest.mark.parametrize("split", [False, True], ids=["one chunk", "two chunks"])
async def test_the_same_frame_twice_in_a_row_with_its_own_id_is_delivered_once(
    backend: FakeBackend, client: ArkorClient, split: bool
) -> None:
    twice = [log("5", 5), log("5", 5)] if split else [log("5", 5) + log("5", 5)]
    backend.add(Serve([*twice, completed("6")]))
    stream = stream_of(client)
    events = await collect(stream)
    assert ids(events) == ["5", "6"]
    assert stream.stats.duplicates == 1
    assert stream.stats.replays == 0  # one connection: not a replay after a resume


async def test_a_frame_that_carries_the_previous_id_over_is_not_a_duplicate(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([log("5", 5) + no_id_log(6) + PING + no_id_log(7), completed("8")]))
    stream = stream_of(client)
    events = await collect(stream)
    assert [(e.event_id, getattr(e, "step", None)) for e in events] == [
        ("5", 5),
        ("5", 6),
        ("5", 7),
        ("8", None),
    ]
    assert stream.stats.duplicates == 0


async def test_a_replay_from_the_start_longer_than_the_window_delivers_nothing_twice(
    backend: FakeBackend, client: ArkorClient, caplog: pytest.LogCaptureFixture
) -> None:
    n = 10_000  # more than the default window of 4,096 ids
    run = b"".join(log(str(i), i) for i in range(1, n + 1))
    backend.add(
        Serve([run]),  # a clean close after data: reconnect with Last-Event-ID n
        Serve([run + log(str(n + 1), n + 1) + completed(str(n + 2))]),  # ignores it
    )
    stream = stream_of(client)
    with caplog.at_level(logging.WARNING, logger="arkor_rx.stream"):
        events = await collect(stream)
    assert ids(events) == [str(i) for i in range(1, n + 3)]
    assert backend.connections[1].last_event_id == str(n)
    assert stream.stats.duplicates == n
    assert stream.stats.replays == 1
    assert stream.stats.reconnects == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "resumed after id 10000" in warnings[0].getMessage()


async def test_a_partial_replay_is_cut_at_the_first_new_id(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Serve([b"".join(log(str(i), i) for i in range(1, 8))]),
        Serve([log("4", 4) + log("5", 5), log("6", 6) + log("7", 7) + log("8", 8), completed("9")]),
    )
    stream = stream_of(client)
    assert ids(await collect(stream)) == [str(i) for i in range(1, 10)]
    assert stream.stats.duplicates == 4
    assert stream.stats.replays == 1


async def test_ids_that_are_not_increasing_integers_have_no_high_water_mark(
    backend: FakeBackend, client: ArkorClient
) -> None:
    # "9" then "3": integers, but not increasing, so only the window decides,
    # and "4" (never delivered) after the resume is new.
    backend.add(
        Serve([log("9", 1) + log("3", 2)]), Serve([log("3", 2) + log("4", 3), completed("5")])
    )
    stream = stream_of(client)
    assert ids(await collect(stream)) == ["9", "3", "4", "5"]
    assert stream.stats.duplicates == 1


@pytest.mark.parametrize("odd", ["007", "+7", " 7", "7.0", "٧"])
async def test_only_canonical_decimals_count_as_integers(
    backend: FakeBackend, client: ArkorClient, odd: str
) -> None:
    # An id that only looks like 7 is an opaque id: the replay guard lifts there
    # and the window (which never saw it) lets it through.
    backend.add(
        Serve([log("6", 6) + log("8", 8)]),
        Serve([log("6", 6) + log(odd, 7) + completed("9")]),
    )
    stream = stream_of(client)
    assert ids(await collect(stream)) == ["6", "8", odd, "9"]


async def test_the_window_catches_a_replay_after_the_guard_lifted(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Serve([log("1", 1) + log("2", 2)]),
        Serve([log("3", 3) + log("2", 2) + completed("4")]),  # "2" again, after a new id
    )
    stream = stream_of(client)
    assert ids(await collect(stream)) == ["1", "2", "3", "4"]
    assert stream.stats.duplicates == 1


async def test_dedupe_window_zero_turns_both_off(backend: FakeBackend, client: ArkorClient) -> None:
    backend.add(
        Serve([log("1", 1) + log("1", 1)]),
        Serve([log("1", 1) + completed("2")]),
    )
    stream = stream_of(client, ReconnectPolicy(jitter=0.0, dedupe_window=0))
    assert ids(await collect(stream)) == ["1", "1", "1", "2"]
    assert stream.stats.duplicates == 0


async def test_duplicates_count_once_reached_across_a_batch(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Serve([log("1", 1) + log("2", 2)]),
        Serve(
            [log("1", 1) + log("2", 2) + log("3", 3) + log("3", 3) + log("4", 4), completed("5")]
        ),
    )
    stream = stream_of(client)
    seen: list[tuple[str | None, int, str | None]] = []
    async with contextlib.aclosing(stream):
        async for batch in stream.batches():
            for event in batch:
                seen.append((event.event_id, stream.stats.duplicates, stream.last_event_id))
    assert seen == [
        ("1", 0, None),
        ("2", 0, "1"),
        ("3", 2, "2"),
        ("4", 3, "3"),
        ("5", 3, "4"),
    ]
