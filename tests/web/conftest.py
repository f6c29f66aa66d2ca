"""Fixtures of the web dashboard's tests: a real local backend, a dashboard, a real browser.

The browser is Debian's Chromium (``apt-get install chromium``: ``/usr/bin/chromium``)
driven by Playwright for Python; nothing here downloads a browser. Where none
can be had, the browser tests skip with a one-line reason.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

import arkor_rx as ax
from arkor_rx.dashboard import WebDashboard
from arkor_rx.server import FaultConfig, ServerConfig
from tests.e2e.e2e_helpers import Backend, local_backend
from tests.web.web_helpers import Listening

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOLD = 6
"""Jobs of these tests wait before this step until cancelled (``FaultConfig.hold_at_step``)."""


@dataclass
class Served(Listening):
    """A local backend, a client of it, and a dashboard serving on 127.0.0.1 (port 0)."""

    backend: Backend

    def trainer(self, **kwargs: Any) -> ax.Trainer:
        kwargs.setdefault("sinks", [self.view])
        kwargs.setdefault("logging_steps", 1)
        return self.backend.trainer(**kwargs)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    config = ServerConfig(faults=FaultConfig(hold_at_step=HOLD))
    async with local_backend(config) as backend:
        view = WebDashboard(port=0, client=backend.client)
        await view.start()
        try:
            yield Served(view=view, backend=backend)
        finally:
            await view.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    reason = browser_missing()
    if reason is not None:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
