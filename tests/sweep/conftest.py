"""Fixtures of the sweep tests: a scripted multi-job backend and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from arkor_rx.client import ArkorClient
from tests.sweep.sweep_fakes import FakeJobs, fake_jobs


@pytest.fixture
async def jobs() -> AsyncIterator[FakeJobs]:
    """A fresh multi-job backend on 127.0.0.1, port 0."""
    async for value in fake_jobs():
        yield value


@pytest.fixture
async def client(jobs: FakeJobs) -> AsyncIterator[ArkorClient]:
    """A real ArkorClient pointed at the backend."""
    async with jobs.client() as value:
        yield value
