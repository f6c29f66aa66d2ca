"""The groups of ``make bench``: each a function of the run's :class:`Context`.

A group measures its contestants with :func:`bench.harness.measure` and runs
them interleaved with :func:`bench.harness.run_group`. :data:`GROUPS` lists
them in the order they run; other bench modules add theirs to that list
(``bench/sinks.py``, ``bench/sweep.py``): a :class:`Group` names its letter,
its function, and whether it needs the stream server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import peers, workloads
from bench.harness import Entry, Row, Sizes, measure, run_group, typed_count
from bench.streams import training_stream

__all__ = [
    "BATCH_PARSE",
    "CLIENT_STREAM",
    "DECODE_FEED",
    "DECODE_FRAMES",
    "GROUPS",
    "HTTPX_FLOOR",
    "LAYER_DECODE",
    "LAYER_PEER_DECODE",
    "LAYER_TYPED",
    "PIPE_REF",
    "STREAM_BATCHES",
    "STREAM_ITER",
    "TYPED_PEER",
    "TYPED_PEER_MEM",
    "UNTYPED_PEER",
    "Context",
    "Group",
]

ROOT = Path(__file__).resolve().parent.parent

DECODE_FEED = "arkor_rx.sse SSEDecoder"
DECODE_FRAMES = "arkor_rx.sse SSEDecoder.feed_frames (columns, as the stream reads)"
LAYER_DECODE = "in memory, for the layers: arkor_rx feed_frames"
LAYER_TYPED = "in memory, for the layers: arkor_rx feed_frames + parse_batch"
LAYER_PEER_DECODE = "in memory, for the layers: httpx-sse decoder"
BATCH_PARSE = "arkor_rx.sse feed_frames + parse_batch (typed, per chunk)"
TYPED_PEER_MEM = "httpx-sse decoder + pydantic validate_json (typed)"
CLIENT_STREAM = "arkor_rx client stream + feed_frames + parse_batch"
STREAM_ITER = "arkor_rx EventStream (async iterator, typed)"
STREAM_BATCHES = "arkor_rx EventStream.batches() (typed)"
UNTYPED_PEER = "httpx + httpx-sse (untyped)"
TYPED_PEER = "httpx + httpx-sse + pydantic validate_json (typed peer)"
HTTPX_FLOOR = "httpx raw bytes (typed peer's floor)"


@dataclass
class Context:
    """What a group gets: the sizes, the repeats, and the stream server (if it asked)."""

    sizes: Sizes
    repeats: int
    server_url: str = ""
    server_pid: int = 0
    memory: list[dict[str, Any]] = field(default_factory=list)
    """Where the memory group leaves its measurements (they are not rows)."""
    quick: bool = False
    """True for ``--quick`` (small sizes)."""


@dataclass(frozen=True)
class Group:
    """One group of the bench."""

    letter: str
    run: Callable[[Context], list[Row]]
    needs_server: bool = False


def group_decode(ctx: Context) -> list[Row]:
    sizes, repeats = ctx.sizes, ctx.repeats
    n = sizes.decode
    chunks = workloads.stream_chunks(n)
    rows = [
        measure(
            Row("a", DECODE_FEED, n, "k frames/s"),
            lambda: workloads.arkor_decode(chunks),
            repeats,
            n,
        )
    ]
    rows.append(
        measure(
            Row("a", DECODE_FRAMES, n, "k frames/s"),
            lambda: workloads.arkor_decode_frames(chunks),
            repeats,
            n,
        )
    )
    if peers.available("httpx_sse"):
        rows.append(
            measure(
                Row("a", "httpx-sse decoder", n, "k frames/s"),
                lambda: peers.httpx_sse_decode(chunks),
                repeats,
                n,
            )
        )
    if peers.available("sseclient"):
        rows.append(
            measure(
                Row("a", "sseclient-py", n, "k frames/s"),
                lambda: peers.sseclient_decode(chunks),
                repeats,
                n,
            )
        )
    rows.append(
        measure(
            Row("b", "arkor_rx.sse + parse_event (typed)", n, "k frames/s"),
            lambda: workloads.arkor_decode_parse(chunks),
            repeats,
            n,
        )
    )
    rows.append(
        measure(
            Row("b", BATCH_PARSE, n, "k frames/s"),
            lambda: workloads.arkor_decode_parse_batch(chunks),
            repeats,
            n,
        )
    )
    if peers.available("httpx_sse"):
        rows.append(
            measure(
                Row("b", "httpx-sse decoder + json.loads (untyped)", n, "k frames/s"),
                lambda: workloads.httpx_sse_decode_json(chunks),
                repeats,
                n,
            )
        )
        rows.append(
            measure(
                Row("b", TYPED_PEER_MEM, n, "k frames/s"),
                lambda: peers.httpx_sse_pydantic_decode(chunks),
                repeats,
                n,
            )
        )
    return run_group(rows)


def group_e2e(ctx: Context) -> list[Row]:
    base_url, sizes, repeats = ctx.server_url, ctx.sizes, ctx.repeats
    n, slow = sizes.e2e, sizes.e2e_slow
    url = f"{base_url}/v1/jobs/e2e-n{n}/events/stream"
    slow_url = f"{base_url}/v1/jobs/e2e-n{slow}/events/stream"
    nbytes = len(training_stream(n))
    typed = typed_count(n)
    chunks = workloads.stream_chunks(n)
    # In-memory rows, interleaved with the end-to-end ones so that the layer
    # table (bench.report.layers) takes every difference within this one group.
    rows = [
        measure(
            Row("c", LAYER_DECODE, n, "k frames/s", ref=LAYER_DECODE),
            lambda: workloads.arkor_decode_frames(chunks),
            repeats,
            n,
        ),
        measure(
            Row("c", LAYER_TYPED, n, "k frames/s", ref=LAYER_TYPED),
            lambda: workloads.arkor_decode_parse_batch(chunks),
            repeats,
            n,
        ),
    ]
    if peers.available("httpx_sse"):
        rows.append(
            measure(
                Row("c", LAYER_PEER_DECODE, n, "k frames/s", ref=LAYER_PEER_DECODE),
                lambda: peers.httpx_sse_decode(chunks),
                repeats,
                n,
            )
        )
    rows += [
        measure(
            Row("c", "aiohttp raw bytes (floor)", n, "k frames/s"),
            lambda: workloads.aiohttp_raw_bytes(url, nbytes),
            repeats,
            nbytes,
        ),
        measure(
            Row("c", "arkor_rx trainer.events() (typed)", n, "k frames/s"),
            lambda: workloads.arkor_events_stream(base_url, n),
            repeats,
            typed,
        ),
        measure(
            Row("c", STREAM_ITER, n, "k frames/s"),
            lambda: workloads.arkor_event_stream(base_url, n),
            repeats,
            typed,
        ),
        measure(
            Row("c", STREAM_BATCHES, n, "k frames/s"),
            lambda: workloads.arkor_event_stream_batches(base_url, n),
            repeats,
            typed,
        ),
        measure(
            Row("c", CLIENT_STREAM, n, "k frames/s"),
            lambda: workloads.arkor_client_stream(base_url, n),
            repeats,
            typed,
        ),
    ]
    if peers.available("httpx", "httpx_sse"):
        rows.append(
            measure(
                Row("c", UNTYPED_PEER, n, "k frames/s"),
                lambda: peers.httpx_sse_stream(url, n),
                repeats,
                n,
            )
        )
        rows.append(
            measure(
                Row("c", TYPED_PEER, n, "k frames/s", ref=TYPED_PEER),
                lambda: peers.httpx_sse_pydantic_stream(url, n),
                repeats,
                typed,
            )
        )
        rows.append(
            measure(
                Row("c", HTTPX_FLOOR, n, "k frames/s"),
                lambda: peers.httpx_raw_bytes(url, nbytes),
                repeats,
                nbytes,
            )
        )
    if peers.available("requests", "sseclient"):
        rows.append(
            measure(
                Row("c", "requests + sseclient-py (untyped)", n, "k frames/s"),
                lambda: peers.requests_sseclient_stream(url, n),
                repeats,
                n,
            )
        )
    if peers.available("aiohttp_sse_client"):
        rows.append(
            measure(
                Row("c", "aiohttp-sse-client (untyped)", slow, "k frames/s"),
                lambda: peers.aiohttp_sse_client_stream(slow_url, slow),
                repeats,
                slow,
            )
        )
    return run_group(rows)


PIPE_REF = "RxPY Subject: filter, map, scan(EMA)"


def group_dispatch(ctx: Context) -> list[Row]:
    sizes, repeats = ctx.sizes, ctx.repeats
    events = workloads.typed_events(sizes.dispatch + sizes.dispatch // 50)[: sizes.dispatch]
    n = len(events)
    naive = events[: sizes.naive]

    def sync_noop(_ctx: Any) -> None:
        return None

    async def async_noop(_ctx: Any) -> None:
        return None

    rows = [
        measure(
            Row("d", "bare asyncio.Queue loop, async no-op", n, "µs/event"),
            lambda: workloads.bare_queue_loop(events),
            repeats,
            n,
        ),
        measure(
            Row("d", "Trainer callbacks, sync no-op", n, "µs/event"),
            lambda: workloads.run_callbacks(events, sync_noop),
            repeats,
            n,
        ),
        measure(
            Row("d", "Trainer callbacks, async no-op", n, "µs/event"),
            lambda: workloads.run_callbacks(events, async_noop),
            repeats,
            n,
        ),
        measure(
            Row("d", "RxPY concat_map(defer(from_future)), async no-op", len(naive), "µs/event"),
            lambda: workloads.naive_concat_map(naive),
            repeats,
            len(naive),
        ),
    ]
    pipe_events = workloads.typed_events(sizes.pipeline)
    logs = sum(1 for e in pipe_events if workloads._is_log(e))
    m = len(pipe_events)
    rows += [
        measure(
            Row("d", PIPE_REF, m, "µs/event", ref=PIPE_REF),
            lambda: workloads.pipeline_rxpy_subject(pipe_events),
            repeats,
            logs,
        ),
        measure(
            Row("d", "arkor_rx operators: logs, metric, ema", m, "µs/event", ref=PIPE_REF),
            lambda: workloads.pipeline_arkor(pipe_events),
            repeats,
            logs,
        ),
    ]
    return run_group(rows)


def group_fan_in(ctx: Context) -> list[Row]:
    base_url, server_pid, sizes, repeats = ctx.server_url, ctx.server_pid, ctx.sizes, ctx.repeats
    entries: list[Entry] = []
    meters: list[_CpuMeter] = []
    for streams, frames in (sizes.fan_small, sizes.fan_large):
        typed = streams * typed_count(frames)
        row = Row("f", f"{streams:,} streams x {frames:,} frames", streams * frames, "k frames/s")
        cpu = _CpuMeter(server_pid)

        async def job(streams: int = streams, frames: int = frames, cpu: _CpuMeter = cpu) -> int:
            cpu.start()
            try:
                return await workloads.arkor_fan_in(base_url, streams, frames)
            finally:
                cpu.stop()
                cpu.peaks.append(await _peak_streams(base_url))

        entries.append(measure(row, job, repeats, typed))
        meters.append(cpu)
    rows = run_group(entries)
    for row, cpu in zip(rows, meters, strict=True):
        if row.ok:
            row.extra = cpu.summary()
            row.note = (
                f"client CPU {row.extra['client_cpu']:.0%}, "
                f"server CPU {row.extra['server_cpu']:.0%} (of one core); "
                f"at most {max(cpu.peaks)} streams open at once"
            )
    return rows


class _CpuMeter:
    """CPU time of this process and of the server over the timed runs."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.runs: list[tuple[float, float, float]] = []
        self.peaks: list[int] = []
        self._start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _now(self) -> tuple[float, float, float]:
        me = os.times()
        return (time.perf_counter(), me.user + me.system, _proc_cpu(self.server_pid))

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        end = self._now()
        self.runs.append(tuple(e - s for e, s in zip(end, self._start, strict=True)))  # type: ignore[arg-type]

    def summary(self) -> dict[str, float]:
        runs = self.runs[1:] or self.runs  # drop the warm-up
        wall = sum(r[0] for r in runs)
        return {
            "client_cpu": sum(r[1] for r in runs) / wall,
            "server_cpu": sum(r[2] for r in runs) / wall,
        }


async def _peak_streams(base_url: str) -> int:
    """The server's peak number of concurrent streams since the last ask."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/bench/stats") as r:
        body = await r.json()
    return int(body["peak_concurrent_streams"])


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid``, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def group_memory(ctx: Context) -> list[dict[str, Any]]:
    base_url, sizes = ctx.server_url, ctx.sizes
    """Each memory measurement in a fresh child process, so its peak RSS is its own."""
    results: list[dict[str, Any]] = []
    for mode, frames in (("events", sizes.memory), ("bigline", 0)):
        cmd = [sys.executable, "-m", "bench.memory", mode, base_url, str(frames)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
        if proc.returncode != 0:
            results.append({"mode": mode, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  [e] {mode}: {results[-1]}", file=sys.stderr, flush=True)
    return results


def _memory_rows(ctx: Context) -> list[Row]:
    ctx.memory = group_memory(ctx)
    return []


GROUPS: list[Group] = [
    Group("ab", group_decode),
    Group("d", group_dispatch),
    Group("c", group_e2e, needs_server=True),
    Group("f", group_fan_in, needs_server=True),
    Group("e", _memory_rows, needs_server=True),
]
"""Every group, in the order they run. Append yours (``GROUPS.append(Group(...))``)."""
