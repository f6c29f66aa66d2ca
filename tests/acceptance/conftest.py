"""Fixtures of the acceptance tests: a scriptable fake backend and a client bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

import arkor_rx as ax

from ._acc_fake import TOKEN, FakeBackend


@pytest.fixture
async def backend() -> AsyncIterator[FakeBackend]:
    fake = FakeBackend()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.server = server
    try:
        yield fake
    finally:
        await server.close()


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[ax.ArkorClient]:
    async with ax.ArkorClient(
        base_url=backend.url, token=TOKEN, org_slug="my org&x", project_slug="demo/1"
    ) as c:
        yield c
