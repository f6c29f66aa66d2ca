"""A tiny scriptable Arkor backend on loopback, written for the acceptance tests only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "tok-SECRET-4f2a9c"
JOB_ID = "j1"

Opener = Callable[[web.Request], Awaitable[web.StreamResponse]]


def job_json(status: str = "running", job_id: str = JOB_ID) -> dict[str, Any]:
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


def ev(type_: str, eid: str | None, **fields: Any) -> bytes:
    payload = {"type": type_, "jobId": JOB_ID, "timestamp": "2026-01-01T00:00:00Z", **fields}
    head = f"id: {eid}\n" if eid is not None else ""
    return f"{head}event: {type_}\ndata: {json.dumps(payload)}\n\n".encode()


def log(eid: str, step: int, loss: float = 1.0) -> bytes:
    return ev("training.log", eid, step=step, loss=loss)


def completed(eid: str) -> bytes:
    return ev("training.completed", eid, metrics={}, artifacts=[])


PING = b"event: ping\ndata: \n\n"


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
    async def handler(request: web.Request) -> web.StreamResponse:
        if body is None:
            return web.Response(status=code, headers=headers)
        if isinstance(body, str):
            return web.Response(status=code, text=body, headers=headers)
        return web.json_response(body, status=code, headers=headers)

    return handler


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeBackend:
    """Script: ``opens`` is consumed one per stream open; the last one repeats."""

    opens: list[Opener] = field(default_factory=list)
    final_status: str = "completed"
    create_answer: Opener | None = None
    infer_answer: Opener | None = None
    requests: list[Recorded] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def of(self, method: str, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    @property
    def stream_opens(self) -> list[Recorded]:
        return self.of("GET", "/events/stream")

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

    async def _get(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return web.json_response({"job": job_json(self.final_status, request.match_info["id"])})

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return web.json_response({"job": job_json("cancelled")})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        self.opened.set()
        n = len(self.stream_opens) - 1
        opener = self.opens[min(n, len(self.opens) - 1)]
        return await opener(request)

    async def _infer(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if self.infer_answer is not None:
            return await self.infer_answer(request)
        return web.json_response(
            {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/jobs", self._create)
        app.router.add_get("/v1/jobs/{id}", self._get)
        app.router.add_post("/v1/jobs/{id}/cancel", self._cancel)
        app.router.add_get("/v1/jobs/{id}/events/stream", self._stream)
        app.router.add_post("/v1/inference/chat", self._infer)
        return app
