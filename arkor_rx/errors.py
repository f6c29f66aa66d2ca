"""The one tree of arkor_rx exceptions.

Every error the library raises on purpose derives from [`ArkorError`][arkor_rx.errors.ArkorError],
so
``except ArkorError`` catches all of them; a few also derive from the standard
exception a caller would naturally catch (``ValueError`` for bad input)::

    ArkorError
    ├── ConfigError (ValueError)         bad argument, config value or credentials file
    │   └── DatasetError                 a dataset that cannot be read (names file and line)
    ├── SSEError (ValueError)            an event stream that cannot be decoded
    │   └── SSELimitError                a line or event over the decoder's size limit
    ├── CloudApiError                    a non-2xx answer (``.status``, message from the body)
    │   └── UpgradeRequiredError         426: this client is too old for the server
    ├── TransportError                   the connection failed, dropped or went silent
    │   └── StreamIdleTimeout            no bytes at all for ``idle_timeout`` seconds
    └── ReconnectExhaustedError          too many failures in a row; ``__cause__`` is the last

The sinks' own errors derive from it too and live beside the sinks, in
[`arkor_rx.sinks`][arkor_rx.sinks]: ``MissingExtraError`` (an optional
library is not installed), ``RunErrors`` (a write failed for some runs of
its batch, each with its error) and ``WebhookError`` (a notice could not be
delivered).

Foreign errors (aiohttp, asyncio, OS) are translated into this tree at one
boundary, ``arkor_rx.transport``, with ``raise ... from exc`` so that the
original is kept as ``__cause__``.

Rule: no exception message or attribute ever holds the bearer token.
"""

from __future__ import annotations

from arkor_rx._statuses import is_transient_status

__all__ = [
    "ArkorError",
    "CloudApiError",
    "ConfigError",
    "DatasetError",
    "ReconnectExhaustedError",
    "SSEError",
    "SSELimitError",
    "StreamIdleTimeout",
    "TransportError",
    "UpgradeRequiredError",
]


class ArkorError(Exception):
    """Base class of every error arkor_rx raises on purpose."""


class ConfigError(ArkorError, ValueError):
    """A bad argument, configuration value or credentials file.

    The message names the offending field and what was wrong with it.
    """


class DatasetError(ConfigError):
    """A dataset that cannot be used: missing, unreadable, not JSON, not chat-shaped.

    Attributes:
        path: the file (or dataset name) concerned.
        line: the 1-based line number of the bad record, or None.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class SSEError(ArkorError, ValueError):
    """An event stream that cannot be decoded."""


class SSELimitError(SSEError):
    """A line or an event grew past the decoder's configured size limit."""


class CloudApiError(ArkorError):
    """The server answered with a non-2xx status.

    Attributes:
        status: the HTTP status code.
        message: the server's ``error`` field, else the body text, else ``cloud-api <status>``.
        body: the decoded JSON body (a dict) when there was one, else None.
        retry_after: seconds from a ``Retry-After`` header, when the server sent one.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        body: object = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after

    @property
    def is_permanent(self) -> bool:
        """True when retrying cannot fix the status (401, 403, 410, 426, the other 4xx).

        The rule itself is ``arkor_rx.protocol.is_transient_status``.
        """
        return not is_transient_status(self.status)


class UpgradeRequiredError(CloudApiError):
    """426 Upgrade Required: the server no longer accepts this client version."""


class TransportError(ArkorError):
    """The connection could not be made, dropped, or went silent.

    Transport errors are transient: the event stream reconnects after them.
    """


class StreamIdleTimeout(TransportError):
    """No bytes at all (not even a keepalive) arrived within the idle timeout."""


class ReconnectExhaustedError(ArkorError):
    """The stream failed more times in a row than ``ReconnectPolicy.max_attempts`` allows.

    ``__cause__`` is the last transport error.

    Attributes:
        attempts: how many consecutive failures there were.
    """

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts
