"""The one scriptable Arkor backend on loopback, shared by the core and acceptance tests.

Each connection to the event stream route plays the next item of ``script``:

- :class:`Reject`: answer a status (with ``Retry-After`` if given) and a JSON error;
- :class:`Serve`: answer 200 ``text/event-stream`` and write chunks, then end the
  body cleanly (``"close"``), drop the connection in the middle of a frame
  (``"drop"``), or stay open and silent until the client leaves (``"hang"``).
  An ``asyncio.Event`` among the chunks holds the writing until it is set;
- an :data:`Opener`: any ``async (request) -> response`` (see :func:`frames`,
  :func:`status`).

A connection beyond the script is answered 418 (a permanent error, so a
client stops at once) and counted in ``unexpected``; setting :attr:`FakeBackend.opens`
instead makes the last item repeat. Every request is recorded (``requests``,
:meth:`FakeBackend.of`); every stream connection also as a :class:`Connection`
whose ``closed`` is set when the server sees it go. The job routes (create,
get, cancel, inference) answer from simple state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestServer

from arkor_rx.sse import encode

JOB_ID = "j1"

Chunk = bytes | asyncio.Event
Opener = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""A hand-written answer to one stream request (or to the create/inference routes)."""

PARTIAL = b'id: 500\nevent: training.log\ndata: {"type": "training.l'
"""The half frame a ``"drop"`` leaves on the wire before the connection goes."""


def frame(event_id: str | None, kind: str, **fields: Any) -> bytes:
    """One event frame as the backend writes it."""
    payload = {"type": kind, "jobId": JOB_ID, "timestamp": "2026-01-01T00:00:00Z", **fields}
    return encode(json.dumps(payload), event=kind, id=event_id)


def job_json(status: str = "running", job_id: str = JOB_ID) -> dict[str, Any]:
    """A job as the server describes it (with a field from the future, to be ignored)."""
    return {
        "id": job_id,
        "orgId": "o1",
        "projectId": "p1",
        "name": "n",
        "status": status,
        "config": {"model": "m", "datasetSource": {"type": "huggingface", "name": "d"}},
        "error": None,
        "createdAt": "2026-01-01T00:00:00Z",
        "startedAt": None,
        "completedAt": None,
        "futureField": {"x": 1},
    }


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


Step = Reject | Serve | Opener


def frames(*parts: bytes) -> Opener:
    """An opener that writes the frames and closes the connection cleanly."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for part in parts:
            await resp.write(part)
        await resp.write_eof()
        return resp

    return handler


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Opener:
    """An opener that answers ``code`` with ``body`` (JSON, text, or none)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if body is None:
            return web.Response(status=code, headers=headers)
        if isinstance(body, str):
            return web.Response(status=code, text=body, headers=headers)
        return web.json_response(body, status=code, headers=headers)

    return handler


@dataclass
class Connection:
    """What one stream request looked like, and when the server saw it go."""

    headers: dict[str, str]
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_event_id(self) -> str | None:
        return self.headers.get("Last-Event-ID")


