"""LocalServer/serve lifecycle, and the examples in the server's docstrings."""

from __future__ import annotations

import asyncio
import doctest
import importlib

import aiohttp
import pytest

from arkor_rx.server import LocalServer, ServerConfig, serve
from tests.server.server_helpers import TOKEN, auth


async def test_serve_runs_until_cancelled_and_reports_url_and_token() -> None:
    ready: asyncio.Queue[LocalServer] = asyncio.Queue()
    task = asyncio.create_task(serve(ServerConfig(), ready=ready.put_nowait))
    server = await asyncio.wait_for(ready.get(), 5)
    assert server.url.startswith("http://127.0.0.1:")
    assert server.token_generated
    async with (
        aiohttp.ClientSession(server.url) as session,
        session.get("/v1/jobs/x", headers=auth(server.token)) as resp,
    ):
        assert resp.status == 404
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(server.url + "/v1/jobs/x")


async def test_local_server_lifecycle() -> None:
    server = LocalServer(ServerConfig(token=TOKEN))
    assert not server.token_generated
    with pytest.raises(RuntimeError):
        _ = server.url
    await server.start()
    try:
        with pytest.raises(RuntimeError):
            await server.start()
    finally:
        await server.stop()
    await server.stop()  # harmless


@pytest.mark.parametrize(
    "module",
    [
        "config",
        "connection",
        "datasets",
        "demo_data",
        "faults",
        "http_errors",
        "inference",
        "limits",
        "model",
        "optim",
        "plan",
        "store",
        "training",
    ],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"arkor_rx.server.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
