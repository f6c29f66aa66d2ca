"""Fixtures of the sink tests: the real local backend of the e2e tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.e2e_helpers import Backend, local_backend


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    """A LocalServer on 127.0.0.1 (port 0, full speed, in memory) and a counting client."""
    async with local_backend() as value:
        yield value
