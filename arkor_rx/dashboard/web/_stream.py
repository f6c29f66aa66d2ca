"""``GET /api/stream``: one Server-Sent Events connection per page, carrying only what changed.

Rule 1: a frame is every change since the page's last frame, merged: per run
the changed row keys (the latest value wins), the new points, the new log
lines and the run's checkpoint samples when they changed. Its ``id:`` is the
sequence number of its last change.

Rule 2: at most ``1 / MIN_INTERVAL`` frames a second per page (10): changes
that arrive in between wait for the next frame, coalesced, never dropped.

Rule 3: a page resumes after the ``Last-Event-ID`` header (sent by the
browser when it reconnects) or the ``since`` query (a freshly loaded page,
after its snapshot). When the journal no longer holds that far back, the
page gets a ``reset`` frame and reloads its snapshot: nothing is missed.

Rule 4: the stream ends when the page leaves or the dashboard shuts down
(``WebFeed.closed``); a cancellation of the handler is let through, never
taken for a normal end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from arkor_rx.dashboard.web._feed import Change, WebFeed

__all__ = ["KEEPALIVE", "MIN_INTERVAL", "encode_frame", "merge", "stream_changes"]

MIN_INTERVAL = 0.1
"""Seconds between two frames to one page: at most 10 updates a second."""

KEEPALIVE = 15.0
"""Seconds of silence after which a comment line keeps proxies from closing the stream."""


def merge(changes: Iterable[Change]) -> tuple[dict[str, Any], int]:
    """The frame body for ``changes`` (Rule 1) and the last change's ``seq``.

    Examples:
        >>> from arkor_rx.dashboard.web._feed import Change
        >>> body, last = merge([Change(1, "j1", {"status": "running"}),
        ...                     Change(2, "j1", {}, point=[2, 5, 1.5, None, None])])
        >>> body, last
        ({'r': {'j1': {'status': 'running'}}, 'p': {'j1': [[2, 5, 1.5, None, None]]}}, 2)
    """
    rows: dict[str, dict[str, Any]] = {}
    points: dict[str, list[Any]] = {}
    logs: dict[str, list[Any]] = {}
    marks: dict[str, list[Any]] = {}
    last = 0
    for change in changes:
        last = change.seq
        if change.row:
            rows.setdefault(change.key, {}).update(change.row)
        if change.point is not None:
            points.setdefault(change.key, []).append(change.point)
        if change.log is not None:
            logs.setdefault(change.key, []).append(change.log)
        if change.checkpoints is not None:
            marks[change.key] = change.checkpoints
    body: dict[str, Any] = {}
    for name, part in (("r", rows), ("p", points), ("l", logs), ("c", marks)):
        if part:
            body[name] = part
    return body, last


def encode_frame(seq: int, body: dict[str, Any], event: str | None = None) -> bytes:
    """One SSE frame: ``id:``, an optional ``event:``, one ``data:`` line of compact JSON.

    Examples:
        >>> encode_frame(7, {"r": {}})
        b'id: 7\\ndata: {"r":{}}\\n\\n'
    """
    head = f"id: {seq}\n" + (f"event: {event}\n" if event else "")
    data = json.dumps(body, separators=(",", ":"), allow_nan=False)
    return f"{head}data: {data}\n\n".encode()


def _resume_point(request: web.Request, feed: WebFeed) -> int | None:
    text = request.headers.get("Last-Event-ID") or request.query.get("since")
    if text is None or text == "":
        return feed.seq
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


async def _wait(feed: WebFeed, seq: int) -> bool:
    """Wait for a change after ``seq``; False when the keepalive time passed first."""
    try:
        async with asyncio.timeout(KEEPALIVE):
            await feed.wait_after(seq)
    except TimeoutError:
        return False
    return True


async def stream_changes(request: web.Request, feed: WebFeed, harden: Any) -> web.StreamResponse:
    """Serve one page's stream until it disconnects or the dashboard stops (Rules 1 to 4)."""
    sent = _resume_point(request, feed)
    if sent is None:
        return web.json_response(
            {"error": "Last-Event-ID (or since) must be a sequence number"}, status=400
        )
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    harden(response)
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    last_frame = 0.0
    # A page that leaves is a ConnectionResetError on write; a shutdown is feed.closed.
    # A cancellation (aiohttp's, the runner's) is never swallowed: it ends the handler.
    with contextlib.suppress(ConnectionResetError):
        while not feed.closed:
            if sent > feed.seq:  # a page from before a restart: start again
                sent = -1
            changes = feed.since(sent)
            if changes is None or sent < 0:
                sent = feed.seq
                await response.write(encode_frame(sent, {"reset": True}, "reset"))
            else:
                body, last = merge(changes)
                if last:
                    sent = last
                    await response.write(encode_frame(sent, body))
            last_frame = time.monotonic()
            if not await _wait(feed, sent):
                await response.write(b": keepalive\n\n")
                continue
            pause = last_frame + MIN_INTERVAL - time.monotonic()
            if pause > 0 and not feed.closed:
                await asyncio.sleep(pause)  # Rule 2: what arrives meanwhile joins the next frame
    return response
