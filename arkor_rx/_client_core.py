"""The plumbing every route of [`ArkorClient`][arkor_rx.client.ArkorClient] shares.

Checked constructor arguments, the headers of a request, one call through the
transport, and the translation of an answer into a model or a
[`CloudApiError`][arkor_rx.errors.CloudApiError] (redacted: see
``arkor_rx.client``, Rule 3). Nothing here is public: use ``ArkorClient``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError

from arkor_rx._redaction import Redactor
from arkor_rx.errors import CloudApiError, ConfigError, TransportError, UpgradeRequiredError
from arkor_rx.events import TrainingEvent, event_adapter
from arkor_rx.jobs import TrainingJob, format_validation_error
from arkor_rx.protocol import (
    ACCEPT_HEADER,
    AUTHORIZATION_HEADER,
    CLIENT_HEADER,
    JSON_CONTENT_TYPE,
    RETRY_AFTER_HEADER,
    UPGRADE_HINT,
    USER_AGENT_HEADER,
    error_message,
    parse_retry_after,
)
from arkor_rx.transport import StreamResponse, Transport

__all__ = [
    "MAX_ERROR_BODY",
    "ClientCore",
    "api_error",
    "check_base_url",
    "check_header_value",
    "check_slug",
    "check_token",
    "header",
]

logger = logging.getLogger("arkor_rx.client")  # the client's log, wherever the line is

MAX_ERROR_BODY = 64 * 1024
"""How much of a failed stream's body is read for its error message."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by case-insensitive name (works for plain dicts from fakes too)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def api_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    redactor: Redactor | None = None,
) -> CloudApiError:
    """The [`CloudApiError`][arkor_rx.errors.CloudApiError] for a non-2xx answer
    (``UpgradeRequiredError`` for 426).

    The message comes from [`error_message`][arkor_rx.protocol.error_message];
    ``retry_after`` from the ``Retry-After`` header; ``body`` is the decoded JSON
    object, if any.
    With a ``redactor``, the secret is masked in the decoded message and body
    (however the JSON escaped it) before the error is built.

    Examples:
        >>> err = api_error(429, {"Retry-After": "3"}, b'{"error": "slow down"}')
        >>> (type(err).__name__, err.status, err.message, err.retry_after)
        ('CloudApiError', 429, 'slow down', 3.0)
        >>> api_error(401, {}, rb'{"error": "bad tok\\/SECRET"}', redactor=Redactor("tok/SECRET"))
        CloudApiError('bad *** (HTTP 401)')
    """
    message, decoded = error_message(
        status, body, redact=None if redactor is None else redactor.text
    )
    retry_after = parse_retry_after(header(headers, RETRY_AFTER_HEADER))
    body_obj = decoded if isinstance(decoded, dict) else None
    if redactor is not None and body_obj is not None:
        body_obj = redactor.value(body_obj)
    if status == 426:
        return UpgradeRequiredError(
            status, f"{message}; {UPGRADE_HINT}", body=body_obj, retry_after=retry_after
        )
    return CloudApiError(status, message, body=body_obj, retry_after=retry_after)


