"""Group g of ``make bench``: what a cross-run pruner costs per reported value, at 10 to 1,000 runs.

The goal (issue 10, item 7): at 1,000 runs a pruner's cost per reported
value stays below the cost of decoding and validating one event
(``SSEDecoder`` + ``parse_event``), measured in the same run.

The sweep is scripted, in memory: each run logs ``eval_loss`` at every step
(a per-run quality times a decaying curve, plus noise). The first fifth of
the runs run to completion first, then the rest run together, their reports
interleaved step by step, so every check meets a full table of completed
values. A run the pruner stops sends nothing more, as in a real sweep
(found by one untimed pass). Each timed run pushes the events into a fresh
subscription of the pruner (see :func:`push`); the cost is per event pushed
(almost all are reports, the rest completions), decisions included. The
"merged-stream delivery" rows show, for scale, what a bare ``Subject``
costs per event on the same stream.

``python -m bench.sweep [--quick] [--repeats N]`` prints this group alone;
``python -m bench --only p`` runs it inside the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable
from reactivex.subject import Subject

from arkor_rx import operators as aop
from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.runs import PruneDecision, Run, RunEvent
from bench import workloads
from bench.harness import Row, measure, run_group
from bench.report import render_text, table

__all__ = ["DECODE_ROW", "group_sweep", "push", "scripted_sweep", "without_pruned"]

DECODE_ROW = "decode+validate one event (SSEDecoder + parse_event)"
STEPS = 50
"""Reports per run."""
PER_RUN_TARGET = 50_000
"""Events per timed run: small sweeps are pushed several times (a fresh pruner each)."""

ROOT = Path(__file__).resolve().parent.parent

PrunerFactory = Callable[[], Callable[[Observable[RunEvent]], Observable[PruneDecision]]]


def scripted_sweep(runs: int, steps: int = STEPS, seed: int = 0) -> list[RunEvent]:
    """The merged stream of a scripted sweep of ``runs`` runs (see the module docstring)."""
    rng = random.Random(seed)
    handles = [Run(i, f"job-{i:04d}", {"learning_rate": 1e-4 * (1 + i % 7)}) for i in range(runs)]
    quality = [rng.uniform(0.5, 1.5) for _ in handles]

    def report(i: int, step: int) -> RunEvent:
        value = quality[i] * (1.0 + 2.0 / (1 + step)) + rng.gauss(0.0, 0.02)
        return RunEvent(
            handles[i], TrainingLog(job_id=handles[i].job_id or "", step=step, eval_loss=value)
        )

    def end(i: int) -> RunEvent:
        return RunEvent(handles[i], TrainingCompleted(job_id=handles[i].job_id or ""))

    first = max(runs // 5, 1)
    out: list[RunEvent] = []
    for i in range(first):
        out += [report(i, step) for step in range(1, steps + 1)]
        out.append(end(i))
    rest = range(first, runs)
    for step in range(1, steps + 1):
        out += [report(i, step) for i in rest]
    out += [end(i) for i in rest]
    return out


def push(events: list[RunEvent], make: PrunerFactory | None) -> list[PruneDecision]:
    """Push the events into a fresh subscription of a pruner; return its decisions.

    The events go straight into the observer the pruner subscribed with (no
    ``Subject`` in between), so the time is the pruner's own: its Rx hop and
    its decision. With ``make=None`` they go through a bare ``Subject`` to one
    no-op observer instead: the cost of delivering the merged stream at all.
    """
    decisions: list[PruneDecision] = []
    if make is None:
        subject: Subject[RunEvent] = Subject()
        subject.subscribe(lambda _: None)
        on_next = subject.on_next
    else:
        taps: list[abc.ObserverBase[RunEvent]] = []

        def subscribe(
            observer: abc.ObserverBase[RunEvent], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            taps.append(observer)
            return Disposable()

        make()(Observable(subscribe)).subscribe(decisions.append)
        on_next = taps[0].on_next
    for event in events:
        on_next(event)
    return decisions


def without_pruned(events: list[RunEvent], make: PrunerFactory) -> list[RunEvent]:
    """The stream a real sweep would deliver: nothing from a run after it was pruned."""
    stopped: set[int] = set()
    kept: list[RunEvent] = []
    subject: Subject[RunEvent] = Subject()
    make()(subject).subscribe(lambda d: stopped.add(d.run.index))
    for event in events:
        if event.run.index in stopped:
            continue
        kept.append(event)
        subject.on_next(event)
    return kept


PRUNERS: dict[str, PrunerFactory] = {
    "median_pruner": lambda: aop.median_pruner("eval_loss", n_startup_runs=5, n_warmup_steps=5),
    "successive_halving": lambda: aop.successive_halving(
        "eval_loss", min_resource=1, reduction_factor=3
    ),
}


def group_sweep(quick: bool, repeats: int) -> list[Row]:
    """The rows of group p (cross-run pruners)."""
    sizes = (10, 100) if quick else (10, 100, 1_000)
    target = PER_RUN_TARGET // 10 if quick else PER_RUN_TARGET
    frames = 20_000 if quick else 100_000
    chunks = workloads.stream_chunks(frames)
    entries = [
        measure(
            Row("p", DECODE_ROW, frames, "µs/event", ref=DECODE_ROW),
            lambda: workloads.arkor_decode_parse(chunks),
            repeats,
            frames,
        )
    ]
    for runs in sizes:
        for name, make in PRUNERS.items():
            events = without_pruned(scripted_sweep(runs), make)
            times = max(target // len(events), 1)
            pruned = len(push(events, make))
            row = Row(
                "p", f"{name}, {runs:,} runs", len(events) * times, "µs/event", ref=DECODE_ROW
            )
            row.note = f"{pruned} of {runs} runs pruned"
            entries.append(measure(row, _job(events, make, times), repeats, pruned * times))
        events = scripted_sweep(runs)
        times = max(target // len(events), 1)
        row = Row(
            "p", f"merged-stream delivery (Subject), {runs:,} runs", len(events) * times, "µs/event"
        )
        row.ref = DECODE_ROW
        entries.append(measure(row, _job(events, None, times), repeats, 0))
    return run_group(entries)


async def follow(base_url: str, runs: int, frames: int, prune: bool) -> dict[str, Any]:
    """Follow a sweep of ``runs`` scripted jobs through ``sweep.events()`` (optionally pruned).

    The jobs come from the static bench server (``frames`` frames each, the
    same ``loss`` curve for every run, so the median pruner checks every
    report and prunes nothing: every value ties). Returns the figures.
    """
    import arkor_rx as ax
    from bench.arkor import _consume, make_client
    from bench.memory import peak_rss_mb

    client = make_client(base_url)
    rates = [1e-5 + i * 1e-7 for i in range(runs)]
    sweep = ax.create_sweep(
        name="bench-sweep",
        model="bench",
        dataset={"type": "huggingface", "name": "bench/bench"},
        max_steps=frames,
        grid={"learning_rate": rates},
        max_concurrent=min(runs, 100),
        client=client,
    )
    # Both runs share the merged stream between the counter and a second
    # subscriber (the pruner, or a no-op), so their difference is the pruner.
    source: Observable[Any] = sweep.events().pipe(ops.share())
    decisions: list[PruneDecision] = []
    if prune:
        source.pipe(aop.median_pruner("loss", n_startup_runs=5)).subscribe(decisions.append)
    else:
        source.subscribe(lambda _: None)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        events = await _consume(source)
    finally:
        await client.aclose()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "runs": runs,
        "frames": runs * frames,
        "events": events,
        "decisions": len(decisions),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def group_follow(runs: int = 1_000, frames: int = 200) -> list[dict[str, Any]]:
    """1,000 scripted runs through ``sweep.events()``, without and with the median pruner.

    Each measurement runs in a fresh child process (its peak RSS is its own)
    against the static bench server in another one.
    """
    from bench.server import spawn

    results: list[dict[str, Any]] = []
    with spawn([frames]) as server:
        for prune in (False, True):
            cmd = [sys.executable, "-m", "bench.sweep", "follow", server.base_url]
            cmd += [str(runs), str(frames)] + (["--prune"] if prune else [])
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                results.append({"prune": prune, "error": tail})
            else:
                results.append({"prune": prune, **json.loads(proc.stdout.strip().splitlines()[-1])})
            print(f"  [g] sweep.events(), prune={prune}: {results[-1]}", file=sys.stderr)
    return results


def follow_lines(results: list[dict[str, Any]]) -> list[str]:
    """The follow measurements as report lines, with the pruner's cost per event."""
    lines: list[str] = []
    for r in results:
        label = "with median_pruner('loss')" if r.get("prune") else "no pruner"
        if "error" in r:
            lines.append(f"- sweep.events(), {label}: failed: {r['error']}")
            continue
        rate = r["frames"] / r["seconds"] / 1e3
        lines.append(
            f"- sweep.events() over {r['runs']:,} scripted runs ({r['frames']:,} frames, "
            f"{r['events']:,} events), {label}: {rate:,.0f} k frames/s "
            f"({r['cpu_seconds']} s of client CPU in {r['seconds']} s), "
            f"{r['decisions']} runs pruned, peak RSS {r['peak_rss_mb']} MB"
        )
    plain = [r for r in results if not r.get("prune") and "error" not in r]
    pruned = [r for r in results if r.get("prune") and "error" not in r]
    if plain and pruned:
        extra = (pruned[0]["cpu_seconds"] - plain[0]["cpu_seconds"]) / pruned[0]["events"] * 1e6
        lines.append(
            f"- the pruner's cost per event (difference of the client CPU): {extra:.2f} µs"
        )
    return lines


