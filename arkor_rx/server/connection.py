"""Below the routes: requests aiohttp's parser refuses, and slow clients.

aiohttp answers a request it cannot parse (a request line, URL, query or
header over 8190 bytes, more than 128 headers, broken chunked framing,
``Content-Length`` together with ``Transfer-Encoding``, a bad method ...)
itself, from ``RequestHandler.handle_error``, in ``text/plain``, before any
middleware runs. :class:`JsonErrorRunner` is an ``AppRunner`` whose
connections use :class:`JsonErrorHandler`, which answers the same status in
the protocol's JSON shape instead.

Rule 1: the message says what was wrong in aiohttp's words, but never echoes
the request's bytes (the parser's message quotes them, and they may hold the
bearer token): only its first line, before any quoted excerpt.

Rule 2: slow clients are cut. A connection must send a complete request line
and headers within ``header_timeout`` seconds of opening or of its previous
response ending (aiohttp's keep-alive timer, which it arms when the
connection opens, closes a connection still waiting for a whole request at
that time). A body must arrive within ``body_timeout`` seconds
(:func:`~arkor_rx.server.http_errors.read_json_object`, 408).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

__all__ = ["JsonErrorHandler", "JsonErrorRunner", "JsonErrorServer", "parser_message"]


def parser_message(status: int, message: str | None, exc: BaseException | None) -> str:
    """What to tell a client whose request aiohttp refused: safe to send.

    Examples:
        >>> parser_message(400, "Invalid header value char:\\n\\n  b'Authorization: x'", None)
        'malformed HTTP request: Invalid header value char'
    """
    if status >= 500:
        return "internal server error"
    first = (message or (str(exc) if exc is not None else "") or "").split("\n", 1)[0]
    first = first.strip().rstrip(":").strip()
    return f"malformed HTTP request: {first or 'cannot be parsed'}"


class JsonErrorHandler(RequestHandler):
    """aiohttp's request handler, answering parser errors as protocol JSON."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON error answer for a request aiohttp refused; it closes the connection."""
        # The base class logs and raises ConnectionError when a response was already
        # started; its text/plain body is discarded.
        super().handle_error(request, status, exc, message)
        body = json.dumps({"error": parser_message(status, message, exc)})
        response = web.Response(status=status, text=body, content_type="application/json")
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """A low-level ``web.Server`` whose connections use :class:`JsonErrorHandler`."""

    def __init__(self, base: web.Server, handler_kwargs: dict[str, Any]) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **handler_kwargs,
        )
        self._handler_kwargs = handler_kwargs

    def __call__(self) -> RequestHandler:
        return JsonErrorHandler(self, loop=asyncio.get_running_loop(), **self._handler_kwargs)


class JsonErrorRunner(web.AppRunner):
    """``web.AppRunner`` serving the app through :class:`JsonErrorServer`.

    Args:
        app: the application.
        header_timeout: seconds to receive a whole request line and headers.
        **kwargs: as for ``web.AppRunner`` (``access_log``, ``shutdown_timeout`` ...).
    """

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        kwargs["keepalive_timeout"] = header_timeout
        self._handler_kwargs = {"access_log_class": AccessLogger}
        self._handler_kwargs.update(
            (k, v) for k, v in kwargs.items() if k not in ("handle_signals", "shutdown_timeout")
        )
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        base = await super()._make_server()  # runs the app's startup
        return JsonErrorServer(base, self._handler_kwargs)
