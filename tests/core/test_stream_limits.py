"""Runaway lines end the stream with a clear error instead of reconnecting forever."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from arkor_rx.errors import ConfigError, SSELimitError, TransportError
from arkor_rx.retry import ReconnectPolicy, is_transient
from arkor_rx.stream import EventStream
from arkor_rx.transport import AiohttpTransport


class _Endless:
    """A stream response that sends one line without a newline, forever."""

    status = 200
    headers: Mapping[str, str] = {}

    def __init__(self) -> None:
        self.closed = False

    async def read_chunk(self) -> bytes:
        return b"x" * 65536

    async def aclose(self) -> None:
        self.closed = True


class _Source:
    def __init__(self) -> None:
        self.opened: list[_Endless] = []

    async def open_event_stream(self, job_id: str, *, last_event_id: str | None = None) -> _Endless:
        response = _Endless()
        self.opened.append(response)
        return response


def test_a_size_limit_is_permanent_other_stream_errors_are_not() -> None:
    assert not is_transient(SSELimitError("line over 1 MiB"))
    assert is_transient(TransportError("reset"))


async def test_a_runaway_line_fails_at_once_without_reconnecting() -> None:
    source = _Source()
    stream = EventStream(source, "j1", ReconnectPolicy.immediate())
    with pytest.raises(SSELimitError, match="max_line_size"):
        async for _ in stream:
            pass
    assert len(source.opened) == 1
    assert source.opened[0].closed


def test_the_connection_pool_is_unbounded_by_default() -> None:
    assert AiohttpTransport().max_connections == 0
    assert AiohttpTransport(max_connections=8).max_connections == 8
    with pytest.raises(ConfigError, match="max_connections"):
        AiohttpTransport(max_connections=-1)
