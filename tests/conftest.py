"""Shared fixtures: every test starts from a clean environment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fake_backend import FakeBackend, backend_fixture
from tests.postgres.server import PostgresServer, find_bin


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's real Arkor credentials, state or URL override."""
    for name in ("ARKOR_CLOUD_API_URL", "ARKOR_TOKEN", "ARKOR_ORG_SLUG", "ARKOR_PROJECT_SLUG"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture
async def backend() -> AsyncIterator[FakeBackend]:
    """The shared scripted fake backend on 127.0.0.1, port 0 (``tests/fake_backend.py``)."""
    async for value in backend_fixture():
        yield value


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a unix socket for the session (Debian's ``postgresql``).

    Skipped, with the one-line reason, only where no server can be had.
    """
    bin_dir, why = find_bin()
    if bin_dir is None:
        pytest.skip(why)
    server = PostgresServer.start(bin_dir)
    try:
        yield server
    finally:
        server.stop()