def _job(events: list[RunEvent], make: PrunerFactory | None, times: int) -> Callable[[], int]:
    def job() -> int:
        return sum(len(push(events, make)) for _ in range(times))

    return job


def follow_rows(quick: bool) -> list[Row]:
    """:func:`group_follow` as rows of the fan-in group (f): frames/s, pruner cost, peak RSS."""
    runs = 100 if quick else 1_000
    results = group_follow(runs=runs)
    plain = next((r for r in results if not r.get("prune") and "error" not in r), None)
    rows: list[Row] = []
    for r in results:
        label = "with median_pruner('loss')" if r.get("prune") else "no pruner"
        row = Row("f", f"sweep.events(), {runs:,} runs x 200 frames, {label}", 0, "k frames/s")
        if "error" in r:
            row.error = str(r["error"])
        else:
            row.size = r["frames"]
            row.seconds = [r["seconds"]]
            row.note = (
                f"client CPU {r['cpu_seconds']} s; {r['decisions']} runs pruned; "
                f"peak RSS {r['peak_rss_mb']} MB"
            )
            if r.get("prune") and plain is not None:
                cost = (r["cpu_seconds"] - plain["cpu_seconds"]) / r["events"] * 1e6
                row.note += f"; the pruner costs {cost:.2f} µs/event (client CPU difference)"
        rows.append(row)
    return rows


def _register() -> None:
    from bench.groups import GROUPS, Group

    if not any(g.letter == "p" for g in GROUPS):
        GROUPS.append(Group("p", lambda ctx: group_sweep(ctx.quick, ctx.repeats)))
        GROUPS.append(Group("f", lambda ctx: follow_rows(ctx.quick)))


_register()


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.sweep [--quick] [--repeats N] [--follow]``: group p alone.

    ``python -m bench.sweep follow BASE_URL RUNS FRAMES [--prune]`` is one
    follow measurement (the child process of :func:`group_follow`); it prints
    one JSON object.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["follow"]:
        base_url, runs, frames = argv[1], int(argv[2]), int(argv[3])
        print(json.dumps(asyncio.run(follow(base_url, runs, frames, "--prune" in argv))))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--follow", action="store_true", help="also follow 1,000 runs")
    args = parser.parse_args(argv)
    rows = group_sweep(args.quick, args.repeats)
    print(render_text(table(rows)))
    if args.follow:
        print("\n".join(follow_lines(group_follow())))


if __name__ == "__main__":
    main()
