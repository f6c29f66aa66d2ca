"""The event stream: ``GET /v1/jobs/{id}/events/stream``, and the SSE response both streams use.

Rule 1: a stream frame is ``id: <n>``, ``event: <type>``, one ``data:`` line
of the event's JSON. After the terminal event comes ``event: end`` and the
response ends. Silence longer than ``ping_interval`` gets ``event: ping``.
A client that goes away ends its handler quietly.

Rule 2: the handler replays after ``Last-Event-ID`` and then follows, reading
the store a page at a time ([`PAGE`][arkor_rx.server.streaming.PAGE]), so a long log never sits in
memory whole, and a reader far behind costs no more than one at the head.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from arkor_rx.events import KEEPALIVE_EVENT, TERMINAL_STREAM_EVENT
from arkor_rx.protocol import LAST_EVENT_ID_HEADER
from arkor_rx.server.faults import garbage_frame
from arkor_rx.server.http_errors import ApiError
from arkor_rx.server.state import STATE_KEY
from arkor_rx.sse import encode

__all__ = ["END_FRAME", "PAGE", "PING_FRAME", "TERMINAL_EVENTS", "sse_response", "stream_events"]

TERMINAL_EVENTS: Final = frozenset({"training.completed", "training.failed"})
"""The event types that end a job's log."""

END_FRAME: Final = encode("{}", event=TERMINAL_STREAM_EVENT)
"""``event: end``: the stream is over."""

PING_FRAME: Final = encode("{}", event=KEEPALIVE_EVENT)
"""``event: ping``: a keep-alive."""

PAGE: Final = 500
"""Events read from the store at a time."""


async def sse_response(request: web.Request, **headers: str) -> web.StreamResponse:
    """A prepared ``text/event-stream`` response, not cached, not buffered by proxies."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **headers,
        }
    )
    await response.prepare(request)
    return response


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get(LAST_EVENT_ID_HEADER, "").strip()
    try:
        return max(0, int(raw)) if len(raw) < 20 else 0
    except ValueError:
        return 0  # absent or not one of our ids: replay from the start


async def stream_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/jobs/{id}/events/stream``: replay after Last-Event-ID, then follow."""
    state = request.app[STATE_KEY]
    faults = state.config.faults
    state.stream_opens += 1
    if state.stream_opens <= faults.fail_first_opens:
        raise ApiError(
            faults.fail_status,
            f"injected failure {state.stream_opens} of {faults.fail_first_opens}",
        )
    job = state.job(request.match_info["job_id"])
    after = _last_event_id(request)
    response = await sse_response(request)
    sent = 0
    try:
        while not state.closing.is_set():
            waiter = state.notifier.waiter(job.id)  # before reading: no lost wake-up
            while page := state.store.events_after(job.id, after, PAGE):
                for event in page:
                    if faults.garbage_every and sent % faults.garbage_every == 0:
                        await response.write(garbage_frame(sent // faults.garbage_every))
                    if faults.frame_delay:
                        await asyncio.sleep(faults.frame_delay)
                    await response.write(encode(event.data, event=event.type, id=str(event.id)))
                    after = event.id
                    sent += 1
                    if event.type in TERMINAL_EVENTS:
                        await response.write(END_FRAME)
                        return response
                    if faults.drop_after_events is not None and sent >= faults.drop_after_events:
                        return response  # injected drop: the client resumes after `after`
            current = state.store.get(job.id)
            if current is not None and current.is_terminal:
                if state.store.event_count(job.id) <= after:
                    await response.write(END_FRAME)
                    return response
                continue  # the terminal event landed after the last page was read
            try:
                await asyncio.wait_for(waiter.wait(), state.config.ping_interval)
            except TimeoutError:
                await response.write(PING_FRAME)
    except ConnectionResetError:
        pass  # the client went away: nothing to tell anyone
    return response
