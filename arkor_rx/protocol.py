"""Constants and pure helpers of the Arkor cloud API wire protocol.

Rule 1: no I/O here. No socket, no loop, no file, no clock (functions that
need "now" take it as an argument, defaulting to the current time only when
the caller leaves it out). The client, the reactive core and the local server
all read the same names from this module, so they cannot drift apart.

Rule 2: routes are built by the functions below and nowhere else. Path
segments taken from callers (job ids) are percent-encoded, so an id can never
escape its route.

Rule 3: the status rule has one home, ``arkor_rx._statuses``, re-exported here
([`is_transient_status`][arkor_rx.protocol.is_transient_status];
``CloudApiError.is_permanent`` and ``arkor_rx.retry.is_transient`` ask it). It
matches the official SDK's reconnect behaviour (``/work/shared/PROTOCOL.md``):
401, 403, 410 and 426 are permanent; 404, 408, 429 and every 5xx are
transient; every other non-2xx is permanent too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from arkor_rx._statuses import PERMANENT_STATUSES, TRANSIENT_STATUSES, is_transient_status
from arkor_rx._version import __version__
from arkor_rx.errors import ConfigError

__all__ = [
    "ACCEPT_HEADER",
    "AUTHORIZATION_HEADER",
    "CACHE_CONTROL_HEADER",
    "CLIENT_HEADER",
    "CLIENT_NAME",
    "CREDENTIALS_FILE",
    "DEFAULT_BASE_URL",
    "ENV_API_URL",
    "ENV_ORG_SLUG",
    "ENV_PROJECT_SLUG",
    "ENV_TOKEN",
    "EVENT_STREAM_CONTENT_TYPE",
    "INFERENCE_PATH",
    "JSON_CONTENT_TYPE",
    "LAST_EVENT_ID_HEADER",
    "ORG_PARAM",
    "PERMANENT_STATUSES",
    "PROJECT_PARAM",
    "RETRY_AFTER_HEADER",
    "STATE_FILE",
    "TRANSIENT_STATUSES",
    "UPGRADE_HINT",
    "USER_AGENT",
    "USER_AGENT_HEADER",
    "__version__",
    "cancel_path",
    "endpoint_key_path",
    "endpoint_keys_path",
    "endpoint_path",
    "endpoints_path",
    "error_message",
    "events_path",
    "is_transient_status",
    "job_path",
    "jobs_path",
    "parse_retry_after",
    "scope_params",
]

CLIENT_NAME = "arkor_rx"
"""The name this library identifies itself with (``X-Arkor-Client``)."""


USER_AGENT = f"{CLIENT_NAME}/{__version__}"
"""``arkor_rx/<version>``: the ``X-Arkor-Client`` and ``User-Agent`` value."""

DEFAULT_BASE_URL = "https://api.arkor.ai"
"""The production Arkor cloud API, used when nothing else names a base URL."""

# --- environment and files (read by arkor_rx.credentials) -------------------

ENV_API_URL = "ARKOR_CLOUD_API_URL"
"""Overrides the base URL (the official CLI reads it too)."""
ENV_TOKEN = "ARKOR_TOKEN"
"""arkor_rx extension: a bearer token that overrides the credentials file."""
ENV_ORG_SLUG = "ARKOR_ORG_SLUG"
"""arkor_rx extension: overrides the organisation slug."""
ENV_PROJECT_SLUG = "ARKOR_PROJECT_SLUG"
"""arkor_rx extension: overrides the project slug."""
CREDENTIALS_FILE = (".arkor", "credentials.json")
"""Where the official CLI keeps credentials, relative to the home folder."""
STATE_FILE = (".arkor", "state.json")
"""Where the official CLI keeps the project scope, relative to the project folder."""

# --- headers and query parameters --------------------------------------------

AUTHORIZATION_HEADER = "Authorization"
CLIENT_HEADER = "X-Arkor-Client"
USER_AGENT_HEADER = "User-Agent"
ACCEPT_HEADER = "Accept"
CACHE_CONTROL_HEADER = "Cache-Control"
LAST_EVENT_ID_HEADER = "Last-Event-ID"
RETRY_AFTER_HEADER = "Retry-After"
EVENT_STREAM_CONTENT_TYPE = "text/event-stream"
JSON_CONTENT_TYPE = "application/json"

ORG_PARAM = "orgSlug"
PROJECT_PARAM = "projectSlug"

UPGRADE_HINT = (
    "this arkor_rx version is too old for the server; upgrade it: pip install -U arkor_rx"
)
"""Appended to the message of a 426 answer."""

# --- routes -------------------------------------------------------------------

INFERENCE_PATH = "/v1/inference/chat"
"""``POST``: chat inference, streamed (SSE) or one JSON body."""


def scope_params(org_slug: str, project_slug: str) -> dict[str, str]:
    """The query parameters every scoped route takes.

    >>> scope_params("acme", "demo")
    {'orgSlug': 'acme', 'projectSlug': 'demo'}
    """
    return {ORG_PARAM: org_slug, PROJECT_PARAM: project_slug}


def jobs_path() -> str:
    """``POST``: create a job.

    >>> jobs_path()
    '/v1/jobs'
    """
    return "/v1/jobs"


def job_path(job_id: str) -> str:
    """``GET``: one job (and maybe its past events). The id is percent-encoded.

    Raises:
        ConfigError: the id is empty, ``.`` or ``..``.

    >>> job_path("j 1/x")
    '/v1/jobs/j%201%2Fx'
    """
    return f"/v1/jobs/{_segment(job_id)}"


def cancel_path(job_id: str) -> str:
    """``POST``: cancel a job.

    >>> cancel_path("j1")
    '/v1/jobs/j1/cancel'
    """
    return f"{job_path(job_id)}/cancel"


def events_path(job_id: str) -> str:
    """``GET``: the job's Server-Sent Events stream.

    >>> events_path("j1")
    '/v1/jobs/j1/events/stream'
    """
    return f"{job_path(job_id)}/events/stream"


def endpoints_path() -> str:
    """``GET``: list deployments; ``POST``: create one.

    >>> endpoints_path()
    '/v1/endpoints'
    """
    return "/v1/endpoints"


def endpoint_path(deployment_id: str) -> str:
    """``GET``/``PATCH``/``DELETE``: one deployment. The id is percent-encoded.

    Raises:
        ConfigError: the id is empty, ``.`` or ``..``.

    >>> endpoint_path("d 1")
    '/v1/endpoints/d%201'
    """
    return f"{endpoints_path()}/{_segment(deployment_id, 'deployment id')}"


def endpoint_keys_path(deployment_id: str) -> str:
    """``GET``: a deployment's keys; ``POST``: issue one.

    >>> endpoint_keys_path("d1")
    '/v1/endpoints/d1/keys'
    """
    return f"{endpoint_path(deployment_id)}/keys"


def endpoint_key_path(deployment_id: str, key_id: str) -> str:
    """``DELETE``: revoke one key of a deployment.

    >>> endpoint_key_path("d1", "k/1")
    '/v1/endpoints/d1/keys/k%2F1'
    """
    return f"{endpoint_keys_path(deployment_id)}/{_segment(key_id, 'key id')}"


def _segment(value: str, what: str = "job id") -> str:
    if not isinstance(value, str) or value in ("", ".", ".."):
        # "." and ".." survive percent-encoding and would be resolved as dot segments.
        raise ConfigError(f"invalid {what} {value!r}: expected a non-empty string")
    return quote(value, safe="")


# --- statuses: the rule lives in arkor_rx._statuses, re-exported here ----------


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or None.

    Both forms of RFC 9110 §10.2.3 are understood: delta-seconds (``"120"``;
    a decimal such as ``"1.5"`` is tolerated) and an HTTP-date, which is
    measured from ``now`` (default: the current UTC time) and clamped at 0
    when it lies in the past.

    Args:
        value: the header value, or None when the header was absent.
        now: the reference time for an HTTP-date (naive values are taken as UTC).

    Returns:
        A non-negative number of seconds, or None when the value is absent,
        negative or unparseable.

    Examples:
        >>> parse_retry_after("120")
        120.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT",
        ...                   now=datetime(2015, 10, 21, 7, 28, tzinfo=UTC))
        30.0
        >>> parse_retry_after("soon") is None
        True
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ref = now if now is not None else datetime.now(UTC)
    if ref.tzinfo is None:
        ref = ref.replace(tzinfo=UTC)
    return max(0.0, (when - ref).total_seconds())


_MAX_MESSAGE_CHARS = 1000


def error_message(
    status: int, body: bytes, *, redact: Callable[[str], str] | None = None
) -> tuple[str, object]:
    """The message and decoded body of a non-2xx answer.

    The message is the body's ``error`` field when the body is a JSON object
    with one (a string, or an object with a string ``message``); else the body
    text (whitespace-trimmed, cut at 1000 characters); else ``cloud-api
    <status>`` for an empty body.

    Args:
        status: the HTTP status.
        body: the raw answer bytes.
        redact: applied to the message before it is cut, so that a secret
            is never left half-shown at the cut. The decoded body is
            returned as it is: redact it separately.

    Returns:
        ``(message, decoded)``, where ``decoded`` is the parsed JSON value, or
        None when the body is not JSON.

    Examples:
        >>> error_message(409, b'{"error": "job already finished"}')
        ('job already finished', {'error': 'job already finished'})
        >>> error_message(502, b"Bad Gateway")
        ('Bad Gateway', None)
        >>> error_message(500, b"")
        ('cloud-api 500', None)
    """
    text = body.decode("utf-8", errors="replace").strip()
    decoded: object = None
    if text:
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past the stack
            decoded = None
    shown = redact if redact is not None else _same
    if isinstance(decoded, dict):
        err = decoded.get("error")
        if isinstance(err, dict):
            err = err.get("message")
        if isinstance(err, str) and err.strip():
            return _clip(shown(err.strip())), decoded
    if text:
        return _clip(shown(text)), decoded
    return f"cloud-api {status}", decoded


def _same(text: str) -> str:
    return text


def _clip(text: str) -> str:
    if len(text) <= _MAX_MESSAGE_CHARS:
        return text
    return text[:_MAX_MESSAGE_CHARS] + "…"
