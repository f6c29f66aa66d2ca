"""What every request to the web dashboard must pass: the Host check, the launch token, the headers.

Rule 1: a request whose ``Host`` header is not the address served is refused
with 403 before anything else (DNS rebinding: a hostile page whose name now
points at 127.0.0.1 sends its own name as the Host).

Rule 2: every request under ``/api/`` carries the launch token in the header
``X-Arkor-Dashboard-Token``; only ``GET /api/stream`` may carry it as the
query parameter ``token`` instead (``EventSource`` cannot set headers), so the
token is in as few URLs as can be. It is compared in constant time. Without
it: 401; a wrong one: 403. State-changing routes are POST and take the token
from the header only (a cross-site form cannot set a header).

Rule 3: every answer carries a Content-Security-Policy with no inline script,
``nosniff``, ``no-referrer`` (the page's URL holds the token once) and no
CORS header at all.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = [
    "CSP",
    "QUERY_TOKEN_PATH",
    "TOKEN_HEADER",
    "allowed_hosts",
    "harden",
    "host_allowed",
    "new_token",
    "security_middleware",
]

TOKEN_HEADER = "X-Arkor-Dashboard-Token"
"""The header that carries the launch token."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The Content-Security-Policy of every answer: only our own files, no inline script."""

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

QUERY_TOKEN_PATH = "/api/stream"
"""The one route that may carry the launch token as ``?token=`` (an ``EventSource``)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    """A fresh launch token (``secrets.token_urlsafe``, 256 bits)."""
    return secrets.token_urlsafe(32)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_hosts(host: str) -> tuple[frozenset[str], bool]:
    """The host names a request may name for a server bound to ``host``.

    Returns:
        The names, and whether any IP literal is accepted too (a wildcard bind,
        ``0.0.0.0`` or ``::``: the address the browser used is not known, but a
        DNS-rebinding page always sends a name, never an IP literal).

    Examples:
        >>> sorted(allowed_hosts("127.0.0.1")[0])
        ['127.0.0.1', '::1', 'localhost']
        >>> allowed_hosts("0.0.0.0")[1]
        True
    """
    names = {host.lower().strip("[]"), *_LOOPBACK_NAMES}
    return frozenset(names), host in ("0.0.0.0", "::", "")


def host_allowed(header: str | None, port: int, names: frozenset[str], any_ip: bool) -> bool:
    """Whether a ``Host`` header names the address served (its name and port).

    Examples:
        >>> names, any_ip = allowed_hosts("127.0.0.1")
        >>> host_allowed("127.0.0.1:8766", 8766, names, any_ip)
        True
        >>> host_allowed("evil.example:8766", 8766, names, any_ip)
        False
        >>> host_allowed("localhost:9999", 8766, names, any_ip)
        False
    """
    if not header:
        return False
    text = header.strip().lower()
    if text.startswith("["):  # [::1]:8766
        name, _, rest = text[1:].partition("]")
        given = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, given = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if given != str(port):
        return False
    return name in names or (any_ip and _is_ip(name))


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _token_ok(request: web.Request, token: str) -> web.Response | None:
    given = request.headers.get(TOKEN_HEADER)
    if given is None and request.method == "GET" and request.path == QUERY_TOKEN_PATH:
        given = request.query.get("token")
    if not given:
        return _refuse(401, f"missing dashboard token (send the {TOKEN_HEADER} header)")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _refuse(403, "wrong dashboard token")
    return None


def harden(response: web.StreamResponse) -> None:
    """Set the security headers of Rule 3 on an answer not yet sent."""
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Cache-Control", "no-store")


def security_middleware(token: str, host: str, port: Callable[[], int]) -> Middleware:
    """The middleware enforcing Rules 1 to 3 for a server bound to ``host``.

    Args:
        token: the launch token.
        host: the address bound.
        port: the port actually served (known once the site started; port 0 picks one).
    """
    names, any_ip = allowed_hosts(host)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host"), port(), names, any_ip):
            response: web.StreamResponse = _refuse(403, "this Host is not the dashboard's address")
        elif request.path.startswith("/api/") and (refused := _token_ok(request, token)):
            response = refused
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = _refuse(exc.status, exc.reason)
        if not response.prepared:
            harden(response)
        return response

    return check
