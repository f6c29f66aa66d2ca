"""The acceptance tests' vocabulary: their token and frames, over the shared fake backend.

The backend (``opens``: one opener per stream open, the last one repeats) is
:mod:`tests.fake_backend`, shared with the core tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reactivex
from reactivex import operators as ops

import arkor_rx as ax
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
    "DATASET",
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
    "msgs",
    "policy",
    "run_list",
    "status",
    "trainer",
]

TOKEN = "tok-SECRET-4f2a9c"

PING = b"event: ping\ndata: \n\n"


def ev(type_: str, eid: str | None, **fields: Any) -> bytes:
    return frame(eid, type_, **fields)


def log(eid: str, step: int, loss: float = 1.0) -> bytes:
    return ev("training.log", eid, step=step, loss=loss)


def completed(eid: str) -> bytes:
    return ev("training.completed", eid, metrics={}, artifacts=[])


DATASET = {"type": "huggingface", "name": "d"}


def policy(*, initial: float = 0, max_attempts: int | None = None) -> ax.ReconnectPolicy:
    """Reconnect after ``initial`` seconds every time, no idle watchdog."""
    return ax.ReconnectPolicy(
        initial_delay=initial, max_delay=initial, max_attempts=max_attempts, idle_timeout=None
    )


def trainer(client: ax.ArkorClient, steps: list[int] | None = None, **kwargs: Any) -> ax.Trainer:
    """A trainer of a small job; ``on_log`` appends to ``steps`` unless ``callbacks=`` is given."""
    if steps is not None:
        seen = steps
        kwargs.setdefault("callbacks", {"on_log": lambda ctx: seen.append(ctx.step)})
    kwargs.setdefault("reconnect", policy())
    return ax.create_trainer(name="n", model="m", dataset=DATASET, client=client, **kwargs)


def run_list(source: Sequence[Any], *pipes: Any) -> list[Any]:
    """Run ``source`` through ``pipes`` and collect what comes out."""
    obs: Any = reactivex.from_iterable(source)
    result: list[Any] = obs.pipe(*pipes, ops.to_list()).run()
    return result


def msgs(messages: Any) -> list[Any]:
    return list(messages)
