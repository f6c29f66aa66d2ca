"""Shared helpers of the sink tests: a sink that records its calls, and event builders."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from arkor_rx.events import TrainingCompleted, TrainingEvent, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import Outcome, SinkItem, SinkStats


class RecordingSink:
    """Records ``open``/``write``/``close``; optionally waits on a gate or raises."""

    def __init__(
        self,
        *,
        overflow: str = "drop",
        buffer_size: int = 1024,
        fail_on_error: bool = False,
        fail_write: bool = False,
        name: str = "recording",
    ) -> None:
        self.overflow = overflow
        self.buffer_size = buffer_size
        self.fail_on_error = fail_on_error
        self.fail_write = fail_write
        self.name = name
        self.stats = SinkStats()
        self.calls: list[tuple[str, Any]] = []
        self.gate: asyncio.Event | None = None
        self.busy = False
        self.overlapped = False
        self.closed = asyncio.Event()

    async def _enter(self) -> None:
        if self.busy:
            self.overlapped = True
        self.busy = True
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)

    async def open(self, job: TrainingJob) -> None:
        await self._enter()
        self.calls.append(("open", job))
        self.busy = False

    async def write(self, events: Sequence[SinkItem]) -> None:
        await self._enter()
        self.calls.append(("write", list(events)))
        self.busy = False
        if self.fail_write:
            raise RuntimeError("sink is broken")

    async def close(self, outcome: Outcome) -> None:
        await self._enter()
        self.calls.append(("close", outcome))
        self.busy = False
        self.closed.set()

    @property
    def items(self) -> list[SinkItem]:
        return [item for kind, batch in self.calls if kind == "write" for item in batch]

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]

    def outcomes(self) -> list[Outcome]:
        return [value for kind, value in self.calls if kind == "close"]


def run_events(job_id: str = "j1", steps: int = 5, *, end: bool = True) -> list[TrainingEvent]:
    """A small run: started, ``steps`` logs, completed."""
    events: list[TrainingEvent] = [TrainingStarted(job_id=job_id)]
    events += [TrainingLog(job_id=job_id, step=s, loss=1.0 / s) for s in range(1, steps + 1)]
    if end:
        events.append(TrainingCompleted(job_id=job_id, metrics={"loss": 0.2}))
    return events
