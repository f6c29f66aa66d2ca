"""The measuring harness of ``make bench``: rows, interleaved runs, sizes.

Every contestant of a group runs in this one process, in the same run, one
after the other: one warm-up run, then ``--repeats`` timed runs (at least 5),
reported as the median with min and max. Rates are per item (frames per
second for decoders and streams, microseconds per event for dispatch), so
contestants measured at different sizes compare fairly.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.streams import count_kinds

__all__ = ["PER_ITEM_UNITS", "Entry", "Row", "Sizes", "measure", "run_group", "typed_count"]


PER_ITEM_UNITS = {"µs/event": 1e6, "ms/start": 1e3}
"""Units that are a time per item (lower is better), with their scale from seconds."""


@dataclass
class Row:
    """One contestant of one group, with its timed runs."""

    group: str
    name: str
    size: int
    """Items per run (frames, or events for dispatch)."""
    unit: str
    """``"k frames/s"``, ``"k events/s"`` or ``"µs/event"``."""
    seconds: list[float] = field(default_factory=list)
    error: str = ""
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    ref: str | None = None
    """The name of the row this one's ratio is taken against (default: the group's)."""

    @property
    def ok(self) -> bool:
        return bool(self.seconds) and not self.error

    def values(self) -> list[float]:
        """The per-run figures in this row's unit."""
        scale = PER_ITEM_UNITS.get(self.unit)
        if scale is not None:
            return [s / self.size * scale for s in self.seconds]
        return [self.size / s / 1e3 for s in self.seconds]

    @property
    def median(self) -> float:
        return statistics.median(self.values())

    @property
    def per_item_seconds(self) -> float:
        """Median seconds per item (lower is better), for ratios."""
        return statistics.median(self.seconds) / self.size


Job = Callable[[], Any]


def _run_once(job: Job) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = job()
    if asyncio.iscoroutine(result):
        return _run_async(result)
    return time.perf_counter() - start, result


def _run_async(coro: Awaitable[Any]) -> tuple[float, Any]:
    async def timed() -> tuple[float, Any]:
        start = time.perf_counter()
        value = await coro
        return time.perf_counter() - start, value

    return asyncio.run(timed())


@dataclass
class Entry:
    """A contestant waiting to be run: its row, its job and the items a run must process."""

    row: Row
    job: Job
    repeats: int
    expect: int | None


def measure(row: Row, job: Job, repeats: int, expect: int | None) -> Entry:
    """A contestant of a group; :func:`run_group` runs them all, interleaved."""
    return Entry(row, job, repeats, expect)


def _attempt(entry: Entry, record: bool) -> None:
    row = entry.row
    if row.error:
        return
    try:
        elapsed, value = _run_once(entry.job)
        if entry.expect is not None and value != entry.expect:
            raise RuntimeError(f"processed {value} items, expected {entry.expect}")
    except Exception as exc:  # a broken contestant is reported, not fatal
        row.error = f"{type(exc).__name__}: {exc}"[:160]
        row.seconds.clear()
        return
    if record:
        row.seconds.append(elapsed)


def run_group(entries: list[Entry]) -> list[Row]:
    """Warm every contestant up once, then run them round-robin, ``repeats`` times each.

    Interleaving matters on a shared machine: a burst of load from elsewhere
    then slows every contestant of the group alike, instead of one of them,
    so the same-run ratios stay fair.
    """
    for entry in entries:
        _attempt(entry, record=False)
    for i in range(max((e.repeats for e in entries), default=0)):
        for entry in entries:
            if i < entry.repeats:
                _attempt(entry, record=True)
    for entry in entries:
        row = entry.row
        shown = f"{row.median:,.2f} {row.unit}" if row.ok else row.error
        print(f"  [{row.group}] {row.name}: {shown}", file=sys.stderr, flush=True)
    return [e.row for e in entries]


@dataclass
class Sizes:
    decode: int = 200_000
    e2e: int = 200_000
    e2e_slow: int = 50_000
    dispatch: int = 100_000
    naive: int = 5_000
    pipeline: int = 200_000
    memory: int = 1_000_000
    fan_small: tuple[int, int] = (100, 2_000)
    fan_large: tuple[int, int] = (1_000, 200)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            decode=20_000,
            e2e=20_000,
            e2e_slow=5_000,
            dispatch=10_000,
            naive=1_000,
            pipeline=20_000,
            memory=100_000,
            fan_small=(10, 1_000),
            fan_large=(100, 100),
        )


def typed_count(frames: int) -> int:
    """How many typed events a stream of ``frames`` frames carries (no pings, no ``end``)."""
    kinds = count_kinds(frames)
    return frames - kinds.get("ping", 0) - kinds.get("end", 0)
