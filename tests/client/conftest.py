"""Fixtures of the client tests: tiny loopback servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.client.client_helpers import Serve


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an aiohttp.web app on 127.0.0.1, port 0; every server is closed at teardown."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> TestServer:
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.close()
