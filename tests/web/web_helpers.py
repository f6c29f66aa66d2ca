"""Helpers of the web dashboard's tests: wait on the dashboard's own state, read its stream."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from arkor_rx.dashboard import WebDashboard
from arkor_rx.dashboard.web import TOKEN_HEADER
from arkor_rx.sse import ServerSentEvent, SSEDecoder


async def until(view: WebDashboard, check: Callable[[], bool]) -> None:
    """Wait until ``check()`` holds, woken by each change of the dashboard (never a sleep)."""
    while not check():
        await view.feed.wait_after(view.feed.seq)


def row(view: WebDashboard, job_id: str) -> dict[str, Any]:
    """The job's row as ``/api/runs`` shows it."""
    return next(r for r in view.feed.snapshot()["runs"] if r["id"] == job_id)


async def read_frames(
    response: aiohttp.ClientResponse, stop: Callable[[list[ServerSentEvent]], bool]
) -> list[ServerSentEvent]:
    """Read a stream's frames (comments and ``retry:`` skipped) until ``stop(frames)``."""
    decoder = SSEDecoder()
    frames: list[ServerSentEvent] = []
    while not stop(frames):
        chunk = await response.content.readany()
        assert chunk, "the stream ended"
        frames += [f for f in decoder.feed(chunk) if f.data]
    return frames


def points(frames: list[ServerSentEvent], job_id: str) -> list[list[Any]]:
    """The points of ``job_id`` the frames carried, in order."""
    out: list[list[Any]] = []
    for frame in frames:
        body = json.loads(frame.data)
        out += body.get("p", {}).get(job_id, [])
    return out


@dataclass
class Listening:
    """A dashboard serving on 127.0.0.1: its base URL and the header that carries its token."""

    view: WebDashboard

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.view.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.view.token}
