"""A hostile Arkor server on loopback, for the attack suite.

A ``ThreadingHTTPServer`` on 127.0.0.1, port 0, in a daemon thread, so that a
CLI command run in-process (with its own ``asyncio.run``) or as a subprocess
can talk to it. Every route answers from ``routes``: a path (without the
query) maps to an ``Answer``. A body may be ``bytes`` or an iterator of chunks
(an endless answer is a bounded generator that stops when the client leaves).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from arkor_rx.sse import encode

TOKEN = "attack-token-3b1f"

OSC52 = "\x1b]52;c;aGFja2Vk\x07"
"""Writes "hacked" to the terminal's clipboard."""
OSC0 = "\x1b]0;owned\x07"
"""Retitles the terminal window."""
CLEAR = "\x1b[2J"
"""Clears the screen."""
C1_CSI = "\x9b2J"
"""The 8-bit CSI (a C1 control) clearing the screen."""
HOSTILE = f"evil{OSC52}{OSC0}{CLEAR}{C1_CSI}[bold]x[/bold]:thumbs_up:"
"""A job name or error holding every control a server could try, and rich markup."""
SERVER_CONTROL = ("\x1b]", "\x1b[2J", "\x9b", "\x07")
"""Sequences that only the server's strings could have put in an output."""


def job(
    job_id: str = "j1", name: str = "run", status: str = "running", **extra: Any
) -> dict[str, Any]:
    """A job as the protocol describes it."""
    return {
        "id": job_id,
        "orgId": "o1",
        "projectId": "p1",
        "name": name,
        "status": status,
        "config": {
            "model": "m",
            "maxSteps": 10,
            "datasetSource": {"type": "huggingface", "name": "d"},
        },
        "error": None,
        "createdAt": "2026-01-01T00:00:00Z",
        "startedAt": None,
        "completedAt": None,
        **extra,
    }


def deployment(deployment_id: str = "d1", slug: str = "bot") -> dict[str, Any]:
    """A deployment as the protocol describes it, its other strings ``HOSTILE``."""
    return {
        "id": deployment_id,
        "slug": slug,
        "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": HOSTILE}},
        "authMode": "fixed_api_key",
        "enabled": True,
        "url": HOSTILE,
    }


def deployment_key() -> dict[str, Any]:
    """A deployment key, listed or just issued, every string of it ``HOSTILE``."""
    return {
        "id": HOSTILE,
        "label": HOSTILE,
        "prefix": HOSTILE,
        "enabled": True,
        "createdAt": HOSTILE,
        "lastUsedAt": HOSTILE,
        "plaintext": HOSTILE,
    }


def stream(job_id: str, error: str) -> bytes:
    """An event stream: started, two logs, then failed with ``error``."""
    at = {"jobId": job_id, "timestamp": "2026-01-01T00:00:00Z"}
    frames: list[tuple[str, dict[str, Any]]] = [
        ("training.started", {"metadata": {"maxSteps": 10}}),
        ("training.log", {"step": 1, "loss": 2.0}),
        ("training.log", {"step": 2, "loss": 1.5}),
        ("training.failed", {"error": error, "step": 2}),
    ]
    return b"".join(
        encode(json.dumps({"type": kind, **at, **fields}), event=kind, id=str(n))
        for n, (kind, fields) in enumerate(frames, start=1)
    )


@dataclass
class Answer:
    """What a route answers."""

    body: bytes | Iterable[bytes] = b""
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def of(value: Any, status: int = 200) -> Answer:
        """A JSON answer."""
        return Answer(json.dumps(value).encode(), status)


def endless(chunk: bytes = b" " * 65536, limit: int = 512 * 1024 * 1024) -> Iterator[bytes]:
    """Chunks until ``limit`` bytes (the client is expected to leave long before)."""
    sent = 0
    while sent < limit:
        yield chunk
        sent += len(chunk)


class HostileServer:
    """The server; ``routes`` may change between requests; ``requests`` records each
    ``(path, query)``."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._answer()

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                owner.requests.append((parts.path, parse_qs(parts.query)))
                answer = owner.routes.get(parts.path, Answer.of({"error": "no route"}, 404))
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                try:
                    if isinstance(answer.body, bytes):
                        if "Content-Length" not in answer.headers:
                            self.send_header("Content-Length", str(len(answer.body)))
                        self.end_headers()
                        self.wfile.write(answer.body)
                    else:
                        self.send_header("Connection", "close")
                        self.end_headers()
                        for chunk in answer.body:
                            self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:  # the client left: what an attacked client should do
                    pass
                if not isinstance(answer.body, bytes):
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def env(self) -> dict[str, str]:
        """The environment a CLI command needs to talk to this server."""
        return {
            "ARKOR_CLOUD_API_URL": self.url,
            "ARKOR_TOKEN": TOKEN,
            "ARKOR_ORG_SLUG": "o1",
            "ARKOR_PROJECT_SLUG": "p1",
        }
