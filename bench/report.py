"""The report of ``make bench``: ratios, targets, the per-layer table, the docs page."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.groups import (
    CLIENT_STREAM,
    DECODE_FEED,
    LAYER_DECODE,
    LAYER_PEER_DECODE,
    LAYER_TYPED,
    PIPE_REF,
    STREAM_BATCHES,
    STREAM_ITER,
    TYPED_PEER,
    UNTYPED_PEER,
)
from bench.harness import PER_ITEM_UNITS, Row, Sizes
from bench.page import EXPLANATION, WHERE
from bench.startup import startup_goals

__all__ = [
    "layers",
    "machine",
    "render_md",
    "render_targets",
    "render_text",
    "report",
    "table",
    "targets",
]


REFERENCES = {
    "a": "httpx-sse decoder",
    "b": "httpx-sse decoder + json.loads (untyped)",
    "c": None,  # the fastest untyped peer, chosen after the run
    "d": "bare asyncio.Queue loop, async no-op",
    "f": None,
    "u": "python -c pass (floor)",
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
    if row.unit in PER_ITEM_UNITS:
        return f"{row.per_item_seconds / ref.per_item_seconds:.2f}x cost"
    return f"{ref.per_item_seconds / row.per_item_seconds:.2f}x"


NO_SINK_ROW = "trainer.events(), no sink"
BACKFILL_PLAIN = "backfill: plain loop (add_scalar, csv rows, JSONL lines)"
BACKFILL_SINKS = "backfill: ax.replay + to_sink(TensorBoard, CSV, JSONL)"
LIVE_BARE = "live: 1,000 runs x 2 events/s, no sink (CPU)"
LIVE_SINKS = "live: 1,000 runs x 2 events/s + TensorBoard, Prometheus, JSONL (CPU)"
"""Group s's rows (``bench/sinks.py`` names them from here)."""


def _find(rows: list[Row], group: str, prefix: str) -> Row | None:
    """The row named ``prefix`` exactly, else the first whose name starts with it."""
    ok = [r for r in rows if r.group == group and r.ok]
    exact = next((r for r in ok if r.name == prefix), None)
    return exact or next((r for r in ok if r.name.startswith(prefix)), None)


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
        _find(rows, "a", DECODE_FEED),
        _find(rows, "a", "httpx-sse"),
        3.0,
    )
    trainer = _find(rows, "c", "arkor_rx trainer")
    speed(
        "trainer.events() typed >= 1.0x httpx + httpx-sse (untyped)",
        trainer,
        _find(rows, "c", UNTYPED_PEER),
        1.0,
    )
    speed(
        "trainer.events() typed >= 2.0x httpx-sse + pydantic (typed peer)",
        trainer,
        _find(rows, "c", TYPED_PEER),
        2.0,
    )
    speed(
        "EventStream async iteration >= 0.9x httpx + httpx-sse (untyped)",
        _find(rows, "c", STREAM_ITER),
        _find(rows, "c", UNTYPED_PEER),
        0.9,
    )
    speed(
        "end to end, typed events >= 1.5x the fastest peer (untyped; first release's goal)",
        trainer,
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
    speed(
        "backfill into TensorBoard, CSV, JSONL (every event) >= 0.8x a plain loop (issue 19)",
        _find(rows, "s", BACKFILL_SINKS),
        _find(rows, "s", BACKFILL_PLAIN),
        0.8,
    )
    live = _find(rows, "s", LIVE_SINKS)
    label = "live, 1,000 runs x 2 events/s: p99 arrival -> sink write <= 250 ms (issue 19)"
    if live is None or "p99_ms" not in live.extra:
        out.append((label, "not measured", "n/a"))
    else:
        p99 = live.extra["p99_ms"]
        steady = live.extra.get("steady_p99_ms")
        shown = (
            f"{p99:.0f} ms" if steady is None else f"{p99:.0f} ms ({steady:.0f} ms once all run)"
        )
        out.append((label, shown, "met" if p99 <= 250 else "MISSED"))
    out += startup_goals(rows)
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
        layers=render_md(layers(rows)),
        where=WHERE.strip(),
    )


def layers(rows: list[Row]) -> list[list[str]]:
    """The per-layer table: microseconds per frame in each layer, arkor_rx beside the typed peer.

    Each layer is a difference of two rows of this run (medians, µs per frame
    of the 200k-frame stream), so a small or negative figure is within the noise.
    """

    def us(group: str, name: str) -> float | None:
        row = _find(rows, group, name)
        return None if row is None else row.per_item_seconds * 1e6

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    # arkor_rx: in memory, then on the socket; all from group c (interleaved)
    decode = us("c", LAYER_DECODE)
    typed = us("c", LAYER_TYPED)
    client = us("c", CLIENT_STREAM)
    stream = us("c", STREAM_BATCHES)
    trainer = us("c", "arkor_rx trainer")
    # the typed peer: httpx-sse's decoder in memory, then httpx on the socket
    peer_decode = us("c", LAYER_PEER_DECODE)
    peer_untyped = us("c", UNTYPED_PEER)
    peer_typed = us("c", TYPED_PEER)
    ours = [
        diff(client, typed),
        decode,
        diff(typed, decode),
        diff(stream, client),
        diff(trainer, stream),
        trainer,
    ]
    theirs = [
        diff(peer_untyped, peer_decode),
        peer_decode,
        diff(peer_typed, peer_untyped),
        0.0 if peer_typed is not None else None,
        0.0 if peer_typed is not None else None,
        peer_typed,
    ]
    names = [
        "socket (HTTP client, reads, chunk plumbing)",
        "decode (SSE)",
        "validate (pydantic)",
        "stream (resume id, de-duplication, reconnect loop)",
        "delivery (Observable on_next)",
        "total, end to end",
    ]
    what = [
        "client stream minus in-memory decode+validate | untyped peer minus httpx-sse decoder",
        "`SSEDecoder.feed_frames` in memory | httpx-sse's decoder in memory",
        "`feed_frames` + `parse_batch` minus decode, in memory | typed peer minus untyped peer",
        "`EventStream.batches()` minus the client stream row | none",
        "`trainer.events()` minus `EventStream.batches()` | none",
        "`trainer.events()` | the typed peer",
    ]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    out = [["layer", "arkor_rx µs/frame", "typed peer µs/frame", "rows used (arkor_rx | peer)"]]
    for name, a, b, w in zip(names, ours, theirs, what, strict=True):
        out.append([name, fmt(a), fmt(b), w])
    return out
