"""The harness of ``make bench``: run every workload, print one table, write the docs page.

Every contestant of a group runs in this one process, in the same run, one
after the other: one warm-up run, then ``--repeats`` timed runs (at least 5),
reported as the median with min and max. Rates are per item (frames per
second for decoders and streams, microseconds per event for dispatch), so
contestants measured at different sizes compare fairly. Ratios are same-run
ratios against the group's reference row.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import peers, workloads
from bench.server import spawn
from bench.streams import count_kinds, training_stream

__all__ = ["Row", "main"]

ROOT = Path(__file__).resolve().parent.parent


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
        if self.unit == "µs/event":
            return [s / self.size * 1e6 for s in self.seconds]
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


# --- the groups ---------------------------------------------------------------


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


def group_decode(sizes: Sizes, repeats: int) -> list[Row]:
    n = sizes.decode
    chunks = workloads.stream_chunks(n)
    rows = [
        measure(
            Row("a", "arkor_rx.sse SSEDecoder", n, "k frames/s"),
            lambda: workloads.arkor_decode(chunks),
            repeats,
            n,
        )
    ]
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
    if peers.available("httpx_sse"):
        rows.append(
            measure(
                Row("b", "httpx-sse decoder + json.loads (untyped)", n, "k frames/s"),
                lambda: workloads.httpx_sse_decode_json(chunks),
                repeats,
                n,
            )
        )
    return run_group(rows)


def group_e2e(base_url: str, sizes: Sizes, repeats: int) -> list[Row]:
    n, slow = sizes.e2e, sizes.e2e_slow
    url = f"{base_url}/v1/jobs/e2e-n{n}/events/stream"
    slow_url = f"{base_url}/v1/jobs/e2e-n{slow}/events/stream"
    nbytes = len(training_stream(n))
    typed = typed_count(n)
    rows = [
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
            Row("c", "arkor_rx EventStream (async iterator, typed)", n, "k frames/s"),
            lambda: workloads.arkor_event_stream(base_url, n),
            repeats,
            typed,
        ),
        measure(
            Row("c", "arkor_rx client stream + SSEDecoder + parse_event", n, "k frames/s"),
            lambda: workloads.arkor_client_stream(base_url, n),
            repeats,
            typed,
        ),
    ]
    if peers.available("httpx", "httpx_sse"):
        rows.append(
            measure(
                Row("c", "httpx + httpx-sse (untyped)", n, "k frames/s"),
                lambda: peers.httpx_sse_stream(url, n),
                repeats,
                n,
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


def group_dispatch(sizes: Sizes, repeats: int) -> list[Row]:
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


def group_fan_in(base_url: str, server_pid: int, sizes: Sizes, repeats: int) -> list[Row]:
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


def group_memory(base_url: str, sizes: Sizes) -> list[dict[str, Any]]:
    """Each memory measurement in a fresh child process, so its peak RSS is its own."""
    results = []
    for mode, frames in (("events", sizes.memory), ("bigline", 0)):
        cmd = [sys.executable, "-m", "bench.memory", mode, base_url, str(frames)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
        if proc.returncode != 0:
            results.append({"mode": mode, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  [e] {mode}: {results[-1]}", file=sys.stderr, flush=True)
    return results


# --- report -----------------------------------------------------------------


REFERENCES = {
    "a": "httpx-sse decoder",
    "b": "httpx-sse decoder + json.loads (untyped)",
    "c": None,  # the fastest untyped peer, chosen after the run
    "d": "bare asyncio.Queue loop, async no-op",
    "f": None,
}


def _reference(row: Row, rows: list[Row]) -> Row | None:
    candidates = [r for r in rows if r.group == row.group and r.ok]
    if row.ref is None and row.group == "c":
        peers_ = [r for r in candidates if "untyped" in r.name]
        return max(peers_, key=lambda r: r.median) if peers_ else None
    name = row.ref if row.ref is not None else REFERENCES.get(row.group)
    return next((r for r in candidates if r.name == name), None)


def _ratio(row: Row, ref: Row | None) -> str:
    if ref is None or not row.ok:
        return ""
    if row.unit == "µs/event":
        return f"{row.per_item_seconds / ref.per_item_seconds:.2f}x cost"
    return f"{ref.per_item_seconds / row.per_item_seconds:.2f}x"


def _find(rows: list[Row], group: str, prefix: str) -> Row | None:
    return next((r for r in rows if r.group == group and r.name.startswith(prefix) and r.ok), None)


def targets(rows: list[Row], memory: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each target of the issue."""
    out: list[tuple[str, str, str]] = []

    def speed(label: str, a: Row | None, b: Row | None, goal: float) -> None:
        if a is None or b is None:
            out.append((label, "not measured", "n/a"))
            return
        r = b.per_item_seconds / a.per_item_seconds
        out.append((label, f"{r:.2f}x", "met" if r >= goal else "MISSED"))

    def cost(label: str, a: Row | None, b: Row | None, goal: float) -> None:
        if a is None or b is None:
            out.append((label, "not measured", "n/a"))
            return
        r = a.per_item_seconds / b.per_item_seconds
        out.append((label, f"{r:.2f}x", "met" if r <= goal else "MISSED"))

    speed(
        "in-memory decode >= 3x httpx-sse's decoder",
        _find(rows, "a", "arkor_rx"),
        _find(rows, "a", "httpx-sse"),
        3.0,
    )
    speed(
        "end to end, typed events >= 1.5x the fastest peer (untyped)",
        _find(rows, "c", "arkor_rx trainer"),
        _reference(Row("c", "", 1, ""), rows),
        1.5,
    )
    bare = _find(rows, "d", "bare")
    cost(
        "async callbacks <= 2x the bare asyncio loop",
        _find(rows, "d", "Trainer callbacks, async"),
        bare,
        2.0,
    )
    sync_row = _find(rows, "d", "Trainer callbacks, sync")
    async_row = _find(rows, "d", "Trainer callbacks, async")
    if sync_row and async_row:
        cheaper = sync_row.per_item_seconds <= async_row.per_item_seconds
        out.append(
            (
                "sync callbacks cheaper than async ones",
                f"{sync_row.median:.2f} vs {async_row.median:.2f} µs/event",
                "met" if cheaper else "MISSED",
            )
        )
    else:
        out.append(("sync callbacks cheaper than async ones", "not measured", "n/a"))
    cost(
        "operator pipeline <= 1.5x RxPY's Subject pipeline",
        _find(rows, "d", "arkor_rx operators"),
        _find(rows, "d", PIPE_REF),
        1.5,
    )
    events = next((m for m in memory if m.get("mode") == "events"), None)
    if events and "growth_mb" in events:
        flat = events["growth_mb"] <= 20.0
        out.append(
            (
                "memory flat over 1 M events",
                f"{events['growth_mb']:+.1f} MB of RSS from 10% to 100% of the stream",
                "met" if flat else "MISSED",
            )
        )
    else:
        out.append(
            (
                "memory flat over 1 M events",
                str(events.get("error") if events else "not measured"),
                "n/a",
            )
        )
    return out


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for dist in (
        "arkor_rx",
        "aiohttp",
        "pydantic",
        "pydantic_core",
        "reactivex",
        "httpx",
        "httpx-sse",
        "sseclient-py",
        "requests",
        "aiohttp-sse-client",
    ):
        try:
            versions.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            versions.append(f"{dist} (not installed)")
    return {
        "platform": platform.platform(),
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": ", ".join(versions),
    }


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:,.2f}"


