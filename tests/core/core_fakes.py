"""The reactive core's test vocabulary: its constants and frames, over the shared fake backend.

The backend itself (its script of :class:`Reject`/:class:`Serve` steps, its
recorded requests and connections) is :mod:`tests.fake_backend`, shared with
the acceptance tests.
"""

from __future__ import annotations

import asyncio

from arkor_rx.sse import encode, encode_comment
from tests.fake_backend import (
    JOB_ID,
    PARTIAL,
    Chunk,
    Connection,
    FakeBackend,
    Reject,
    Serve,
    Step,
    backend_fixture,
    frame,
)

__all__ = [
    "COMMENT",
    "END",
    "GARBAGE",
    "JOB_ID",
    "ORG",
    "PARTIAL",
    "PROJECT",
    "TOKEN",
    "Chunk",
    "Connection",
    "FakeBackend",
    "Reject",
    "Serve",
    "SleepSpy",
    "Step",
    "backend_fixture",
    "checkpoint",
    "completed",
    "failed",
    "frame",
    "log",
    "started",
]

TOKEN = "core-token-5ecret"
ORG = "org"
PROJECT = "proj"


def started(event_id: str | None = "0") -> bytes:
    return frame(event_id, "training.started")


def log(event_id: str | None, step: int, loss: float = 1.0) -> bytes:
    return frame(event_id, "training.log", step=step, loss=loss)


def checkpoint(event_id: str | None, step: int) -> bytes:
    return frame(event_id, "checkpoint.saved", step=step, artifacts=[{"path": f"ckpt-{step}"}])


def completed(event_id: str | None = "99") -> bytes:
    return frame(event_id, "training.completed", artifacts=[{"path": "final"}])


def failed(event_id: str | None = "99", error: str = "OOM") -> bytes:
    return frame(event_id, "training.failed", error=error, step=3)


PING = encode("", event="ping")
COMMENT = encode_comment("keepalive")
GARBAGE = encode("this is not json", event="training.log", id="g1")
END = encode("", event="end")


class SleepSpy:
    """An injectable ``sleep`` that records the delays and does not wait for them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)
