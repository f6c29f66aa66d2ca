"""The acceptance tests' vocabulary: their token and frames, over the shared fake backend.

The backend (``opens``: one opener per stream open, the last one repeats) is
:mod:`tests.fake_backend`, shared with the core tests.
"""

from __future__ import annotations

from typing import Any

from tests.fake_backend import (
    JOB_ID,
    FakeBackend,
    Opener,
    Recorded,
    frame,
    frames,
    job_json,
    status,
)

__all__ = [
    "JOB_ID",
    "PING",
    "TOKEN",
    "FakeBackend",
    "Opener",
    "Recorded",
    "completed",
    "ev",
    "frames",
    "job_json",
    "log",
    "status",
]

TOKEN = "tok-SECRET-4f2a9c"

PING = b"event: ping\ndata: \n\n"


def ev(type_: str, eid: str | None, **fields: Any) -> bytes:
    return frame(eid, type_, **fields)


def log(eid: str, step: int, loss: float = 1.0) -> bytes:
    return ev("training.log", eid, step=step, loss=loss)


def completed(eid: str) -> bytes:
    return ev("training.completed", eid, metrics={}, artifacts=[])
