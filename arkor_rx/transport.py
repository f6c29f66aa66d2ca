"""The one I/O seam of the client: HTTP over aiohttp.

Rule 1: this is the only client-side module that imports aiohttp (with its
error boundary, ``arkor_rx._network_errors``). Everything
above it (``client``, the reactive core) speaks to the two small protocols
below, [`Transport`][arkor_rx.transport.Transport] and
[`StreamResponse`][arkor_rx.transport.StreamResponse], so a test can plug in
a fake without a socket.

Rule 2: foreign errors stop here, at one boundary: every call into aiohttp
runs inside [`network_errors`][arkor_rx.transport.network_errors], which turns aiohttp's
``ClientError``,
``OSError`` and ``TimeoutError`` into [`TransportError`][arkor_rx.errors.TransportError]
with ``raise ... from exc`` (as httpx's ``map_httpcore_exceptions`` does for
httpcore); nothing else from aiohttp escapes. A refused connection says that
no server is listening and, for a loopback URL, how to start the local one.
A non-2xx status is *not* an error at this level: it is returned, and the
client decides.

Rule 3: one ``aiohttp.ClientSession`` per transport, created lazily inside the
running event loop (a session belongs to the loop it was made in) and closed
by [`AiohttpTransport.aclose`][arkor_rx.transport.AiohttpTransport.aclose].

Rule 4: redirects are followed by hand (at most ``max_redirects``), never by
aiohttp, so that the ``Authorization`` header is dropped as soon as a redirect
leaves the origin (scheme, host and port) of the request that carried it.

Rule 5: an answer is bounded. A plain answer's body is read up to
``max_answer_bytes`` (default [`MAX_ANSWER_BYTES`][arkor_rx.transport.MAX_ANSWER_BYTES],
64 MiB, after decompression); a longer one is a `TransportError`, read no
further. A transport made with ``discard_bodies=True`` (the webhook sink's: only
the status matters) reads no body at all.

Rule 6: no header value is ever logged or put in an error message; errors
name the method and the URL only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from arkor_rx._closing import AsyncClosing
from arkor_rx._network_errors import display_url as _display
from arkor_rx._network_errors import network_errors
from arkor_rx.errors import ConfigError, TransportError
from arkor_rx.protocol import AUTHORIZATION_HEADER

__all__ = [
    "MAX_ANSWER_BYTES",
    "AiohttpStreamResponse",
    "AiohttpTransport",
    "Response",
    "StreamResponse",
    "Transport",
    "network_errors",
]

logger = logging.getLogger(__name__)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The most body bytes read of a plain (non-stream) answer by default: 64 MiB
(10,000 jobs are about 5 MB); past it, a `TransportError`, not a growing process."""


class Response(NamedTuple):
    """A complete answer to a plain request. Unpacks as ``status, headers, body``."""

    status: int
    """The HTTP status code."""
    headers: Mapping[str, str]
    """The answer headers (case-insensitive lookup with the aiohttp transport)."""
    body: bytes
    """The whole body."""


