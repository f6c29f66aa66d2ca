"""Fixtures of the acceptance tests: a client bound to the shared fake backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import arkor_rx as ax

from ._acc_fake import TOKEN, FakeBackend


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[ax.ArkorClient]:
    async with ax.ArkorClient(
        base_url=backend.url, token=TOKEN, org_slug="my org&x", project_slug="demo/1"
    ) as c:
        yield c