def table(rows: list[Row]) -> list[list[str]]:
    out = [["group", "contestant", "size", "unit", "median", "min", "max", "ratio"]]
    for row in rows:
        ref = _reference(row, rows)
        if not row.ok:
            out.append([row.group, row.name, f"{row.size:,}", row.unit, "-", "-", "-", row.error])
            continue
        values = row.values()
        ratio = _ratio(row, ref) if ref is not row else "reference"
        if row.note:
            ratio = f"{ratio}; {row.note}" if ratio else row.note
        out.append(
            [
                row.group,
                row.name,
                f"{row.size:,}",
                row.unit,
                _fmt(statistics.median(values)),
                _fmt(min(values)),
                _fmt(max(values)),
                ratio,
            ]
        )
    return out


def render_text(cells: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for j, r in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 or i == 7 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_md(cells: list[list[str]]) -> str:
    head, *body = cells
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    return "\n".join(lines)


def memory_lines(memory: list[dict[str, Any]]) -> list[str]:
    lines = []
    for m in memory:
        if m.get("mode") == "events" and "rss_samples_mb" in m:
            lines.append(
                f"- `trainer.events()` over {m['frames']:,} frames ({m['events']:,} typed events, "
                f"a rolling window of the last 1,000 losses kept): RSS "
                f"{m['rss_samples_mb'][0]} MB after the first tenth, {m['rss_samples_mb'][-1]} MB "
                f"at the end (growth {m['growth_mb']:+.1f} MB; samples at each tenth: "
                f"{', '.join(map(str, m['rss_samples_mb']))} MB); peak {m['peak_rss_mb']} MB; "
                f"{m['seconds']} s ({m['frames'] / m['seconds'] / 1e3:,.0f} k frames/s)."
            )
        elif m.get("mode") == "bigline" and "peak_rss_mb" in m:
            lines.append(
                f"- a 100 MB `data:` line without a newline: stopped after {m['seconds']} s with "
                f"`{m['error'] or 'no error (!)'}`; RSS {m['rss_start_mb']} MB before, peak "
                f"{m['peak_rss_mb']} MB."
            )
        else:
            lines.append(f"- {m.get('mode')}: failed: {m.get('error')}")
    return lines


def render_targets(rows: list[tuple[str, str, str]], markdown: bool) -> str:
    if markdown:
        out = ["| target | measured (same run) | verdict |", "| --- | --- | --- |"]
        out += [f"| {t} | {m} | {v} |" for t, m, v in rows]
        return "\n".join(out)
    width = max(len(t) for t, _, _ in rows)
    return "\n".join(f"{t.ljust(width)}  {m}  [{v}]" for t, m, v in rows)


def main(argv: list[str] | None = None) -> None:
    """``python -m bench [--repeats 5] [--quick] [--output docs/performance.md]``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per contestant (>= 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick look")
    parser.add_argument("--output", type=Path, default=None, help="write the markdown report here")
    parser.add_argument(
        "--only", default="abcdefg", help="groups to run, e.g. 'ad' (default: all of abcdefg)"
    )
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    repeats = args.repeats
    started = time.perf_counter()
    rows: list[Row] = []
    memory: list[dict[str, Any]] = []
    if "a" in args.only or "b" in args.only:
        rows += group_decode(sizes, repeats)
    if "d" in args.only:
        rows += group_dispatch(sizes, repeats)
    if "g" in args.only:  # cross-run pruners (bench/sweep.py)
        from bench.sweep import group_sweep

        rows += group_sweep(args.quick, repeats)
    if {"c", "e", "f"} & set(args.only):
        warm = [sizes.e2e, sizes.e2e_slow, sizes.fan_small[1], sizes.fan_large[1], sizes.memory]
        with spawn(warm) as server:
            if "c" in args.only:
                rows += group_e2e(server.base_url, sizes, repeats)
            if "f" in args.only:
                rows += group_fan_in(server.base_url, server.pid, sizes, repeats)
            if "e" in args.only:
                memory = group_memory(server.base_url, sizes)
            if "g" in args.only:  # sinks attached (bench/sinks.py)
                rows += __import__("bench.sinks").sinks.group(server.base_url, sizes.e2e, repeats)
    rows.sort(key=lambda r: r.group)
    elapsed = time.perf_counter() - started
    cells = table(rows)
    goals = targets(rows, memory)
    print()
    print(render_text(cells))
    print()
    print("\n".join(memory_lines(memory)))
    print()
    print(render_targets(goals, markdown=False))
    print(f"\n(whole run: {elapsed:.0f} s)")
    if args.output is not None:
        path = args.output if args.output.is_absolute() else ROOT / args.output
        path.write_text(
            report(rows, cells, memory, goals, machine(), sizes, repeats, elapsed, argv)
        )
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def report(
    rows: list[Row],
    cells: list[list[str]],
    memory: list[dict[str, Any]],
    goals: list[tuple[str, str, str]],
    host: dict[str, str],
    sizes: Sizes,
    repeats: int,
    elapsed: float,
    argv: list[str] | None,
) -> str:
    args = " ".join(argv if argv is not None else sys.argv[1:])
    return EXPLANATION.format(
        table=render_md(cells),
        memory="\n".join(memory_lines(memory)) or "- not measured in this run",
        targets=render_targets(goals, markdown=True),
        platform=host["platform"],
        cpu=host["cpu"],
        python=host["python"],
        versions=host["versions"],
        repeats=repeats,
        elapsed=f"{elapsed:.0f}",
        command=f"make bench  # runs: bench/.venv/bin/python -m bench {args}".rstrip(),
        decode=f"{sizes.decode:,}",
        where="\n".join(breakdown(rows)) + "\n\n" + WHERE.strip(),
    )


def breakdown(rows: list[Row]) -> list[str]:
    """Microseconds per frame spent in each layer, from this run's medians."""

    def us(group: str, prefix: str) -> float | None:
        row = _find(rows, group, prefix)
        return None if row is None else row.per_item_seconds * 1e6

    decode = us("a", "arkor_rx.sse")
    typed = us("b", "arkor_rx.sse")
    floor = us("c", "aiohttp raw")
    client = us("c", "arkor_rx client")
    trainer = us("c", "arkor_rx trainer")
    peer = _reference(Row("c", "", 1, ""), rows)
    lines = [
        "Per frame of the 200k-frame stream, from this run's medians (µs per frame). The",
        "layers are differences of rows measured separately, so a small or negative",
        "difference is within the noise:",
        "",
    ]
    if floor is not None:
        lines.append(f"- reading the bytes off the loopback socket (aiohttp): {floor:.2f}")
    if decode is not None:
        lines.append(f"- SSE decoding (`SSEDecoder.feed`): {decode:.2f}")
    if decode is not None and typed is not None:
        lines.append(f"- typed validation (`parse_event`, pydantic): {typed - decode:.2f}")
    if client is not None and typed is not None and floor is not None:
        lines.append(
            f"- the client's stream plumbing on a real socket "
            f"(client stream minus in-memory decode+parse minus the floor): "
            f"{client - typed - floor:.2f}"
        )
    stream = us("c", "arkor_rx EventStream")
    if stream is not None and client is not None:
        lines.append(
            f"- `EventStream` above the client (resume id, de-duplication window, "
            f"async iteration): {stream - client:.2f}"
        )
    if trainer is not None and stream is not None:
        lines.append(
            f"- `trainer.events()` above `EventStream` (Observable delivery): "
            f"{trainer - stream:.2f}"
        )
    if trainer is not None:
        lines.append(f"- total, `trainer.events()` end to end: {trainer:.2f}")
    if peer is not None:
        lines.append(f"- for comparison, {peer.name} end to end: {peer.per_item_seconds * 1e6:.2f}")
    return lines


WHERE = """
What the layers do, from the bottom up:

- **Socket.** aiohttp hands over whatever the kernel buffered (a few hundred
  KB per read here); the floor row shows that reading the bytes is a small
  fraction of the total.
- **SSE decoding** (`arkor_rx.sse`) is pure Python: UTF-8 decode of the chunk,
  then per-frame string work (split, field recognition, one
  `ServerSentEvent` per frame). Its cost is mostly a fixed number of
  string operations and one object per frame.
- **Typed validation** (`parse_event`) is one pydantic-core `validate_json`
  per frame, with the validator of the class the SSE `event:` name names
  (the discriminated union, whose callable discriminator makes pydantic build
  the Python dict first and call back into Python, is used only when the
  JSON `type` does not match); it is still the largest single cost, and the
  reason typed events end to end stay near the untyped peers rather than
  1.5x ahead of them.
- **EventStream** (`arkor_rx.stream`) adds the resume id bookkeeping and the
  de-duplication window (the ids of the last `dedupe_window` events) per
  event, and one async-generator step per event.
- **trainer.events()** adds the Observable delivery (`observe_async`): one
  `on_next` through RxPY's auto-detach observer per event.
- **Dispatch** (`arkor_rx.dispatch`): one dict lookup, one small context
  object and the callback call per event; an async callback adds its own
  coroutine, awaited inline (no Task, no Rx subscription per event), which
  is why it stays within a small factor of a bare `async for` loop, while
  `concat_map(defer(from_future(task)))` pays a Task and several Rx
  subscriptions per event.
- **Operators** (`arkor_rx.operators`): each stage is one RxPY observer hop,
  like RxPY's own `filter`/`map`/`scan`; ours also build a `MetricPoint`
  per stage and look the metric up by name.

Fairness notes: every peer reads the whole stream (aiohttp-sse-client, which
reconnects at the end of a stream, stops at the last frame);
requests + sseclient-py reads 64 KiB chunks (`SSEClient(response)` as
documented iterates 128-byte chunks and is much slower); aiohttp-sse-client
runs on a smaller stream to keep the bench short (per-frame rates compare
anyway). The fan-in streams are *live*: each sends half its frames, then
waits (up to 0.5 s) until every stream of the run is open, as jobs running
at the same time would, so a client that cannot hold them all open stalls.

`python -m bench.profile {decode,parse,stream,e2e,client,dispatch-sync,
dispatch-async,pipeline}` (with `bench/.venv/bin/python`) prints a
pyinstrument call tree of any of these workloads.
"""


EXPLANATION = """\
# Performance

This page is written by `make bench`; do not edit it by hand. Every figure
below comes from one run on the machine described at the end, with arkor_rx
and its peers measured one after the other in the same process. Each row is
the median of {repeats} timed runs (after one warm-up run), with the min and
max. Rates are per frame of input (pings included) or per event, so rows
measured at different sizes compare fairly. Ratios are same-run ratios
against the group's reference: for rates, how many times faster than the
reference (higher is better); for dispatch, how many times the reference's
cost per event (lower is better).

## Results

{table}

Groups: (a) in-memory decode of a {decode}-frame training stream (logs with
ids, 1% pings, a checkpoint every 500 frames) fed in 64 KiB chunks;
(b) decode plus typed, validated events; (c) end to end over loopback from a
static stream server in a separate process (reference: the fastest untyped
peer; the EventStream and client-stream rows show the layers under
`trainer.events()`); (d) dispatch of a no-op user callback per event through
the Trainer's `Dispatcher` and `drain` (the loop `Trainer.wait()` runs), fed
from the same `asyncio.Queue` as the bare loop, and an operator pipeline
pushed through a `Subject`; (f) many live job streams followed at once by one
process through one client (`trainer.events()` each); CPU is the client's
and the server's CPU time over the wall time of the runs.

Timing on a shared 2-core machine is noisy: contestants of a group run
round-robin (one run of each in turn), so a burst of outside load slows them
alike and the same-run ratios stay fair, but absolute rates move from run to
run by 20% or more.

### Memory (e)

{memory}

## Targets

{targets}

## Where the time goes

{where}

## How to reproduce

```
{command}
```

`make bench` creates `bench/.venv` (the peers: `bench/requirements.txt`;
arkor_rx and its own dependencies come from the project's `.venv` through a
`.pth` file, so the library is measured exactly as installed), starts the
static stream server (`bench/server.py`) in a child process on a free
loopback port, and runs `python -m bench`. The whole run took {elapsed} s.
`python -m bench --quick` runs every workload at a tenth of the size.

## Machine

- platform: {platform}
- CPU: {cpu}
- Python: {python}
- versions: {versions}
"""
