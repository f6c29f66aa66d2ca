"""Sinks for the sink worker tests, importable (not in ``__main__``): the child loads them.

Each records what it was called with into a file, one pickle per call, which
the test reads back in the parent.
"""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arkor_rx.events import TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import Outcome, SinkItem

FAIL_STEP = 13
"""A batch starting with a log event at this step makes ``FileRecorder.write`` raise."""
ODD_STEP = 14
"""... and at this step, raise an exception that cannot be unpickled."""


class Unpicklable(Exception):
    """An exception whose constructor needs a keyword: it pickles, but does not unpickle."""

    def __init__(self, *, why: str) -> None:
        super().__init__(f"odd: {why}")


class FileRecorder:
    """Appends ``(op, argument, pid)`` pickles to ``path``, one per call."""

    isolation = "process"
    batch_interval = 0.0

    def __init__(self, path: str | os.PathLike[str], name: str = "recorder") -> None:
        self.path = os.fspath(path)
        self.name = name

    def _record(self, op: str, arg: Any) -> None:
        with open(self.path, "ab") as file:
            pickle.dump((op, arg, os.getpid()), file)

    async def open(self, job: TrainingJob) -> None:
        self._record("open", job)

    async def write(self, events: Sequence[SinkItem]) -> None:
        first = events[0] if events else None
        if isinstance(first, TrainingLog) and first.step == FAIL_STEP:
            raise NotADirectoryError(f"no folder for step {first.step}")
        if isinstance(first, TrainingLog) and first.step == ODD_STEP:
            raise Unpicklable(why="keyword-only")
        self._record("write", list(events))

    async def close(self, outcome: Outcome) -> None:
        self._record("close", outcome)


def read_records(path: str | os.PathLike[str]) -> list[tuple[str, Any, int]]:
    """Every ``(op, argument, pid)`` a ``FileRecorder`` wrote to ``path``, in order."""
    records = []
    file_path = Path(path)
    if not file_path.exists():
        return []
    with file_path.open("rb") as file:
        while True:
            try:
                records.append(pickle.load(file))
            except EOFError:
                return records


class Chatty(FileRecorder):
    """Prints to stdout (from Python and from the C level) at every call, then records it."""

    async def write(self, events: Sequence[SinkItem]) -> None:
        print("a stray print in the worker", len(events))
        os.write(1, b"a stray write to descriptor 1\n")
        await super().write(events)


class Gated(FileRecorder):
    """Its ``write`` waits (in the child) until something is written to the FIFO ``gate``."""

    def __init__(self, path: str | os.PathLike[str], gate: str | os.PathLike[str]) -> None:
        super().__init__(path, name="gated")
        self.gate = os.fspath(gate)

    async def write(self, events: Sequence[SinkItem]) -> None:
        await asyncio.to_thread(_wait, self.gate)
        await super().write(events)


def _wait(fifo: str) -> None:
    with open(fifo, "rb") as file:  # blocks until the test opens it for writing
        file.read()


def open_gate(fifo: str | os.PathLike[str]) -> None:
    """Let a ``Gated`` sink's write go on (blocks until its write is waiting)."""
    with open(fifo, "wb") as file:
        file.write(b"go")