@dataclass
class Recorded:
    """One request the backend received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeBackend:
    """The scripted backend. ``script`` is consumed one stream connection at a time."""

    def __init__(self) -> None:
        self.script: list[Step] = []
        self.repeat_last = False
        """Replay the last step for connections beyond the script (set by :attr:`opens`)."""
        self.requests: list[Recorded] = []
        self.connections: list[Connection] = []
        self.unexpected = 0
        self.cancel_status = 200
        self.job_status = "completed"
        """What ``GET /v1/jobs/{id}`` says the job's status is (a cancel makes it cancelled)."""
        self.get_status = 200
        """Answer ``GET /v1/jobs/{id}`` with this status (404: an unknown job)."""
        self.stored_events: list[dict[str, Any]] = []
        """What ``GET /v1/jobs/{id}`` lists as the job's past events."""
        self.create_answer: Opener | None = None
        self.infer_answer: Opener | None = None
        self.infer_content = "hello"
        """The assistant's content of the default inference answer."""
        self.connected = asyncio.Event()
        """Set on every stream connection (clear it to wait for the next one)."""
        self.opened = self.connected
        self._release = asyncio.Event()
        self.server: TestServer | None = None

    # --- the script -------------------------------------------------------------------

    def add(self, *steps: Step) -> None:
        """Append steps to the script."""
        self.script.extend(steps)

    @property
    def opens(self) -> list[Step]:
        """The script, when the last step repeats for every later connection."""
        return self.script

    @opens.setter
    def opens(self, steps: list[Step]) -> None:
        self.script = list(steps)
        self.repeat_last = True

    # --- what was asked ---------------------------------------------------------------

    def of(self, method: str, suffix: str) -> list[Recorded]:
        """The requests of ``method`` whose path ends with ``suffix``."""
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    @property
    def stream_opens(self) -> list[Recorded]:
        return self.of("GET", "/events/stream")

    @property
    def created(self) -> list[Any]:
        """The bodies of the ``POST /v1/jobs`` requests."""
        return [r.body for r in self.of("POST", "/v1/jobs")]

    @property
    def cancel_requests(self) -> int:
        return len(self.of("POST", "/cancel"))

    @property
    def get_requests(self) -> int:
        return len([r for r in self.of("GET", "") if not r.path.endswith("/events/stream")])

    @property
    def inference_bodies(self) -> list[Any]:
        return [r.body for r in self.of("POST", "/v1/inference/chat")]

    async def connections_closed(self, n: int) -> None:
        """Wait until ``n`` stream connections were made and all of them have gone."""
        while len(self.connections) < n:
            self.connected.clear()
            await self.connected.wait()
        for conn in self.connections[:n]:
            await conn.closed.wait()

    # --- the routes -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/jobs", self._create)
        app.router.add_get("/v1/jobs/{id}", self._get)
        app.router.add_post("/v1/jobs/{id}/cancel", self._cancel)
        app.router.add_get("/v1/jobs/{id}/events/stream", self._stream)
        app.router.add_post("/v1/inference/chat", self._infer)
        return app

    async def _record(self, request: web.Request) -> None:
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )

    async def _create(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if self.create_answer is not None:
            return await self.create_answer(request)
        return web.json_response({"job": job_json("queued")})

    async def _get(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.get_status != 200:
            return web.json_response({"error": "no such job"}, status=self.get_status)
        body: dict[str, Any] = {"job": job_json(self.job_status, request.match_info["id"])}
        if self.stored_events:
            body["events"] = self.stored_events
        return web.json_response(body)

    async def _cancel(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.cancel_status != 200:
            return web.json_response({"error": "job already ended"}, status=self.cancel_status)
        self.job_status = "cancelled"
        return web.json_response({"job": job_json("cancelled")})

    async def _infer(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if self.infer_answer is not None:
            return await self.infer_answer(request)
        message = {"role": "assistant", "content": self.infer_content}
        return web.json_response({"choices": [{"message": message}]})

    def _next_step(self) -> Step | None:
        if not self.script:
            return None
        if self.repeat_last and len(self.script) == 1:
            return self.script[0]
        return self.script.pop(0)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        conn = Connection(dict(request.headers))
        self.connections.append(conn)
        self.connected.set()
        try:
            step = self._next_step()
            if step is None:
                self.unexpected += 1
                return web.json_response({"error": "unexpected connection"}, status=418)
            if isinstance(step, Reject):
                headers = {} if step.retry_after is None else {"Retry-After": step.retry_after}
                return web.json_response(
                    {"error": step.message}, status=step.status, headers=headers
                )
            if not isinstance(step, Serve):
                return await step(request)
            return await self._serve(request, step)
        finally:
            conn.closed.set()

    async def _serve(self, request: web.Request, step: Serve) -> web.StreamResponse:
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

    # --- lifetime ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

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
    """A started backend, closed afterwards (the body of the ``backend`` fixture)."""
    backend = FakeBackend()
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()
