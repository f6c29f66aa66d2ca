"""The one fake :class:`~arkor_rx.transport.Transport` of the tests: it records, then delegates.

``RecordingTransport(inner)`` passes every call on to a real transport
(``AiohttpTransport``) and records what was sent and the status it got;
``RecordingTransport(answer=Response(...))`` sends nothing and answers every
plain request with ``answer``. ``refuse`` fails chosen requests before they
are sent, as a network that is down would. It takes the Protocol's keyword arguments as
they come instead of declaring them again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from yarl import URL

from arkor_rx.transport import Response, StreamResponse, Transport

__all__ = ["RecordingTransport", "Sent"]


@dataclass(frozen=True, slots=True)
class Sent:
    """One plain request the client sent, and the status it got (None: no answer)."""

    method: str
    url: str
    params: Mapping[str, str] | None
    timeout: float | None
    status: int | None = None
    headers: Mapping[str, str] | None = None

    @property
    def path(self) -> str:
        return URL(self.url).path


class RecordingTransport:
    """A Transport that records every request and answers through ``inner`` or with ``answer``."""

    def __init__(self, inner: Transport | None = None, *, answer: Response | None = None) -> None:
        if (inner is None) == (answer is None):
            raise ValueError("give exactly one of inner= and answer=")
        self._inner = inner
        self._answer = answer
        self.sent: list[Sent] = []
        """The plain requests, in order (streams are not listed)."""
        self.streams: list[Sent] = []
        """The stream requests, in order."""
        self.closed = 0
        """How many times ``aclose()`` was called."""
        self.refuse: Callable[[str, str], Exception | None] | None = None
        """``refuse(method, url)``: an error to raise instead of sending (None: send)."""

    async def request(self, method: str, url: str, **options: Any) -> Response:
        index = len(self.sent)
        self.sent.append(Sent(method, url, options.get("params"), options.get("total_timeout")))
        refused = None if self.refuse is None else self.refuse(method, url)
        if refused is not None:
            raise refused
        if self._inner is None:
            assert self._answer is not None
            response = self._answer
        else:
            response = await self._inner.request(method, url, **options)
        self.sent[index] = replace(self.sent[index], status=response.status)
        return response

    async def open_stream(self, method: str, url: str, **options: Any) -> StreamResponse:
        self.streams.append(
            Sent(method, url, options.get("params"), None, headers=options.get("headers"))
        )
        if self._inner is None:
            raise AssertionError(f"no stream is scripted for {method} {url}")
        return await self._inner.open_stream(method, url, **options)

    async def aclose(self) -> None:
        self.closed += 1
        if self._inner is not None:
            await self._inner.aclose()

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The plain requests as ``{"method", "url", "params", "timeout"}`` dicts."""
        return [
            {"method": s.method, "url": s.url, "params": s.params, "timeout": s.timeout}
            for s in self.sent
        ]

    def cancels(self) -> list[Sent]:
        """The ``POST /v1/jobs/{id}/cancel`` requests sent so far."""
        return [s for s in self.sent if s.method == "POST" and s.path.endswith("/cancel")]
