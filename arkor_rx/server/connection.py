"""Below the routes: requests aiohttp's parser refuses, and slow clients.

aiohttp answers a request it cannot parse (a request line, URL, query or
header over 8190 bytes, more than 128 headers, broken chunked framing,
``Content-Length`` together with ``Transfer-Encoding``, a bad method ...)
itself, from ``RequestHandler.handle_error``, in ``text/plain``, before any
middleware runs. [`JsonErrorRunner`][arkor_rx.server.connection.JsonErrorRunner] is an ``AppRunner``
whose
connections use [`JsonErrorHandler`][arkor_rx.server.connection.JsonErrorHandler], which answers the
same status in
the protocol's JSON shape instead.

Rule 1: the message says what was wrong in aiohttp's words, but never echoes
the request's bytes (the parser's message quotes them, and they may hold the
bearer token): only its first line, up to the first colon. For the same
reason a refused request is logged at DEBUG with that safe message only,
never with the parser's exception.

Rule 2: slow clients are cut. A connection must send a complete request line
and headers within ``header_timeout`` seconds of opening or of its previous
response ending: [`JsonErrorHandler`][arkor_rx.server.connection.JsonErrorHandler] closes a
connection whose first
request has not arrived by then, and aiohttp's keep-alive timer (set to the
same time) closes one still waiting for its next request after a response.
A body must arrive within ``body_timeout`` seconds
([`read_json_object`][arkor_rx.server.http_errors.read_json_object]: 408, then the
connection closes after at most [`LINGERING_TIME`][arkor_rx.server.connection.LINGERING_TIME] more
seconds).

Two cases cannot be shaped: a header timeout closes the connection without an
answer (aiohttp's timer closes it; there is no request to answer yet, as with
nginx's ``client_header_timeout``), and broken chunk framing *after* the body
began to be read is not handed to the reading handler by aiohttp's parser, so
it ends as the body timeout's 408 (framing broken in the first packet gets
the 400).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_log import AccessLogger
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

__all__ = ["JsonErrorHandler", "JsonErrorRunner", "JsonErrorServer", "parser_message"]

_log = logging.getLogger("arkor_rx.server")

LINGERING_TIME = 2.0
"""Seconds the rest of an unread body is still read (and dropped) after an early answer
(a 408, 413 or 401), so that the client sees the answer before the connection closes."""


def parser_message(status: int, message: str | None, exc: BaseException | None) -> str:
    """What to tell a client whose request aiohttp refused: safe to send.

    Examples:
        >>> parser_message(400, "Invalid header value char:\\n\\n  b'Authorization: x'", None)
        'malformed HTTP request: Invalid header value char'
        >>> parser_message(400, "Got more than 8190 bytes when reading: b'aaa'", LineTooLong(""))
        'malformed HTTP request: the request line or a header is over 8190 bytes'
    """
    if status >= 500:
        return "internal server error"
    if isinstance(exc, LineTooLong):
        return "malformed HTTP request: the request line or a header is over 8190 bytes"
    first = (message or (str(exc) if exc is not None else "") or "").split("\n", 1)[0]
    first = first.split(":", 1)[0].strip()
    return f"malformed HTTP request: {first or 'cannot be parsed'}"


class JsonErrorHandler(RequestHandler):
    """aiohttp's request handler, answering parser errors as protocol JSON.

    It also closes a connection whose first request has not arrived
    ``header_timeout`` seconds after it opened. Recent aiohttp releases arm
    their keep-alive timer for that too; older ones only after a first
    response, so the first request is guarded here whatever the version.
    """

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._first_deadline: asyncio.TimerHandle | None = None
        self.request_seen = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start serving the connection, and the clock of its first request."""
        super().connection_made(transport)
        loop = asyncio.get_running_loop()
        self._first_deadline = loop.call_later(self._header_timeout, self._first_request_late)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Stop the clock; then aiohttp's own clean-up."""
        if self._first_deadline is not None:
            self._first_deadline.cancel()
            self._first_deadline = None
        super().connection_lost(exc)

    def _first_request_late(self) -> None:
        self._first_deadline = None
        # Look once more after the callbacks already queued: bytes read in this same loop
        # iteration have woken the handler task, which marks the request before it yields.
        asyncio.get_running_loop().call_soon(self._close_if_no_request)

    def _close_if_no_request(self) -> None:
        if not self.request_seen:
            self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON error answer for a request aiohttp refused; it closes the connection."""
        if request.writer.output_size > 0:  # as the base class: too late for an answer
            raise ConnectionError("the response was already started; cannot send an error")
        safe = parser_message(status, message, exc)
        if status >= 500:
            self.log_exception("error handling a request", exc_info=exc)
        else:
            _log.debug("refused a request from %s: %s", request.remote, safe)
        body = json.dumps({"error": safe})
        response = web.Response(status=status, text=body, content_type="application/json")
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """A low-level ``web.Server`` whose connections use
    [`JsonErrorHandler`][arkor_rx.server.connection.JsonErrorHandler]."""

    def __init__(
        self, base: web.Server, handler_kwargs: dict[str, Any], *, header_timeout: float
    ) -> None:
        make_request = base.request_factory

        def request_factory(message: Any, payload: Any, protocol: Any, *args: Any) -> Any:
            if isinstance(protocol, JsonErrorHandler):
                protocol.request_seen = True  # a whole request head arrived (or failed to parse)
            return make_request(message, payload, protocol, *args)

        super().__init__(
            base.request_handler,
            request_factory=request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **handler_kwargs,
        )
        self._handler_kwargs = handler_kwargs
        self._header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return JsonErrorHandler(
            self,
            loop=asyncio.get_running_loop(),
            header_timeout=self._header_timeout,
            **self._handler_kwargs,
        )


class JsonErrorRunner(web.AppRunner):
    """``web.AppRunner`` serving the app through
    [`JsonErrorServer`][arkor_rx.server.connection.JsonErrorServer].

    Args:
        app: the application.
        header_timeout: seconds to receive a whole request line and headers.
        **kwargs: as for ``web.AppRunner`` (``access_log``, ``shutdown_timeout`` ...).
    """

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        kwargs["keepalive_timeout"] = header_timeout
        kwargs.setdefault("lingering_time", LINGERING_TIME)
        self._header_timeout = header_timeout
        self._handler_kwargs = {"access_log_class": AccessLogger}
        self._handler_kwargs.update(
            (k, v) for k, v in kwargs.items() if k not in ("handle_signals", "shutdown_timeout")
        )
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        base = await super()._make_server()  # runs the app's startup
        return JsonErrorServer(base, self._handler_kwargs, header_timeout=self._header_timeout)
