"""The transport's one error boundary: which errors it translates, how it words them.

Network errors from aiohttp become ``TransportError`` with the original as
``__cause__``; a refused connection says no server is running there and, for
loopback, how to start one; everything else passes through untouched.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from arkor_rx.errors import TransportError
from arkor_rx.transport import network_errors
from tests.client.client_helpers import closed_port, make_client


async def test_connection_refused_says_no_server_runs_and_how_to_start_one() -> None:
    port = closed_port()
    async with make_client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(TransportError) as plain:
            await client.get_job("j1")
        with pytest.raises(TransportError) as stream:
            await client.open_event_stream("j1")
    for info in (plain, stream):
        message = str(info.value)
        assert f"no server is running at http://127.0.0.1:{port}" in message
        assert "arkor-rx serve" in message
        assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:1/x", True),
        ("http://localhost:1/x", True),
        ("http://[::1]:1/x", True),
        ("https://api.arkor.ai/v1/jobs", False),
        ("http://10.0.0.7:8765/v1/jobs", False),
    ],
)
def test_a_refusal_names_the_origin_and_suggests_serve_only_for_loopback(
    url: str, local: bool
) -> None:
    with pytest.raises(TransportError) as info, network_errors("GET", url):
        raise ConnectionRefusedError(111, "Connect call failed")
    message = str(info.value)
    assert "connection refused" in message
    assert ("arkor-rx serve" in message) is local
    assert ("ARKOR_CLOUD_API_URL" in message) is not local
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (aiohttp.ServerDisconnectedError(), "ServerDisconnectedError: Server disconnected"),
        (aiohttp.ClientPayloadError("cut"), "ClientPayloadError: cut"),
        (ConnectionResetError("reset by peer"), "ConnectionResetError: reset by peer"),
        (TimeoutError(), "timed out"),
    ],
)
def test_the_boundary_translates_network_errors_and_keeps_the_cause(
    raised: BaseException, expected: str
) -> None:
    with (
        pytest.raises(TransportError) as info,
        network_errors("POST", "http://user:pw@127.0.0.1:9/v1/jobs?orgSlug=o"),
    ):
        raise raised
    assert str(info.value) == f"POST http://127.0.0.1:9/v1/jobs: {expected}"
    assert info.value.__cause__ is raised


def test_the_boundary_names_a_deadline_when_it_has_one() -> None:
    with (
        pytest.raises(TransportError, match=r"no answer within 2\.5 s"),
        network_errors("GET", "http://127.0.0.1:9/", timeout=2.5),
    ):
        raise TimeoutError


@pytest.mark.parametrize("passes", [KeyError("bug"), TransportError("ours"), ValueError("x")])
def test_the_boundary_lets_everything_else_through(passes: Exception) -> None:
    with pytest.raises(type(passes)) as info, network_errors("GET", "http://127.0.0.1:9/"):
        raise passes
    assert info.value is passes


async def test_the_boundary_never_swallows_a_cancellation() -> None:
    with pytest.raises(asyncio.CancelledError), network_errors("GET", "http://127.0.0.1:9/"):
        raise asyncio.CancelledError
