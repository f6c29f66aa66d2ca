"""Sink workloads (s): a backfill with every event written, and 1,000 live runs.

Backfill: a recording of 200k events replayed with ``ax.replay(path)`` into
``aop.to_sink(TensorBoard, CSV, JSONL)`` with default settings (every event
written: the row checks the sinks' ``stats``), against a plain loop that
reads the same recording and feeds each log event to tensorboardX's
``SummaryWriter.add_scalar`` and writes the same CSV rows and JSONL lines
(the libraries' own floor). The goal: >= 0.8x the plain loop's rate.

Live: 1,000 runs at about 2 events/s each (the bench server's paced jobs),
followed by ``create_trainer(sinks=[TensorBoard, Prometheus, JSONL])``, all
sharing the three sinks. Measured: the process's CPU time per event (with
and without the sinks), and the p99 time from an event's arrival (its
``on_log`` callback) to the return of each sink's ``write`` holding it. The
goal: p99 <= 250 ms.

``python -m bench.sinks [--quick]`` prints the rows alone (it starts its own
bench server).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arkor_rx.events import TrainingLog
from bench.arkor import _consume, _trainer, make_client
from bench.report import BACKFILL_PLAIN, BACKFILL_SINKS, LIVE_BARE, LIVE_SINKS, NO_SINK_ROW

__all__ = ["backfill_plain", "backfill_sinks", "events_bare", "group", "live", "write_recording"]


async def events_bare(base_url: str, frames: int) -> int:
    """``trainer.events()`` to the end, no sink (to compare with earlier releases' figure)."""
    async with make_client(base_url) as client:
        return int(await _consume(_trainer(client, "bench", frames).events()))


def write_recording(path: Path, events: int) -> int:
    """A recording of about ``events`` events of one run (the bench stream's frames).

    Returns:
        The events it holds.
    """
    from bench.streams import frames_of

    stamp = "2026-01-01T00:00:00.000000Z"
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for frame in frames_of(events + 2 + events // 100, "backfill"):
            text = frame.decode().split("\n")
            fields = dict(line.split(": ", 1) for line in text if ": " in line)
            if fields.get("event") in ("ping", "end", None):
                continue
            data = fields["data"]
            handle.write(
                f'{{"id": "{fields["id"]}", "event": "{fields["event"]}", '
                f'"data": {data}, "receivedAt": "{stamp}"}}\n'
            )
            count += 1
    return count


def _fresh(folder: Path) -> Path:
    """An empty output folder for the next repeat (the last one's files deleted first)."""
    out = folder / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    return out


async def backfill_sinks(recording: Path, folder: Path) -> int:
    """The recording through ``to_sink(TensorBoard, CSV, JSONL)``: events written (checked)."""
    import arkor_rx as ax
    from arkor_rx import operators as aop
    from arkor_rx import sinks

    out = _fresh(folder)
    tb = sinks.TensorBoard(out / "tb")
    table = sinks.CSV(out / "metrics.csv")
    record = sinks.JSONL(out / "copy.jsonl")
    await ax.replay(recording).pipe(aop.to_sink(tb, table, record, name="backfill"))
    written = {tb.stats.written, table.stats.written, record.stats.written}
    dropped = tb.stats.dropped + table.stats.dropped + record.stats.dropped
    if len(written) != 1 or dropped:
        raise RuntimeError(f"sinks wrote {written}, dropped {dropped}")
    return written.pop()


def backfill_plain(recording: Path, folder: Path) -> int:
    """The same events by hand: ``SummaryWriter.add_scalar``, ``csv.writer``, JSONL lines."""
    from tensorboardX import SummaryWriter  # type: ignore[import-untyped]

    from arkor_rx.events import TrainingLog
    from arkor_rx.replay import read_recording
    from arkor_rx.sinks._jsonl import received_now, record_line

    out = _fresh(folder)
    writer = SummaryWriter(str(out / "tb"))
    count = 0
    tags = (
        ("train/loss", "loss"),
        ("eval/loss", "eval_loss"),
        ("train/learning_rate", "learning_rate"),
        ("train/epoch", "epoch"),
        ("train/samples_per_second", "samples_per_second"),
    )
    with (
        (out / "metrics.csv").open("w", newline="", encoding="utf-8") as table,
        (out / "copy.jsonl").open("wb") as lines,
    ):
        rows = csv.writer(table)
        for event, _ in read_recording(str(recording)):
            count += 1
            line = record_line(event, received_now())
            if line:
                lines.write(line.encode())
            if not isinstance(event, TrainingLog):
                continue
            values = [getattr(event, name) for _, name in tags]
            for (tag, _), value in zip(tags, values, strict=True):
                if value is not None:
                    writer.add_scalar(tag, value, event.step)
            cells = ["" if v is None else repr(v) for v in values]
            rows.writerow([event.job_id, "backfill", event.step, event.timestamp or "", *cells])
    writer.close()
    return count


class _Timed:
    """A sink that forwards to another and notes, per event, arrival to ``write`` returned."""

    def __init__(
        self, sink: Any, arrivals: dict[int, float], delays: list[tuple[float, float]]
    ) -> None:
        self.sink = sink
        self.name = type(sink).__name__
        self.overflow = sink.overflow
        self.buffer_size = sink.buffer_size
        self.stats = sink.stats
        self._arrivals = arrivals
        self._delays = delays

    async def open(self, job: Any) -> None:
        await self.sink.open(job)

    async def write(self, events: Sequence[Any]) -> None:
        await self.sink.write(events)
        now = time.perf_counter()
        arrivals = self._arrivals
        self._delays += [
            (arrivals[id(e)], now - arrivals[id(e)])
            for e in events
            if type(e) is TrainingLog and id(e) in arrivals
        ]

    async def close(self, outcome: Any) -> None:
        await self.sink.close(outcome)


async def live(
    base_url: str, runs: int, events: int, folder: Path, *, sinks_on: bool
) -> dict[str, Any]:
    """``runs`` paced runs of ``events`` frames (one per 500 ms), followed at once.

    Returns:
        ``events`` handled, ``cpu`` seconds of this process, and (with sinks)
        the arrival-to-written delays' ``p50``/``p99`` in ms, over every
        event and (``steady_p99_ms``) over the events that arrived once every
        run was under way and before the first one ended.
    """
    from arkor_rx import sinks

    out = _fresh(folder)
    arrivals: dict[int, float] = {}
    delays: dict[str, list[tuple[float, float]]] = {}
    firsts: dict[str, float] = {}
    ends: list[float] = []
    chosen: list[Any] = []
    if sinks_on:
        from prometheus_client import CollectorRegistry

        made = [
            sinks.TensorBoard(out / "tb"),
            sinks.Prometheus(registry=CollectorRegistry()),
            sinks.JSONL(out / "live.jsonl"),
        ]
        chosen = [
            _Timed(sink, arrivals, delays.setdefault(type(sink).__name__, [])) for sink in made
        ]
    handled = 0

    def stamp(ctx: Any) -> None:
        nonlocal handled
        handled += 1
        now = arrivals[id(ctx.event)] = time.perf_counter()
        firsts.setdefault(ctx.job.id, now)

    def ended(_ctx: Any) -> None:
        ends.append(time.perf_counter())

    tag = f"paced500-{time.monotonic_ns()}"
    start = time.process_time()
    async with make_client(base_url) as client:
        trainers = [
            _trainer(
                client,
                f"{tag}-{i}",
                events,
                sinks=chosen,
                callbacks={"on_log": stamp, "on_completed": ended},
            )
            for i in range(runs)
        ]
        await asyncio.gather(*(trainer.wait() for trainer in trainers))
    cpu = time.process_time() - start
    result: dict[str, Any] = {"events": handled, "cpu": cpu}
    if delays:
        pairs = [pair for each in delays.values() for pair in each]
        ranked = sorted(d for _, d in pairs)
        result["p50_ms"] = statistics.median(ranked) * 1e3
        result["p99_ms"] = _p99(ranked) * 1e3
        result["written"] = len(ranked)
        result["p99_ms_by_sink"] = {
            k: round(_p99(sorted(d for _, d in v)) * 1e3, 1) for k, v in delays.items()
        }
        low, high = max(firsts.values()), min(ends, default=float("inf"))
        steady = sorted(d for at, d in pairs if low <= at <= high)
        result["steady_p99_ms"] = _p99(steady) * 1e3
        result["steady_events"] = len(steady)
    return result


def _p99(ranked: list[float]) -> float:
    return ranked[int(0.99 * (len(ranked) - 1))] if ranked else float("nan")


def _live_row(name: str, runs: dict[str, Any], repeats: list[dict[str, Any]]) -> Any:
    from bench.harness import Row

    size = repeats[0]["events"]
    row = Row("s", name, size, "µs/event", ref=LIVE_BARE if name == LIVE_SINKS else None)
    row.seconds = [r["cpu"] for r in repeats]  # CPU seconds: the row reads µs of CPU per event
    if "p99_ms" in repeats[0]:
        p99 = max(r["p99_ms"] for r in repeats)
        steady = max(r["steady_p99_ms"] for r in repeats)
        p50 = statistics.median(r["p50_ms"] for r in repeats)
        row.extra["p99_ms"] = p99
        row.extra["steady_p99_ms"] = steady
        row.note = (
            f"{runs['runs']:,} runs x {runs['events']} frames; arrival -> sink write returned: "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, p99 once every run is under way "
            f"{steady:.1f} ms (worst of {len(repeats)} runs)"
        )
    return row


def group(base_url: str, *, quick: bool, repeats: int) -> list[Any]:
    """The rows of group s."""
    from bench.harness import Row, measure, run_group, typed_count

    folder = Path(tempfile.mkdtemp(prefix="arkor-bench-sinks-"))
    try:
        size = 20_000 if quick else 200_000
        recording = folder / "backfill.jsonl"
        count = write_recording(recording, size)
        frames = 20_000 if quick else 200_000
        rows = run_group(
            [
                measure(
                    Row("s", NO_SINK_ROW, frames, "k frames/s"),
                    lambda: events_bare(base_url, frames),
                    repeats,
                    typed_count(frames),
                ),
                measure(
                    Row("s", BACKFILL_PLAIN, count, "k events/s", ref=BACKFILL_PLAIN),
                    lambda: backfill_plain(recording, folder),
                    repeats,
                    count,
                ),
                measure(
                    Row("s", BACKFILL_SINKS, count, "k events/s", ref=BACKFILL_PLAIN),
                    lambda: backfill_sinks(recording, folder),
                    repeats,
                    count,
                ),
            ]
        )
        shape = {"runs": 100 if quick else 1_000, "events": 20 if quick else 60}
        live_repeats = 1 if quick else 3
        for name, sinks_on in ((LIVE_BARE, False), (LIVE_SINKS, True)):
            runs, events = shape["runs"], shape["events"]
            done = [
                asyncio.run(live(base_url, runs, events, folder, sinks_on=sinks_on))
                for _ in range(live_repeats)
            ]
            rows.append(_live_row(name, shape, done))
            print(f"  [s] {name}: {json.dumps(done)}", file=sys.stderr, flush=True)
        return rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _group_of(ctx: Any) -> list[Any]:
    return group(ctx.server_url, quick=ctx.quick, repeats=ctx.repeats)


def _register() -> None:
    from bench.groups import GROUPS, Group

    if not any(g.letter == "s" for g in GROUPS):
        GROUPS.append(Group("s", _group_of, needs_server=True))


_register()


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.sinks [--quick] [--repeats N]``: print the rows of group s."""
    from bench.server import spawn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with spawn() as server:
        rows = group(server.base_url, quick=args.quick, repeats=args.repeats)
    for row in rows:
        print(f"{row.name}: {row.median:,.2f} {row.unit} {row.note}".rstrip())


if __name__ == "__main__":
    main()
