"""Fixtures of the reactive core's tests: a client of the shared scripted backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from arkor_rx.client import ArkorClient
from tests.core.core_fakes import ORG, PROJECT, TOKEN, FakeBackend


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[ArkorClient]:
    """A real ArkorClient pointed at the backend."""
    async with ArkorClient(backend.url, TOKEN, ORG, PROJECT) as value:
        yield value