@runtime_checkable
class StreamResponse(Protocol):
    """An open answer whose body is read as it arrives: what the reactive core reads.

    A plain object with ``status`` and ``headers`` attributes satisfies it too.
    """

    @property
    def status(self) -> int:
        """The HTTP status code."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer headers."""
        ...

    async def read_chunk(self) -> bytes:
        """The next bytes as they arrive, of any size; ``b""`` at the end of the body.

        Raises:
            TransportError: the connection failed or dropped mid-body.
        """
        ...

    async def aclose(self) -> None:
        """Release the connection. Idempotent; safe after EOF or an error."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Sends HTTP requests. [`AiohttpTransport`][arkor_rx.transport.AiohttpTransport] is the real
    one; tests may fake it.

    ``params`` are query parameters (URL-encoded by the transport), ``json`` a
    JSON-serialisable body. Implementations raise
    [`TransportError`][arkor_rx.errors.TransportError] when no answer could be had and
    return every answer, whatever its status.
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        total_timeout: float | None = None,
    ) -> Response:
        """Send a request and read the whole answer (``total_timeout``: seconds for all of it)."""
        ...

    async def open_stream(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> StreamResponse:
        """Send a request and return as soon as the status and headers are in."""
        ...

    async def aclose(self) -> None:
        """Close every connection. Idempotent."""
        ...


class AiohttpStreamResponse:
    """A [`StreamResponse`][arkor_rx.transport.StreamResponse] over an
    ``aiohttp.ClientResponse``."""

    def __init__(self, response: aiohttp.ClientResponse, *, description: str) -> None:
        self._response = response
        self._description = description
        self._closed = False

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer headers (case-insensitive)."""
        return self._response.headers

    async def read_chunk(self) -> bytes:
        """Whatever body bytes are buffered, waiting for some if none are; ``b""`` at EOF.

        No timeout applies here: the caller (the stream's idle watchdog) decides
        how long silence may last. Returns ``b""`` once closed.

        Raises:
            TransportError: the connection failed or dropped mid-body.
        """
        if self._closed:
            return b""
        with network_errors(self._response.method, self._response.url):
            return await self._response.content.readany()

    async def aclose(self) -> None:
        """Close the connection (a body not read to the end cannot be reused). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()

    def __repr__(self) -> str:
        return f"<AiohttpStreamResponse {self._description} status={self.status}>"


class AiohttpTransport(AsyncClosing):
    """The real transport: one aiohttp session, hand-followed redirects, translated errors.

    Examples:
        >>> async def main() -> None:  # doctest: +SKIP
        ...     transport = AiohttpTransport()
        ...     try:
        ...         status, headers, body = await transport.request("GET", "http://127.0.0.1:8765/")
        ...     finally:
        ...         await transport.aclose()

    Args:
        request_timeout: seconds a plain request may take in total, and seconds
            a stream may take to answer with its status and headers.
        connect_timeout: seconds to open a TCP (and TLS) connection.
        max_redirects: how many redirects to follow before giving up.
        max_connections: most connections open at once (0: no limit).
        max_answer_bytes: the most body bytes read of a plain answer (a longer
            one is a `TransportError`).
        discard_bodies: read no body of a plain answer (``Response.body`` is
            ``b""``): for callers that only need the status.
    """

    def __init__(
        self,
        *,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_redirects: int = 5,
        max_connections: int = 0,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        discard_bodies: bool = False,
    ) -> None:
        if max_connections < 0:
            raise ConfigError(f"max_connections must be >= 0, got {max_connections!r}")
        if type(max_answer_bytes) is not int or max_answer_bytes < 0:
            raise ConfigError(f"max_answer_bytes must be an int >= 0, got {max_answer_bytes!r}")
        self.max_answer_bytes = max_answer_bytes
        """The most body bytes read of a plain answer."""
        self.discard_bodies = discard_bodies
        """True: plain answers' bodies are not read."""
        # aiohttp's default pool holds 100 connections; a dashboard following
        # more running jobs than that would stall stream 101 until a timeout.
        # Streams are long-lived, so the default here is no limit (0).
        self.max_connections = max_connections
        """Most connections open at once (0: no limit)."""
        for name, value in (
            ("request_timeout", request_timeout),
            ("connect_timeout", connect_timeout),
        ):
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        if max_redirects < 0:
            raise ConfigError(f"max_redirects must be >= 0, got {max_redirects!r}")
        self._request_timeout = float(request_timeout)
        self._max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self.request_timeout_config = aiohttp.ClientTimeout(
            total=request_timeout, sock_connect=connect_timeout
        )
        """The timeout of plain requests: all of it within ``request_timeout``."""
        # A job's event stream legitimately stays open for hours, so aiohttp's
        # default 5-minute total timeout would cut every long run. Streams get
        # no total and no read timeout; silence is the business of the reactive
        # core's idle watchdog, which knows about keepalives and reconnects.
        # Only connecting is bounded here, plus (in open_stream) the wait for
        # the status line and headers.
        self.stream_timeout_config = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=None
        )
        """The timeout of streams: connect only; no total, no read timeout."""

    @property
    def closed(self) -> bool:
        """True once [`aclose`][arkor_rx.transport.AiohttpTransport.aclose] ran."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the transport is closed; create a new client")
        if self._session is None:
            # Created here, inside the running loop, never in __init__.
            self._session = aiohttp.ClientSession(
                timeout=self.request_timeout_config,
                connector=aiohttp.TCPConnector(limit=self.max_connections),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        total_timeout: float | None = None,
    ) -> Response:
        """Send a request, follow redirects, and read the whole answer.

        Args:
            method: ``GET``, ``POST``, ...
            url: the absolute URL.
            params: query parameters, URL-encoded here.
            headers: request headers. ``Authorization`` is dropped on a
                cross-origin redirect.
            json: a JSON-serialisable body, or None for no body.
            total_timeout: seconds for the whole exchange; default ``request_timeout``.

        Returns:
            The [`Response`][arkor_rx.transport.Response], whatever its status.

        Raises:
            TransportError: connecting failed, the connection dropped, the
                answer took too long, or there were too many redirects.
        """
        client_timeout = self.request_timeout_config
        if total_timeout is not None:
            client_timeout = aiohttp.ClientTimeout(
                total=total_timeout, sock_connect=self.request_timeout_config.sock_connect
            )
        response = await self._send(
            method, url, params=params, headers=headers, json=json, client_timeout=client_timeout
        )
        try:
            with network_errors(response.method, response.url):
                body = await self._read_body(response)
        finally:
            if response.content.at_eof():
                response.release()  # the connection goes back to the pool
            else:
                response.close()  # a body left unread: the connection cannot be reused
        return Response(response.status, CIMultiDictProxy(CIMultiDict(response.headers)), body)

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, up to ``max_answer_bytes`` (Rule 5)."""
        if self.discard_bodies:
            return b""
        limit, body = self.max_answer_bytes, bytearray()
        declared = response.content_length
        while len(body) <= limit and (declared is None or declared <= limit):
            chunk = await response.content.readany()
            if not chunk:
                return bytes(body)
            body += chunk
        where = f"{response.method} {_display(response.url)}"
        raise TransportError(f"{where}: the answer is longer than {limit} bytes (max_answer_bytes)")

    async def open_stream(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> AiohttpStreamResponse:
        """Send a request, follow redirects, and return once the headers are in.

        The status and headers must arrive within ``request_timeout``; after
        that, reading the body has no time limit at all (see
        `stream_timeout_config`). Close the result with ``aclose()``.

        Raises:
            TransportError: connecting failed, no headers in time, or too many redirects.
        """
        # The hops inside _send translate their own errors; this boundary
        # catches the deadline for the status line and headers.
        with network_errors(method, url, timeout=self._request_timeout):
            async with asyncio.timeout(self._request_timeout):
                response = await self._send(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    json=json,
                    client_timeout=self.stream_timeout_config,
                )
        return AiohttpStreamResponse(response, description=f"{method} {_display(url)}")

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        client_timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        session = self._get_session()
        target = URL(url)
        if params:
            target = target.extend_query(params)
        sent = CIMultiDict(headers or {})
        for _hop in range(self._max_redirects + 1):
            description = f"{method} {_display(target)}"
            with network_errors(method, target):
                response = await session.request(
                    method,
                    target,
                    headers=sent,
                    json=json,
                    timeout=client_timeout,
                    allow_redirects=False,
                )
            location = response.headers.get("Location")
            if response.status not in _REDIRECT_STATUSES or not location:
                return response
            response.release()
            try:
                following = target.join(URL(location))
            except ValueError as exc:
                raise TransportError(f"{description}: bad redirect Location") from exc
            if following.scheme not in ("http", "https"):
                raise TransportError(f"{description}: redirect to a non-HTTP URL")
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                # As browsers and aiohttp do: the redirected request is a GET without a body.
                method, json = "GET", None
            if following.origin() != target.origin() and AUTHORIZATION_HEADER in sent:
                logger.debug(
                    "redirect %s from %s to another origin %s: Authorization dropped",
                    response.status,
                    _display(target.origin()),
                    _display(following.origin()),
                )
                del sent[AUTHORIZATION_HEADER]
            target = following
        raise TransportError(
            f"{method} {_display(URL(url))}: more than {self._max_redirects} redirects"
        )

    async def aclose(self) -> None:
        """Close the session and its connections. Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AiohttpTransport {state} request_timeout={self._request_timeout:g}>"
