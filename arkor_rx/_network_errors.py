"""The transport's one error boundary: network errors in, ``TransportError`` out.

Every call [`arkor_rx.transport`][arkor_rx.transport] makes into aiohttp runs inside
[`network_errors`][arkor_rx.transport.network_errors] (as httpx runs httpcore's inside
``map_httpcore_exceptions``). Messages name the method and the URL without
user info or query, never a header. A refused connection says that no server
is listening there and, for a loopback URL, how to start the local backend.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
from collections.abc import Iterator

import aiohttp
from yarl import URL

from arkor_rx.errors import TransportError

__all__ = ["display_url", "network_errors"]

_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


@contextlib.contextmanager
def network_errors(method: str, url: str | URL, *, timeout: float | None = None) -> Iterator[None]:
    """The one boundary where network errors become
    [`TransportError`][arkor_rx.errors.TransportError].

    Wrap every call into aiohttp in it. aiohttp's ``ClientError``, ``OSError``
    and ``TimeoutError`` leave it as a ``TransportError`` naming the method and
    the URL (never a header), with the original as ``__cause__``. Anything
    else (our own errors, a cancellation) passes through untouched.

    Examples:
        >>> with network_errors("GET", "http://127.0.0.1:9/v1/jobs"):
        ...     raise ConnectionResetError("reset")
        Traceback (most recent call last):
          ...
        arkor_rx.errors.TransportError: GET http://127.0.0.1:9/v1/jobs: ConnectionResetError: reset

    Args:
        method: the request's method, for the message.
        url: the request's URL, for the message (user info and query are left out).
        timeout: the deadline in seconds that the block runs under, if any: a
            ``TimeoutError`` then reads "no answer within <timeout> s" rather
            than "timed out".

    Raises:
        TransportError: a network error happened inside the block.
    """
    try:
        yield
    except _NETWORK_ERRORS as exc:
        target = URL(url) if isinstance(url, str) else url
        reason = _describe(exc, target, timeout)
        raise TransportError(f"{method} {display_url(target)}: {reason}") from exc


def display_url(url: str | URL) -> str:
    """The URL without user info or query: safe and short for messages."""
    parsed = URL(url) if isinstance(url, str) else url
    try:
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except ValueError:  # a relative URL has no user to drop
        return str(parsed.with_query(None))


def _describe(exc: BaseException, target: URL, timeout: float | None) -> str:
    """What went wrong, for a person: a refusal says what to do about it."""
    if isinstance(exc, TimeoutError):
        return "timed out" if timeout is None else f"no answer within {timeout:g} s"
    if _refused(exc):
        origin = display_url(target.origin()) if target.absolute else str(target)
        if _is_loopback(target.host):
            return (
                f"connection refused: no server is running at {origin}; "
                "start the local backend with `arkor-rx serve` (or check the port)"
            )
        return (
            f"connection refused: no server is listening at {origin}; "
            f"check the URL (ARKOR_CLOUD_API_URL) and that the server is up"
        )
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _refused(exc: BaseException) -> bool:
    os_error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    return isinstance(os_error, ConnectionRefusedError) or (
        isinstance(os_error, OSError) and os_error.errno == errno.ECONNREFUSED
    )


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
