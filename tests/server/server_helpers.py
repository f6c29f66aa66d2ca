"""Helpers of the server tests: plain aiohttp requests against a LocalServer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from arkor_rx.server import LocalServer, ServerConfig
from arkor_rx.sse import ServerSentEvent, SSEDecoder

TOKEN = "test-token-123"
DEMO = {"type": "huggingface", "name": "arkorlab/triage-demo"}
MODEL = "arkor/triage-tiny"


def auth(token: str = TOKEN, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def config(**knobs: Any) -> dict[str, Any]:
    """A small, fast job config on the built-in dataset."""
    base: dict[str, Any] = {"model": MODEL, "datasetSource": DEMO, "maxSteps": 20}
    base.update(knobs)
    return base


@asynccontextmanager
async def running(
    server_config: ServerConfig | None = None,
) -> AsyncIterator[tuple[LocalServer, aiohttp.ClientSession]]:
    cfg = server_config or ServerConfig(token=TOKEN)
    async with LocalServer(cfg) as server, aiohttp.ClientSession(server.url) as session:
        yield server, session


async def create(
    session: aiohttp.ClientSession, cfg: Mapping[str, Any], name: str = "t"
) -> dict[str, Any]:
    async with session.post(
        "/v1/jobs",
        json={"name": name, "config": cfg},
        headers=auth(),
        params={"orgSlug": "o", "projectSlug": "p"},
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        job: dict[str, Any] = body["job"]
        return job


async def post_error(
    session: aiohttp.ClientSession,
    path: str,
    payload: Any,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    async with session.post(path, json=payload, headers=headers or auth()) as resp:
        body = await resp.json()
        return resp.status, str(body["error"])


async def read_stream(
    session: aiohttp.ClientSession,
    job_id: str,
    *,
    last_event_id: str | None = None,
    limit: int | None = None,
) -> tuple[int, list[ServerSentEvent]]:
    """Read one stream connection to its end (or ``limit`` frames); return status and frames."""
    headers = auth(Accept="text/event-stream")
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    frames: list[ServerSentEvent] = []
    async with session.get(f"/v1/jobs/{job_id}/events/stream", headers=headers) as resp:
        if resp.status != 200:
            return resp.status, frames
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        decoder = SSEDecoder()
        async for chunk in resp.content.iter_any():
            frames.extend(decoder.feed(chunk))
            if limit is not None and len(frames) >= limit:
                break
        decoder.close()
    return 200, frames


def data_frames(frames: list[ServerSentEvent]) -> list[dict[str, Any]]:
    """The JSON of the event frames (not ping/end)."""
    out = []
    for frame in frames:
        if frame.event in ("ping", "end"):
            continue
        out.append(json.loads(frame.data))
    return out


def steps_of(events: list[dict[str, Any]], kind: str) -> list[int]:
    """The ``step`` of every event of type ``kind``, in order."""
    return [e["step"] for e in events if e["type"] == kind]


async def get_job(session: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    async with session.get(f"/v1/jobs/{job_id}", headers=auth()) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body
