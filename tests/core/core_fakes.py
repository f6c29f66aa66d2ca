"""A small scriptable Arkor backend on loopback, for the reactive core's tests.

Imported as ``core_fakes``. Each connection to the event stream route plays
the next item of a script, in order:

- :class:`Reject`: answer a status (with ``Retry-After`` if given) and a JSON error;
- :class:`Serve`: answer 200 ``text/event-stream`` and write chunks, then end the
  body cleanly (``"close"``), drop the connection in the middle of a frame
  (``"drop"``), or stay open and silent until the client leaves (``"hang"``).
  An ``asyncio.Event`` among the chunks holds the writing until it is set.

A connection beyond the script is answered 418 (a permanent error, so a
client stops at once) and counted in ``unexpected``. Every connection's
request headers are recorded, and ``closed`` is set when the server sees the
connection go. The job routes (create, get, cancel, inference) answer from
simple state and count their calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestServer

from arkor_rx.client import ArkorClient
from arkor_rx.sse import encode, encode_comment

TOKEN = "core-token-5ecret"
ORG = "org"
PROJECT = "proj"
JOB_ID = "j1"

Chunk = bytes | asyncio.Event


@dataclass
class Reject:
    """Answer the stream request with ``status``."""

    status: int
    retry_after: str | None = None
    message: str = "nope"


@dataclass
class Serve:
    """Answer 200 and write ``chunks``; then close, drop mid-frame, or hang."""

    chunks: Sequence[Chunk] = ()
    end: Literal["close", "drop", "hang"] = "close"


Step = Reject | Serve


@dataclass
class Connection:
    """What one stream request looked like, and when the server saw it go."""

    headers: dict[str, str]
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_event_id(self) -> str | None:
        return self.headers.get("Last-Event-ID")


def frame(event_id: str | None, kind: str, **fields: Any) -> bytes:
    """One event frame as the backend writes it."""
    payload = {"type": kind, "jobId": JOB_ID, "timestamp": "2026-01-01T00:00:00Z", **fields}
    return encode(json.dumps(payload), event=kind, id=event_id)


def started(event_id: str | None = "0") -> bytes:
    return frame(event_id, "training.started")


def log(event_id: str | None, step: int, loss: float = 1.0) -> bytes:
    return frame(event_id, "training.log", step=step, loss=loss)


def checkpoint(event_id: str | None, step: int) -> bytes:
    return frame(event_id, "checkpoint.saved", step=step, artifacts=[{"path": f"ckpt-{step}"}])


def completed(event_id: str | None = "99") -> bytes:
    return frame(event_id, "training.completed", artifacts=[{"path": "final"}])


def failed(event_id: str | None = "99", error: str = "OOM") -> bytes:
    return frame(event_id, "training.failed", error=error, step=3)


PING = encode("", event="ping")
COMMENT = encode_comment("keepalive")
GARBAGE = encode("this is not json", event="training.log", id="g1")
END = encode("", event="end")
PARTIAL = b'id: 500\nevent: training.log\ndata: {"type": "training.l'


class FakeBackend:
    """The scripted backend. ``script`` is consumed one stream connection at a time."""

    def __init__(self) -> None:
        self.script: list[Step] = []
        self.connections: list[Connection] = []
        self.unexpected = 0
        self.created: list[dict[str, Any]] = []
        self.cancel_requests = 0
        self.cancel_status = 200
        self.job_status = "completed"
        self.stored_events: list[dict[str, Any]] = []
        """What ``GET /v1/jobs/{id}`` lists as the job's past events."""
        self.get_requests = 0
        self.get_status = 200
        """Answer ``GET /v1/jobs/{id}`` with this status (404: an unknown job)."""
        self.inference_bodies: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self._release = asyncio.Event()
        self.server: TestServer | None = None

    async def connections_closed(self, n: int) -> None:
        """Wait until ``n`` stream connections were made and all of them have gone."""
        while len(self.connections) < n:
            self.connected.clear()
            await self.connected.wait()
        for conn in self.connections[:n]:
            await conn.closed.wait()

    def add(self, *steps: Step) -> None:
        self.script.extend(steps)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def client(self) -> ArkorClient:
        return ArkorClient(self.url, TOKEN, ORG, PROJECT)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/jobs", self._create)
        app.router.add_get("/v1/jobs/{id}", self._get)
        app.router.add_post("/v1/jobs/{id}/cancel", self._cancel)
        app.router.add_get("/v1/jobs/{id}/events/stream", self._stream)
        app.router.add_post("/v1/inference/chat", self._infer)
        return app

    def _job(self, status: str) -> dict[str, Any]:
        return {"id": JOB_ID, "name": "t", "status": status, "config": {}}

    async def _create(self, request: web.Request) -> web.Response:
        self.created.append(await request.json())
        return web.json_response({"job": self._job("queued")})

    async def _get(self, request: web.Request) -> web.Response:
        self.get_requests += 1
        if self.get_status != 200:
            return web.json_response({"error": "no such job"}, status=self.get_status)
        body: dict[str, Any] = {"job": self._job(self.job_status)}
        if self.stored_events:
            body["events"] = self.stored_events
        return web.json_response(body)

    async def _cancel(self, request: web.Request) -> web.Response:
        self.cancel_requests += 1
        if self.cancel_status != 200:
            return web.json_response({"error": "job already ended"}, status=self.cancel_status)
        self.job_status = "cancelled"
        return web.json_response({"ok": True})

    async def _infer(self, request: web.Request) -> web.Response:
        self.inference_bodies.append(await request.json())
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "hi"}}]})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        conn = Connection(dict(request.headers))
        self.connections.append(conn)
        self.connected.set()
        try:
            if not self.script:
                self.unexpected += 1
                return web.json_response({"error": "unexpected connection"}, status=418)
            step = self.script.pop(0)
            if isinstance(step, Reject):
                headers = {} if step.retry_after is None else {"Retry-After": step.retry_after}
                return web.json_response(
                    {"error": step.message}, status=step.status, headers=headers
                )
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for chunk in step.chunks:
                if isinstance(chunk, asyncio.Event):
                    await chunk.wait()
                else:
                    await response.write(chunk)
            if step.end == "drop":
                await response.write(PARTIAL)
                assert request.transport is not None
                request.transport.close()
                return response
            if step.end == "hang":
                await self._release.wait()
                return response
            await response.write_eof()
            return response
        finally:
            conn.closed.set()

    async def start(self) -> None:
        # handler_cancellation: a hanging handler is cancelled as soon as the
        # client goes, so the test can see the disconnect.
        self.server = TestServer(self.app(), host="127.0.0.1", port=0, handler_cancellation=True)
        await self.server.start_server()

    async def close(self) -> None:
        self._release.set()
        if self.server is not None:
            await self.server.close()


async def backend_fixture() -> AsyncIterator[FakeBackend]:
    backend = FakeBackend()
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


class SleepSpy:
    """An injectable ``sleep`` that records the delays and does not wait for them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)
