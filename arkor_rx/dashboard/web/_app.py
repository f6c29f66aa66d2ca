"""The web dashboard's aiohttp application: the page, its files, and the JSON/SSE API.

Rule 1: the routes, all behind the security middleware
(`arkor_rx.dashboard.web._security`):

| method | path | answer |
| --- | --- | --- |
| GET | ``/`` | the page (no data in it: it fetches the API) |
| GET | ``/static/{file}`` | the page's script and styles, and uPlot |
| GET | ``/api/runs`` | ``{"runs": [row, ...], "seq"}`` |
| GET | ``/api/runs/{run}`` | one run's whole history (read first when not yet here), or 404 |
| GET | ``/api/stream`` | the changes, as Server-Sent Events |
| POST | ``/api/runs/{run}/cancel`` | cancels the job once |
| POST | ``/api/runs/{run}/chat`` | asks a checkpoint or the final adapter |

Rule 2: the static files are read once from the package: no network, no
build step, nothing else on disk is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import PurePath
from typing import TYPE_CHECKING

from aiohttp import web

from arkor_rx.dashboard.web._actions import Actions
from arkor_rx.dashboard.web._security import harden, security_middleware
from arkor_rx.dashboard.web._stream import stream_changes

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard.web._feed import WebFeed

__all__ = ["STATIC_FILES", "build_app"]

STATIC_FILES = (
    "index.html",
    "app.js",
    "charts.js",
    "app.css",
    "uPlot.iife.min.js",
    "uPlot.min.css",
)
"""The files the page is made of."""

_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
"""A static file's content type, by its extension (not the platform's mime table)."""


def _load_static() -> dict[str, tuple[bytes, str]]:
    """Each page file's bytes and content type (a file of another type fails here, at build)."""
    folder = resources.files("arkor_rx.dashboard.web") / "static"
    return {
        name: ((folder / name).read_bytes(), _CONTENT_TYPES[PurePath(name).suffix])
        for name in STATIC_FILES
    }


def build_app(
    feed: WebFeed,
    client: ArkorClient | None,
    token: str,
    host: str,
    port: Callable[[], int],
    history: Callable[[str], Awaitable[None]] | None = None,
) -> web.Application:
    """The application serving ``feed`` (Rule 1).

    Args:
        feed: the runs to show.
        client: the backend for cancel and chat (None: both answer 409).
        token: the launch token every ``/api/`` request must carry.
        host: the address bound (for the Host check).
        port: the port served, once known.
        history: reads a run's whole history into ``feed``, awaited before a run's
            ``/api/runs/{run}`` answer (None: every history is in ``feed`` already).
    """
    files = _load_static()
    actions = Actions(feed, client)
    app = web.Application(middlewares=[security_middleware(token, host, port)])

    def static(name: str) -> web.Response:
        body, content_type = files[name]
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def index(request: web.Request) -> web.Response:
        return static("index.html")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files or name == "index.html":
            raise web.HTTPNotFound(reason="no such file")
        return static(name)

    async def runs(request: web.Request) -> web.Response:
        return web.json_response(feed.snapshot())

    async def run(request: web.Request) -> web.Response:
        key = request.match_info["run"]
        if history is not None and key in feed:
            await history(key)
        found = feed.detail(key)
        if found is None:
            return web.json_response({"error": "no such run"}, status=404)
        return web.json_response(found)

    async def stream(request: web.Request) -> web.StreamResponse:
        return await stream_changes(request, feed, harden)

    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/api/runs", runs)
    app.router.add_get("/api/runs/{run}", run)
    app.router.add_get("/api/stream", stream)
    app.router.add_post("/api/runs/{run}/cancel", actions.cancel)
    app.router.add_post("/api/runs/{run}/chat", actions.chat)
    return app
