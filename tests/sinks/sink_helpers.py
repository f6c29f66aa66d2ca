"""Shared helpers of the sink tests: a sink that records its calls, event builders, and a
loopback webhook receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from arkor_rx.events import TrainingCompleted, TrainingEvent, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import Outcome, SinkItem, SinkStats


class RecordingSink:
    """Records ``open``/``write``/``close``; optionally waits on a gate or raises."""

    def __init__(
        self,
        *,
        overflow: str = "drop",
        buffer_size: int = 1024,
        fail_on_error: bool = False,
        fail_write: bool = False,
        name: str = "recording",
    ) -> None:
        self.overflow = overflow
        self.buffer_size = buffer_size
        self.fail_on_error = fail_on_error
        self.fail_write = fail_write
        self.name = name
        self.stats = SinkStats()
        self.calls: list[tuple[str, Any]] = []
        self.gate: asyncio.Event | None = None
        self.busy = False
        self.overlapped = False
        self.closed = asyncio.Event()

    async def _enter(self) -> None:
        if self.busy:
            self.overlapped = True
        self.busy = True
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)

    async def open(self, job: TrainingJob) -> None:
        await self._enter()
        self.calls.append(("open", job))
        self.busy = False

    async def write(self, events: Sequence[SinkItem]) -> None:
        await self._enter()
        self.calls.append(("write", list(events)))
        self.busy = False
        if self.fail_write:
            raise RuntimeError("sink is broken")

    async def close(self, outcome: Outcome) -> None:
        await self._enter()
        self.calls.append(("close", outcome))
        self.busy = False
        self.closed.set()

    @property
    def items(self) -> list[SinkItem]:
        return [item for kind, batch in self.calls if kind == "write" for item in batch]

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]

    def outcomes(self) -> list[Outcome]:
        return [value for kind, value in self.calls if kind == "close"]


def run_events(job_id: str = "j1", steps: int = 5, *, end: bool = True) -> list[TrainingEvent]:
    """A small run: started, ``steps`` logs, completed."""
    events: list[TrainingEvent] = [TrainingStarted(job_id=job_id)]
    events += [TrainingLog(job_id=job_id, step=s, loss=1.0 / s) for s in range(1, steps + 1)]
    if end:
        events.append(TrainingCompleted(job_id=job_id, metrics={"loss": 0.2}))
    return events


@dataclass
class Hook:
    """What a loopback webhook receiver got: each POST's body, and its headers as text."""

    url: str = ""
    bodies: list[bytes] = field(default_factory=list)
    headers: list[bytes] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.headers.append(repr(dict(request.headers)).encode())
        return web.Response(text="ok")


@asynccontextmanager
async def loopback_post(
    path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> AsyncIterator[TestServer]:
    """An aiohttp server on 127.0.0.1 (a free port) that answers POSTs to ``path``."""
    app = web.Application()
    app.router.add_post(path, handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Hook]:
    """A receiver of POSTs at ``/hook`` on 127.0.0.1 that answers 200 and records each one."""
    hook = Hook()
    async with loopback_post("/hook", hook.receive) as server:
        hook.url = str(server.make_url("/hook"))
        yield hook
