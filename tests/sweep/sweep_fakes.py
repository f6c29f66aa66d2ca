"""A small multi-job Arkor backend on loopback, for the sweep tests (imported as ``sweep_fakes``).

Every ``POST /v1/jobs`` creates a job ``j0``, ``j1``, ... whose events come
from ``plan(name, config)``: a :class:`Script` of event dicts, each written as
one SSE frame (ids ``0``, ``1``, ...). A :data:`HOLD` item makes the job wait
there until it is cancelled; an ``asyncio.Event`` item holds the job until the
test sets it. A cancel ends the job like the local backend does (a
``training.failed`` "cancelled by user", status ``cancelled``), or, while
``cancel_gate`` is an unset ``asyncio.Event``, once that event is set (a job
slow to wind down); a cancel of a finished job answers 409. ``GET /v1/jobs``
lists the jobs newest first.

The server counts what it was asked (creations, cancels per job, stream
connections), so a test can check what reached the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from arkor_rx.client import ArkorClient
from arkor_rx.sse import encode

TOKEN = "sweep-token-5ecret"
ORG = "org"
PROJECT = "proj"

HOLD = "hold"
"""A script item: the job stays running here until it is cancelled."""

Item = dict[str, Any] | str | asyncio.Event


@dataclass
class Script:
    """What a job does: its events in order, and how it ends when they run out."""

    items: Sequence[Item]
    status: str = "completed"
    """The job's status once every item was played (``completed`` or ``failed``)."""


def log(step: int, loss: float | None = None, eval_loss: float | None = None) -> dict[str, Any]:
    return {"type": "training.log", "step": step, "loss": loss, "evalLoss": eval_loss}


def completed() -> dict[str, Any]:
    return {"type": "training.completed", "metrics": {}, "artifacts": [{"path": "final"}]}


def failed(error: str = "OOM") -> dict[str, Any]:
    return {"type": "training.failed", "error": error}


def losses(values: Sequence[float], *, end: str = "completed") -> Script:
    """A job logging ``loss`` = ``values[i]`` at step ``i + 1``, then completing (or failing)."""
    items: list[Item] = [{"type": "training.started"}]
    items.extend(log(i + 1, loss=v) for i, v in enumerate(values))
    if end == "completed":
        items.append(completed())
    elif end == "failed":
        items.append(failed())
    elif end == "hold":
        items.append(HOLD)
    return Script(items, status="failed" if end == "failed" else "completed")


@dataclass
class Job:
    id: str
    name: str
    config: dict[str, Any]
    script: Script
    created_at: str
    status: str = "running"
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    on_change: Callable[[], None] = lambda: None
    cancels: int = 0
    task: asyncio.Task[None] | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "config": self.config,
            "createdAt": self.created_at,
        }

    def emit(self, payload: dict[str, Any]) -> None:
        self.events.append({"jobId": self.id, "timestamp": "2026-01-01T00:00:00Z", **payload})
        self.changed.set()
        self.changed = asyncio.Event()
        self.on_change()

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


