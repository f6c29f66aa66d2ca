"""Every error the local backend answers, in the protocol's JSON shape.

Rule 1: an error is ``{"error": "<message>", ...}`` with a non-2xx status and
``Content-Type: application/json``: 400 bad input (the message names the
field), 401 bad or missing token, 404 unknown job, route or checkpoint, 405
method not allowed, 408 a body slower than the body timeout, 409 cancel of a
finished job, 413 body over ``max_body_size``, 500 a damaged artifact (named)
or a bug (logged, never with the token).

Rule 2: handlers do not build error responses; they raise
[`ApiError`][arkor_rx.server.http_errors.ApiError]
(or [`ConfigError`][arkor_rx.errors.ConfigError] for a 400) and
[`errors_middleware`][arkor_rx.server.http_errors.errors_middleware] shapes it. Requests that never
reach a handler
(aiohttp's parser refused them) are shaped by
`arkor_rx.server.connection`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from arkor_rx._printable import quoted as shown
from arkor_rx.errors import ConfigError

__all__ = [
    "ApiError",
    "auth_middleware",
    "error_response",
    "errors_middleware",
    "read_json_object",
    "shown",
]

_log = logging.getLogger("arkor_rx.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY_KEY: Final = web.AppKey("arkor_rx.server.max_body_size", int)
BODY_TIMEOUT_KEY: Final = web.AppKey("arkor_rx.server.body_timeout", float)


class ApiError(Exception):
    """An error answer: raise it from a handler; the middleware sends it as JSON.

    Examples:
        >>> ApiError(404, "unknown job 'x'").status
        404
    """

    def __init__(self, status: int, message: str, /, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(status: int, message: str, /, **extra: Any) -> web.Response:
    """The JSON error answer ``{"error": message, **extra}``."""
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every exception of a handler into a JSON error answer."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.message, **exc.extra)
        if exc.status == 408:
            response.force_close()  # the rest of the body may still be on its way
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 413:
            limit = request.app[MAX_BODY_KEY]
            message = f"request body too large: the limit is {limit} bytes"
        elif exc.status == 404:
            message = f"no route {request.method} {shown(request.path)}"
        elif exc.status == 405:
            message = f"method {request.method} not allowed on {shown(request.path)}"
        response = error_response(exc.status, message)
        for name in ("Allow", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except ConfigError as exc:
        return error_response(400, str(exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        _log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal server error")


def auth_middleware(token: str, *, open_routes: frozenset[str] = frozenset()) -> Any:
    """A middleware that answers 401 unless ``Authorization: Bearer <token>`` (constant time).

    The routes named in ``open_routes`` (the deployments' data plane, which
    checks its own keys) pass without the token. They are told by the route
    the router matched, not by a path prefix, so no spelling of a path
    reaches another route without the token.
    """
    expected = token.encode("utf-8")

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if open_routes and request.match_info.route.name in open_routes:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), expected
        )
        if not ok:
            response = error_response(401, "missing or invalid bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="arkor-rx"'
            return response
        return await handler(request)

    return auth


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        ApiError: 408 when the body takes longer than the body timeout.
        web.HTTPRequestEntityTooLarge: past ``max_body_size`` (413 from the middleware).
        ConfigError: not JSON, nested too deeply, or not an object (400).
    """
    timeout = request.app[BODY_TIMEOUT_KEY]
    try:
        raw = await asyncio.wait_for(request.read(), timeout)
    except TimeoutError:
        raise ApiError(
            408, f"request body not received within {timeout:g} s (the body timeout)"
        ) from None
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ConfigError("request body is nested too deeply to be a job or chat request") from None
    except (ValueError, UnicodeDecodeError):
        raise ConfigError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ConfigError("request body must be a JSON object")
    return body
