"""Memory workloads (e), each run in a fresh child process so its peak RSS is its own.

``python -m bench.memory events BASE_URL FRAMES`` follows ``trainer.events()``
of a job with ``FRAMES`` frames, keeping a rolling window of the last 1,000
losses (what a dashboard keeps), and samples the resident set size at every
tenth of the stream. Flat means: the RSS at the end is about the RSS after
the first tenth.

``python -m bench.memory bigline BASE_URL 0`` follows a job whose stream is
one 100 MB ``data:`` line without a newline: the decoder must stop at its line
size limit with a clear error, holding at most about that much memory.

Both print one JSON object on the last line of stdout.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from arkor_rx.events import TrainingEvent, TrainingLog
from bench.arkor import follow_events

__all__ = ["main", "rss_mb"]

WINDOW = 1_000


def rss_mb() -> float:
    """The current resident set size of this process, in MB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far, in MB (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux keeps that across ``execve``, so a
    child started by a big parent would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


async def events(base_url: str, frames: int) -> dict[str, Any]:
    window: collections.deque[float] = collections.deque(maxlen=WINDOW)
    step = max(frames // 10, 1)
    samples: list[float] = []
    seen = 0

    def on_event(event: TrainingEvent) -> None:
        nonlocal seen
        seen += 1
        if isinstance(event, TrainingLog) and event.loss is not None:
            window.append(event.loss)
        if seen % step == 0:
            samples.append(round(rss_mb(), 1))

    start_rss = rss_mb()
    started = time.perf_counter()
    count = await follow_events(base_url, frames, name="memory", on_event=on_event)
    elapsed = time.perf_counter() - started
    samples.append(round(rss_mb(), 1))  # at the end of the stream
    return {
        "mode": "events",
        "frames": frames,
        "events": count,
        "seconds": round(elapsed, 2),
        "rss_start_mb": round(start_rss, 1),
        "rss_samples_mb": samples,
        "growth_mb": round(samples[-1] - samples[0], 1) if samples else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def bigline(base_url: str) -> dict[str, Any]:
    start_rss = rss_mb()
    started = time.perf_counter()
    error = ""
    count = 0
    try:
        # No reconnect: the same oversized event would come again on every resume.
        count = await follow_events(base_url, 1, name="bigline", max_attempts=0)
    except Exception as exc:
        error = type(exc).__name__
        if exc.__cause__ is not None:
            error += f" caused by {type(exc.__cause__).__name__}: {exc.__cause__}"
        else:
            error += f": {exc}"
    elapsed = time.perf_counter() - started
    return {
        "mode": "bigline",
        "events": count,
        "error": error,
        "seconds": round(elapsed, 2),
        "rss_start_mb": round(start_rss, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.memory {events,bigline} BASE_URL FRAMES``."""
    mode, base_url, frames = (argv if argv is not None else sys.argv[1:])[:3]
    if mode == "events":
        result = asyncio.run(events(base_url, int(frames)))
    elif mode == "bigline":
        result = asyncio.run(bigline(base_url))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
