"""The routes that act on the backend: cancel a run, ask a checkpoint or the final adapter.

Rule 1: the backend is reached only through the dashboard's own
[`ArkorClient`][arkor_rx.ArkorClient]; its bearer token stays in this
process. The browser holds only the dashboard's launch token.

Rule 2: a run is cancelled once: the second ``POST .../cancel`` answers 409
without asking the backend again. A backend refusal is 409 with its message;
a dashboard without a backend (a replay) answers 409 too.

Rule 3: what the backend says back (an error, an answer's text) is
scrubbed as the runs are (the feed's ``scrub``): a server echoing the token
or a presigned URL does not get it to the page.

Rule 4: ``POST .../chat`` streams the answer as it is generated, as
Server-Sent Events: ``data: {"delta": "..."}`` frames, then ``event: done``
(or ``event: error`` with the message when the backend fails mid-answer).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from arkor_rx.dashboard.web._security import harden
from arkor_rx.errors import ArkorError, CloudApiError

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard.web._feed import WebFeed

__all__ = ["MAX_PROMPT", "Actions"]

MAX_PROMPT = 4000
"""The longest question the playground sends, in characters."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Actions:
    """Cancel and chat for the runs of one dashboard (Rules 1 to 4)."""

    def __init__(self, feed: WebFeed, client: ArkorClient | None) -> None:
        self.feed = feed
        self.client = client
        self.cancelled: set[str] = set()

    def _known(self, request: web.Request) -> str | web.Response:
        key = request.match_info["run"]
        if key not in self.feed:
            return _error(404, "no such run")
        if self.client is None:
            return _error(409, "this dashboard has no backend (it shows recordings)")
        return key

    async def cancel(self, request: web.Request) -> web.Response:
        """``POST /api/runs/{run}/cancel``."""
        key = self._known(request)
        if isinstance(key, web.Response):
            return key
        if key in self.cancelled:
            return _error(409, "a cancel was already sent for this run")
        assert self.client is not None
        self.cancelled.add(key)
        try:
            await self.client.cancel_job(key)
        except CloudApiError as exc:
            return _error(409, self.feed.scrub.text(str(exc)))
        except ArkorError as exc:
            self.cancelled.discard(key)  # never reached the backend: may be tried again
            return _error(502, self.feed.scrub.text(str(exc)))
        return web.json_response({"cancelled": key}, status=202)

    @staticmethod
    async def _question(request: web.Request) -> tuple[str, int | None] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body must be JSON")
        prompt = body.get("prompt") if isinstance(body, dict) else None
        step = body.get("step") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT:
            return _error(
                400, f"prompt must be a non-empty string of at most {MAX_PROMPT} characters"
            )
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
            return _error(400, "step must be a checkpoint's step, or null for the final adapter")
        return prompt, step

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/runs/{run}/chat`` with ``{"prompt", "step"}`` (``step`` null: final)."""
        from arkor_rx.inference import checkpoint_adapter, final_adapter

        key = self._known(request)
        if isinstance(key, web.Response):
            return key
        asked = await self._question(request)
        if isinstance(asked, web.Response):
            return asked
        prompt, step = asked
        assert self.client is not None
        adapter = final_adapter(key) if step is None else checkpoint_adapter(key, step)
        try:
            answer = await self.client.infer(
                [{"role": "user", "content": prompt}], adapter=adapter, stream=True, max_tokens=120
            )
        except ArkorError as exc:
            return _error(502, self.feed.scrub.text(str(exc)))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        harden(response)
        await response.prepare(request)
        try:
            async with answer:
                async for delta in answer:
                    await response.write(_sse({"delta": self.feed.scrub.text(delta)}))
            await response.write(_sse({}, "done"))
        except ArkorError as exc:
            await response.write(_sse({"error": self.feed.scrub.text(str(exc))}, "error"))
        return response
