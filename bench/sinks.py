"""Sink workloads (s): ``trainer.events()`` with sinks attached, and a slow sink's memory.

``python -m bench.sinks BASE_URL FRAMES`` (or the ``s`` group of ``make
bench``) follows the same job stream twice: bare, and through
``aop.to_sink(TensorBoard, Prometheus, JSONL)``; the rate with sinks includes
the final flush (the output completes only once every sink closed). Each run
records to a new file (``fresh_recording``); the previous run's recording is
deleted before the timing starts.

The memory row attaches a sink whose ``write`` takes ten times as long per
event as the stream takes to deliver one (a ``sleep``), with overflow
``"drop"``: its buffer must stay within its bound (``stats.high_water``),
the drops are counted, and the resident set size stays flat.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.arkor import _consume, _trainer, make_client

__all__ = ["events_bare", "events_with_sinks", "fresh_recording", "slow_sink_memory"]


async def events_bare(base_url: str, frames: int) -> int:
    """``trainer.events()`` to the end, no sink: the reference row."""
    async with make_client(base_url) as client:
        return await _consume(_trainer(client, "bench", frames).events())


def fresh_recording(folder: str) -> Path:
    """A new file for the next run's recording; the earlier ones are deleted now.

    Called before the timed part starts: a repeat that truncated the last
    repeat's recording (56 MB) would time the file system freeing it, not the sinks.
    """
    folder_path = Path(folder)
    for old in folder_path.glob("run-*.jsonl"):
        old.unlink()
    _REPEATS[0] += 1
    return folder_path / f"run-{_REPEATS[0]}.jsonl"


async def events_with_sinks(
    base_url: str, frames: int, folder: str, recording: Path | None = None
) -> int:
    """``trainer.events()`` through TensorBoard, Prometheus and JSONL sinks, to the flush."""
    from arkor_rx import operators as aop
    from arkor_rx import sinks

    folder_path = Path(folder)
    tb = sinks.TensorBoard(folder_path / "tb")
    prom = sinks.Prometheus(registry=_registry())
    record = sinks.JSONL(recording or folder_path / "run.jsonl")
    async with make_client(base_url) as client:
        source = _trainer(client, "bench", frames).events()
        count = await _consume(source.pipe(aop.to_sink(tb, prom, record)))
    LAST_STATS.clear()
    LAST_STATS.update({"TensorBoard": tb.stats, "Prometheus": prom.stats, "JSONL": record.stats})
    return count


_REPEATS = [0]
"""Runs of the row with sinks so far (each records to its own file)."""

LAST_STATS: dict[str, Any] = {}
"""The sinks' ``stats`` after the last run of the row with sinks (for the row's note)."""


def _registry() -> Any:
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


class _SlowSink:
    """Takes ``per_event`` seconds per event it writes (an await, like a slow network)."""

    overflow = "drop"
    buffer_size = 1024

    def __init__(self, per_event: float) -> None:
        self.per_event = per_event

    async def open(self, job: Any) -> None:
        return None

    async def write(self, events: Sequence[Any]) -> None:
        await asyncio.sleep(self.per_event * len(events))

    async def close(self, outcome: Any) -> None:
        return None


async def slow_sink_memory(base_url: str, frames: int) -> dict[str, Any]:
    """A sink 10x slower than the stream: its peak buffer, drops and the RSS before/after."""
    from arkor_rx import operators as aop
    from bench.memory import rss_mb

    start = time.perf_counter()
    delivered = await events_bare(base_url, frames)
    per_event = (time.perf_counter() - start) / max(delivered, 1)
    sink = _SlowSink(per_event * 10)
    samples: list[float] = []
    step = max(frames // 10, 1)
    seen = 0

    def on_event(_event: Any) -> None:
        nonlocal seen
        seen += 1
        if seen % step == 0:
            samples.append(rss_mb())

    async with make_client(base_url) as client:
        source = _trainer(client, "bench", frames).events().pipe(aop.to_sink(sink))
        count = await _consume(source, on_event)
    stats = sink.stats  # type: ignore[attr-defined]
    return {
        "mode": "slow sink",
        "frames": frames,
        "events": count,
        "per_event_us": per_event * 1e6,
        "buffer_size": sink.buffer_size,
        "high_water": stats.high_water,
        "written": stats.written,
        "dropped": stats.dropped,
        "rss_first_tenth_mb": samples[0] if samples else None,
        "rss_end_mb": samples[-1] if samples else None,
    }


def group(base_url: str, frames: int, repeats: int) -> list[Any]:
    """The rows of group s for ``bench.run`` (the same stream, with and without sinks)."""
    from bench.harness import Row, measure, run_group, typed_count
    from bench.report import NO_SINK_ROW, SINKS_ROW

    typed = typed_count(frames)
    folder = tempfile.mkdtemp(prefix="arkor-bench-sinks-")
    rows = run_group(
        [
            measure(
                Row("s", NO_SINK_ROW, frames, "k frames/s"),
                lambda: events_bare(base_url, frames),
                repeats,
                typed,
            ),
            measure(
                Row("s", SINKS_ROW, frames, "k frames/s", ref=NO_SINK_ROW),
                lambda: events_with_sinks(base_url, frames, folder, fresh_recording(folder)),
                repeats,
                typed,
            ),
        ]
    )
    memory = asyncio.run(slow_sink_memory(base_url, frames))
    print(f"  [s] {json.dumps(memory)}", file=sys.stderr, flush=True)
    kept = ", ".join(
        f"{name} wrote {stats.written:,} (dropped {stats.dropped:,})"
        for name, stats in LAST_STATS.items()
    )
    rows[-1].note = (
        f"{kept}; slow sink (10x the stream's {memory['per_event_us']:.1f} µs/event): peak buffer "
        f"{memory['high_water']}/{memory['buffer_size']}, dropped {memory['dropped']:,}, "
        f"RSS {memory['rss_first_tenth_mb']:.0f} -> {memory['rss_end_mb']:.0f} MB"
    )
    return rows


def _group_of(ctx: Any) -> list[Any]:
    return group(ctx.server_url, ctx.sizes.e2e, ctx.repeats)


def _register() -> None:
    from bench.groups import GROUPS, Group

    if not any(g.letter == "s" for g in GROUPS):
        GROUPS.append(Group("s", _group_of, needs_server=True))


_register()


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.sinks BASE_URL FRAMES``: print both rates and the memory row."""
    args = sys.argv[1:] if argv is None else argv
    base_url, frames = args[0], int(args[1])
    for row in group(base_url, frames, repeats=5):
        print(f"{row.name}: {row.median:,.1f} {row.unit} ({row.note})")


if __name__ == "__main__":
    main()