def check_base_url(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("base_url must be a non-empty http(s) URL")
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ConfigError("base_url is not a valid URL") from None
    if parts.username is not None or parts.password is not None:
        # Not echoed: the user info may be a secret.
        raise ConfigError("base_url must not contain user info; pass the token as token=")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http:// or https:// URL with a host, got {text!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"base_url must not have a query or fragment, got {text!r}")
    return text.rstrip("/")


def check_slug(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{name} must be a non-empty string (or use ArkorClient.from_env()), got {value!r}"
        )
    return value.strip()


def check_token(token: str | SecretStr) -> SecretStr:
    raw = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError("token must be a non-empty string (or use ArkorClient.from_env())")
    raw = raw.strip()
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise ConfigError("token must not contain whitespace or control characters")
    return SecretStr(raw)


def check_header_value(value: str, name: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise ConfigError(f"{name} must not contain CR, LF or NUL")
    return value


class ClientCore:
    """What the routes of ``ArkorClient`` share; ``ArkorClient.__init__`` sets the fields."""

    _base_url: str
    _token: SecretStr
    _redactor: Redactor
    _client_name: str
    _request_timeout: float
    _transport: Transport
    _params: dict[str, str]

    def _url(self, path: str) -> str:
        return self._base_url + path

    def _headers(self, accept: str = JSON_CONTENT_TYPE) -> dict[str, str]:
        return {
            AUTHORIZATION_HEADER: f"Bearer {self._token.get_secret_value()}",
            CLIENT_HEADER: self._client_name,
            USER_AGENT_HEADER: self._client_name,
            ACCEPT_HEADER: accept,
        }

    def _error(self, status: int, headers: Mapping[str, str], body: bytes) -> CloudApiError:
        # A server (or proxy) that echoes the request headers into its error
        # page must not put the token into our exception: the decoded message
        # and body are redacted, however the JSON spelt the token.
        return api_error(status, headers, body, redactor=self._redactor)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        total: float | None = None,
        query: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        status, headers, body = await self._transport.request(
            method,
            self._url(path),
            params={**self._params, **query} if query else self._params,
            headers=self._headers(),
            json=json_body,
            total_timeout=self._request_timeout if total is None else total,
        )
        logger.debug("%s %s -> %d", method, path, status)
        if not 200 <= status < 300:
            raise self._error(status, headers, body)
        return status, body

    def _object(self, status: int, body: bytes, what: str) -> dict[str, Any]:
        try:
            data = json.loads(body)  # a successful answer: never rewritten
        except (ValueError, RecursionError):  # not JSON, or nested past the stack
            data = None
        if not isinstance(data, dict):
            raise CloudApiError(status, f"unexpected answer to {what}: not a JSON object")
        return data

    def _job(self, status: int, data: Mapping[str, Any], what: str) -> TrainingJob:
        raw = data.get("job", data)
        try:
            return TrainingJob.model_validate(raw)
        except ValidationError as exc:
            # The reason quotes input values: the token must not be among them.
            reason = self._redactor.text(format_validation_error(exc, "job"))
        # Raised out here, so that not even __context__ keeps the unredacted input.
        raise CloudApiError(status, f"unexpected answer to {what}: {reason}")

    def _events(self, data: Mapping[str, Any]) -> list[TrainingEvent]:
        """The ``events`` list of an answer, parsed tolerantly: an entry that is not a
        valid event object is skipped; an unknown type becomes an ``UnknownEvent``."""
        events: list[TrainingEvent] = []
        raw_events = data.get("events")
        for item in raw_events if isinstance(raw_events, list) else []:
            if not isinstance(item, dict):
                continue
            try:
                events.append(event_adapter.validate_python(item))
            except ValidationError:
                continue
        return events

    def _jobs(self, status: int, data: Mapping[str, Any]) -> list[TrainingJob]:
        """The ``jobs`` list of a ``GET /v1/jobs`` answer, every entry a job."""
        raw = data.get("jobs")
        if not isinstance(raw, list):
            raise CloudApiError(status, "unexpected answer to list jobs: no 'jobs' list")
        jobs: list[TrainingJob] = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise CloudApiError(
                    status, f"unexpected answer to list jobs: jobs[{index}] is not an object"
                )
            jobs.append(self._job(status, item, f"list jobs (jobs[{index}])"))
        return jobs

    def _next_cursor(self, status: int, data: Mapping[str, Any], seen: set[str]) -> str | None:
        """The ``nextCursor`` of a page of ``GET /v1/jobs`` (None: the last page), added to
        ``seen``; a cursor seen before would page for ever."""
        cursor = data.get("nextCursor")
        if cursor is None:
            return None
        if not isinstance(cursor, str) or not cursor or cursor in seen:
            raise CloudApiError(status, "unexpected answer to list jobs: a bad nextCursor")
        seen.add(cursor)
        return cursor

    async def _check_stream(self, stream: StreamResponse) -> None:
        """Raise the CloudApiError of a non-2xx stream, after reading its body and closing it."""
        if 200 <= stream.status < 300:
            return
        try:
            body = await self._read_some(stream)
        finally:
            await stream.aclose()
        raise self._error(stream.status, stream.headers, body)

    async def _read_some(self, stream: StreamResponse, limit: int = MAX_ERROR_BODY) -> bytes:
        """Up to ``limit`` bytes of the body; what arrived if it breaks or stalls."""
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._request_timeout):
                while size < limit:
                    chunk = await stream.read_chunk()
                    if not chunk:
                        break
                    parts.append(chunk)
                    size += len(chunk)
        except (TransportError, TimeoutError):
            pass  # the status alone still makes the error
        return b"".join(parts)[:limit]