class FakeJobs:
    """The scripted multi-job backend. Set ``plan`` before the jobs are created."""

    def __init__(self) -> None:
        self.plan: Callable[[str, dict[str, Any]], Script] = lambda name, config: losses([1.0])
        self.jobs: dict[str, Job] = {}
        self.order: list[str] = []
        self.create_requests = 0
        self.list_requests = 0
        self.get_requests = 0
        self.stream_requests = 0
        self.fail_create: Callable[[str, dict[str, Any]], int | None] = lambda n, c: None
        """Return a status to refuse a creation with it (None: accept)."""
        self.running_peak = 0
        self.cancel_gate: asyncio.Event | None = None
        """While set to an unset event, a cancelled job keeps running until it is set."""
        self.server: TestServer | None = None
        self._winding: list[asyncio.Task[None]] = []
        self._tick = asyncio.Event()

    # --- what the tests read ------------------------------------------------

    def cancels(self) -> dict[str, int]:
        """Cancel requests per job id (jobs never cancelled are left out)."""
        return {job.id: job.cancels for job in self.jobs.values() if job.cancels}

    def by_name(self, fragment: str) -> Job:
        (job,) = [j for j in self.jobs.values() if fragment in j.name]
        return job

    def _changed(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds; it is checked after every job creation or event."""
        while not condition():
            await self._tick.wait()

    async def created(self, n: int) -> None:
        """Wait until ``n`` jobs exist."""
        await self.until(lambda: len(self.jobs) >= n)

    async def emitted(self, n: int) -> None:
        """Wait until the jobs have emitted ``n`` events in all."""
        await self.until(lambda: sum(len(j.events) for j in self.jobs.values()) >= n)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def client(self) -> ArkorClient:
        return ArkorClient(self.url, TOKEN, ORG, PROJECT)

    # --- the routes ----------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/jobs", self._create)
        app.router.add_get("/v1/jobs", self._list)
        app.router.add_get("/v1/jobs/{id}", self._get)
        app.router.add_post("/v1/jobs/{id}/cancel", self._cancel)
        app.router.add_get("/v1/jobs/{id}/events/stream", self._stream)
        return app

    def _running(self) -> int:
        return sum(1 for job in self.jobs.values() if not job.terminal)

    async def _create(self, request: web.Request) -> web.Response:
        self.create_requests += 1
        body = await request.json()
        name, config = body["name"], body["config"]
        refused = self.fail_create(name, config)
        if refused is not None:
            return web.json_response({"error": "refused"}, status=refused)
        job_id = f"j{len(self.jobs)}"
        job = Job(
            job_id, name, config, self.plan(name, config), f"2026-01-01T00:00:{len(self.jobs):02d}Z"
        )
        job.on_change = self._changed
        self.jobs[job_id] = job
        self.order.append(job_id)
        self._changed()
        job.task = asyncio.get_running_loop().create_task(self._play(job))
        self.running_peak = max(self.running_peak, self._running())
        return web.json_response({"job": job.wire()})

    async def _play(self, job: Job) -> None:
        for item in job.script.items:
            if job.terminal:
                return
            if isinstance(item, asyncio.Event):
                await item.wait()
            elif item == HOLD:
                while not job.terminal:
                    await job.changed.wait()
                return
            else:
                assert isinstance(item, dict)
                job.emit(item)
            await asyncio.sleep(0)
        if not job.terminal:
            job.status = job.script.status
            job.emit({"type": "end"})

    async def _list(self, request: web.Request) -> web.Response:
        self.list_requests += 1
        jobs = [self.jobs[i].wire() for i in reversed(self.order)]
        return web.json_response({"jobs": jobs})

    def _find(self, request: web.Request) -> Job | None:
        return self.jobs.get(request.match_info["id"])

    async def _get(self, request: web.Request) -> web.Response:
        self.get_requests += 1
        self._changed()
        job = self._find(request)
        if job is None:
            return web.json_response({"error": "no such job"}, status=404)
        events = [e for e in job.events if e["type"] != "end"]
        return web.json_response({"job": job.wire(), "events": events})

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self._find(request)
        if job is None:
            return web.json_response({"error": "no such job"}, status=404)
        job.cancels += 1
        self._changed()
        if job.terminal:
            return web.json_response({"error": "job already ended"}, status=409)
        gate = self.cancel_gate
        if gate is not None and not gate.is_set():
            self._winding.append(asyncio.get_running_loop().create_task(self._end_after(job, gate)))
            return web.json_response({"job": job.wire()})
        self._end_cancelled(job)
        return web.json_response({"job": job.wire()})

    async def _end_after(self, job: Job, gate: asyncio.Event) -> None:
        await gate.wait()
        if not job.terminal:
            self._end_cancelled(job)

    @staticmethod
    def _end_cancelled(job: Job) -> None:
        job.status = "cancelled"
        job.emit({"type": "training.failed", "error": "cancelled by user"})
        job.emit({"type": "end"})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.stream_requests += 1
        self._changed()
        job = self._find(request)
        if job is None:
            return web.json_response({"error": "no such job"}, status=404)
        last = request.headers.get("Last-Event-ID")
        position = 0 if not last else int(last) + 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        while True:
            while position < len(job.events):
                payload = job.events[position]
                if payload["type"] == "end":
                    await response.write(encode("", event="end"))
                    await response.write_eof()
                    return response
                await response.write(
                    encode(json.dumps(payload), event=payload["type"], id=str(position))
                )
                position += 1
            await job.changed.wait()

    async def start(self) -> None:
        self.server = TestServer(self.app(), host="127.0.0.1", port=0, handler_cancellation=True)
        await self.server.start_server()

    async def close(self) -> None:
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()
        for task in self._winding:
            task.cancel()
        if self.server is not None:
            await self.server.close()


@contextlib.contextmanager
def threaded_jobs() -> Iterator[tuple[FakeJobs, asyncio.AbstractEventLoop]]:
    """A FakeJobs served from its own loop in a thread, for code that runs ``asyncio.run``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    backend = FakeJobs()

    def call(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    call(backend.start())
    try:
        yield backend, loop
    finally:
        call(backend.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on ``loop`` (another thread's) and return its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)


async def fake_jobs() -> AsyncIterator[FakeJobs]:
    backend = FakeJobs()
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()
