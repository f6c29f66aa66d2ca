"""Constants and helpers shared by the client tests (imported as ``client_helpers``)."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from yarl import URL

from arkor_rx.client import ArkorClient

Serve = Callable[[web.Application], Awaitable[TestServer]]
"""The type of the ``serve`` fixture: start an app on loopback, get its TestServer."""

TOKEN = "tok-SECRET-8f3a9c2e71"
"""The bearer token of every test client: no output may ever contain it."""
ORG = "acme org"
"""Has a space, so URL-encoding is exercised."""
PROJECT = "demo/1&x=2"
"""Has a slash, an ampersand and an equals sign, so URL-encoding is exercised."""
BASE = "http://api.test"
"""A base URL that only aioresponses answers."""

JOB = {
    "id": "j1",
    "orgId": "o1",
    "projectId": "p1",
    "name": "support-bot-v1",
    "status": "queued",
    "config": {"model": "m"},
    "error": None,
    "createdAt": "2026-01-01T00:00:00Z",
    "startedAt": None,
    "completedAt": None,
}
"""A TrainingJob as PROTOCOL.md shows it."""


def closed_port() -> int:
    """A loopback port that nothing listens on (it was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def make_client(base_url: str = BASE, **kwargs: Any) -> ArkorClient:
    """A client with the test token and scope."""
    return ArkorClient(base_url, TOKEN, ORG, PROJECT, **kwargs)


class _CompatClientResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without aiohttp 3.14's ``stream_writer``.

    The only use aiohttp makes of it for an already-sent request is
    ``output_size``, so a stand-in with ``output_size = 0`` is enough.
    (aioresponses-ng, a maintained fork, fixes this upstream.)
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class MockedApi(aioresponses):
    """aioresponses that works with this aiohttp (see :class:`_CompatClientResponse`)."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _CompatClientResponse)
        super().add(*args, **kwargs)


def url(path: str) -> URL:
    """The URL the client must call for ``path``, scope included."""
    return URL(BASE + path).with_query({"orgSlug": ORG, "projectSlug": PROJECT})


def route(path: str) -> re.Pattern[str]:
    """Matches ``path`` with any query string."""
    return re.compile(re.escape(BASE + path) + r"(\?.*)?$")


def only_call(m: aioresponses, method: str, path: str) -> RequestCall:
    """The one request made to ``path`` (a second one fails the test)."""
    calls = m.requests[(method, url(path))]
    assert len(calls) == 1
    return calls[0]
