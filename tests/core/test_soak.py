"""A seeded chaos soak: hundreds of drops, mid-frame cuts and replays; nothing lost, nothing twice.

A loopback server plays a run of events, and on every connection rolls the
dice (a seeded ``random.Random``, so a failure replays exactly): it resumes
after ``Last-Event-ID`` as it should, or ignores it and replays from the start,
or replays the last few events; it sends a handful of frames cut into random
pieces, with keepalives and a frame sent twice in a row here and there; then
it drops the connection in the middle of a frame, or closes it cleanly. The
client must deliver every event exactly once, in order, and must really have
reconnected each time.

``make fuzz`` runs a longer soak (``ARKOR_SOAK_EVENTS``, ``ARKOR_SOAK_SEEDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from arkor_rx.client import ArkorClient
from arkor_rx.events import TrainingCompleted, TrainingEvent, TrainingLog
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stream import EventStream, observe_async
from tests.core.core_fakes import PING, completed, log

EVENTS = int(os.environ.get("ARKOR_SOAK_EVENTS", "400"))
SEEDS = [int(s) for s in os.environ.get("ARKOR_SOAK_SEEDS", "1,2,3").split(",")]


@dataclass
class Chaos:
    """The server side of the soak: a run of ``n`` events and a seeded fault script."""

    n: int
    seed: int
    opaque: bool
    rng: random.Random = field(init=False)
    connections: list[str | None] = field(default_factory=list)
    drops: int = 0
    replays: int = 0
    repeats: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # Opaque ids are neither numbers nor ordered; integer ids count up.
        self.ids = [f"e{i:x}-{self.rng.randrange(1 << 30):x}" for i in range(1, self.n + 1)]
        if not self.opaque:
            self.ids = [str(i) for i in range(1, self.n + 1)]
        self.after = {event_id: i + 1 for i, event_id in enumerate(self.ids)}
        self.frames = [log(self.ids[i], i + 1) for i in range(self.n - 1)]
        self.frames.append(completed(self.ids[-1]))

    def plan(self, last_event_id: str | None) -> tuple[list[bytes], bool]:
        """The pieces to write on this connection, and whether to drop it mid-frame."""
        rng = self.rng
        position = 0 if last_event_id is None else self.after[last_event_id]
        start = position
        roll = rng.random()
        if position and roll < 0.15:
            start = 0  # ignores Last-Event-ID: a replay from the start
        elif position and roll < 0.3:
            start = max(0, position - rng.randint(1, 25))  # replays the last few
        if start < position:
            self.replays += 1
        stop = min(self.n, position + rng.randint(1, 6))
        body = bytearray()
        for i in range(start, stop):
            if rng.random() < 0.1:
                body += PING
            body += self.frames[i]
            if rng.random() < 0.05:
                body += self.frames[i]  # the same frame twice in a row, own id both times
                self.repeats += 1
        drop = stop < self.n and rng.random() < 0.6
        if drop:
            self.drops += 1
            half = self.frames[stop]
            body += half[: rng.randint(1, len(half) - 2)]  # cut in the middle of a frame
        cuts = sorted(rng.randint(0, len(body)) for _ in range(rng.randint(0, 4)))
        pieces = [bytes(body[a:b]) for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        return [p for p in pieces if p], drop

    async def stream(self, request: web.Request) -> web.StreamResponse:
        last = request.headers.get("Last-Event-ID")
        self.connections.append(last)
        pieces, drop = self.plan(last)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in pieces:
            await response.write(piece)
        if drop:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def serve(chaos: Chaos) -> AsyncIterator[ArkorClient]:
    app = web.Application()
    app.router.add_get("/v1/jobs/{id}/events/stream", chaos.stream)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ArkorClient(str(server.make_url("")).rstrip("/"), "soak-token", "o", "p") as c:
            yield c
    finally:
        await server.close()


async def by_iteration(stream: EventStream) -> list[TrainingEvent]:
    async with contextlib.aclosing(stream):
        return [event async for event in stream]


async def by_batches(stream: EventStream) -> list[TrainingEvent]:
    out: list[TrainingEvent] = []
    async with contextlib.aclosing(stream):
        async for batch in stream.batches():
            for event in batch:
                out.append(event)
    return out


async def by_observable(stream: EventStream) -> list[TrainingEvent]:
    out: list[TrainingEvent] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def open_stream() -> EventStream:
        return stream

    observe_async(open_stream).subscribe(
        out.append, done.set_exception, lambda: done.set_result(None)
    )
    await done
    return out


CONSUMERS = {"anext": by_iteration, "batches": by_batches, "observable": by_observable}
_SHAPES = [(False, "batches"), (True, "anext"), (False, "observable")]
CASES = [
    pytest.param(seed, *_SHAPES[k % 3], id=f"seed{seed}-{_SHAPES[k % 3][1]}")
    for k, seed in enumerate(SEEDS)
]


@pytest.mark.timeout(max(120, EVENTS // 4))
@pytest.mark.parametrize(("seed", "opaque", "consumer"), CASES)
async def test_chaos_soak_loses_nothing_and_repeats_nothing(
    seed: int, opaque: bool, consumer: str
) -> None:
    chaos = Chaos(EVENTS, seed, opaque)
    async with serve(chaos) as client:
        stream = EventStream(client, "soak", ReconnectPolicy.immediate(idle_timeout=10.0))
        events = await CONSUMERS[consumer](stream)
    steps = [e.step for e in events if isinstance(e, TrainingLog)]
    assert steps == list(range(1, EVENTS))  # every log once, in order
    assert isinstance(events[-1], TrainingCompleted)
    assert [e.event_id for e in events] == chaos.ids
    stats = stream.stats
    # Reconnects really happened: one per connection after the first, and the
    # client resumed each time with the id of the last event it had.
    assert stats.connections == len(chaos.connections) > 100
    assert stats.reconnects == len(chaos.connections) - 1
    assert chaos.drops > 30
    assert chaos.replays > 10
    assert chaos.repeats > 0
    resumed = {event_id for event_id in chaos.connections if event_id is not None}
    assert resumed <= set(chaos.ids)
    assert stats.events == EVENTS
    assert stats.duplicates >= chaos.repeats
    assert stats.replays > 0
    assert stats.last_event_id == chaos.ids[-1]
