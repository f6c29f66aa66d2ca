"""Fixtures of the reactive core's tests: a scripted backend and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from arkor_rx.client import ArkorClient
from tests.core.core_fakes import FakeBackend, backend_fixture


@pytest.fixture
async def backend() -> AsyncIterator[FakeBackend]:
    """A fresh scripted backend on 127.0.0.1, port 0."""
    async for value in backend_fixture():
        yield value


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[ArkorClient]:
    """A real ArkorClient pointed at the backend."""
    async with backend.client() as value:
        yield value
