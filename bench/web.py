"""Group w of ``make bench``: the web dashboard at scale, on the wire, and in a browser.

- **w1** 1,000 scripted runs x 2,000 points fed to one ``WebDashboard``
  through its sink methods (in a fresh child process: its peak RSS is its
  own): CPU per event and peak RSS (goal <= 250 MB).
- **w2** bytes on the stream per new point, one point per frame, after a
  history of 10 and of 2,000 points (goal <= 120 B, constant), beside what a
  dashboard that re-fetches the run's history on each update would receive
  (the size of ``GET /api/runs/{id}`` then).
- **w3** event -> drawn in headless Chromium (Debian's, via Playwright) at a
  live rate of 20 points a second: p50 and p95 (goal p95 <= 250 ms).
- **w4** the compare chart at the issue's size, 100 runs x 10,000 points, in
  Chromium: the page's own path (every point smoothed and read into one
  value per two pixel columns, then ``setData``) to drawn, and, beside it,
  every point handed to uPlot: the first draw (which smooths every point)
  and the median and worst of nine redraws (goal <= 50 ms for the median).
  ``python -m bench.web compare 100 10000`` runs it alone.

``python -m bench.web [--quick]`` prints the figures; ``make bench`` adds
them as rows.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import Row

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _log(job: str, step: int) -> Any:
    from arkor_rx.events import TrainingLog

    return TrainingLog(
        job_id=job,
        step=step,
        loss=2.0 / (1 + step) + 0.1,
        learning_rate=2e-4 * (1 - step / 4000),
        eval_loss=1.5 if step % 50 == 0 else None,
        event_id=str(step + 1),
    )


async def scale(runs: int, points: int) -> dict[str, Any]:
    """w1, in this process: feed ``runs`` x ``points`` events; CPU, time, peak RSS."""
    from arkor_rx.dashboard import WebDashboard
    from arkor_rx.jobs import TrainingJob
    from bench.memory import peak_rss_mb

    view = WebDashboard(port=0)
    jobs = [f"job_{i:016x}" for i in range(runs)]
    start, cpu = time.perf_counter(), time.process_time()
    async with view:
        for job in jobs:
            await view.open(TrainingJob(id=job, name=f"run-{job[-4:]}", status="running"))
        for first in range(1, points + 1, 50):  # interleaved, 50 events a batch, as live runs
            for job in jobs:
                await view.write([_log(job, s) for s in range(first, min(first + 50, points + 1))])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "runs": runs,
        "events": runs * points,
        "seconds": round(seconds, 2),
        "cpu_us_per_event": round(cpu / (runs * points) * 1e6, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def wire_bytes(history: int, new: int = 100) -> dict[str, Any]:
    """w2: bytes per new point on a page's stream, and a re-fetching dashboard's per update."""
    import aiohttp

    from arkor_rx.dashboard import WebDashboard
    from arkor_rx.dashboard.web import TOKEN_HEADER
    from arkor_rx.jobs import TrainingJob

    job = "job_0123456789abcdef"
    async with WebDashboard(port=0) as view, aiohttp.ClientSession() as http:
        await view.open(TrainingJob(id=job, name="bench", status="running"))
        await view.write([_log(job, s) for s in range(1, history + 1)])
        base, headers = f"http://127.0.0.1:{view.port}", {TOKEN_HEADER: view.token}
        async with http.get(f"{base}/api/runs/{job}", headers=headers) as response:
            refetch = len(await response.read())
        async with http.get(f"{base}/api/stream", headers=headers) as response:
            await response.content.readuntil(b"\n\n")  # retry:
            received, start = 0, time.perf_counter()
            for step in range(history + 1, history + new + 1):
                await view.write([_log(job, step)])
                received += len(await response.content.readuntil(b"\n\n"))
            seconds = time.perf_counter() - start
    return {
        "history": history,
        "points": new,
        "seconds": seconds,
        "bytes_per_point": received / new,
        "refetch_bytes": refetch,
    }


async def browser(rate: float, points: int) -> dict[str, Any]:
    """w3 in headless Chromium: event -> drawn at ``rate`` points a second."""
    from playwright.async_api import async_playwright

    from arkor_rx.dashboard import WebDashboard
    from arkor_rx.jobs import TrainingJob

    job = "job_0123456789abcdef"
    async with WebDashboard(port=0) as view, async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await chromium.new_page(viewport={"width": 1280, "height": 900})
        await view.open(TrainingJob(id=job, name="bench", status="running"))
        await view.write([_log(job, s) for s in range(1, 201)])
        await page.goto(f"{view.url}#/run/{job}")
        await page.wait_for_selector("#loss-chart[data-points='200']")
        sent: dict[int, float] = {}
        for step in range(201, 201 + points):
            sent[step] = time.time() * 1000
            await view.write([_log(job, step)])
            await asyncio.sleep(1 / rate)  # the live rate being measured, not a synchronisation
        await page.wait_for_selector(f"#loss-chart[data-last-step='{200 + points}']")
        drawn = await page.evaluate("window.arkorDrawn")
        latencies = []
        for step, at in sent.items():
            first = next((t for s, t in drawn if s >= step), None)
            if first is not None:
                latencies.append(first - at)
        await chromium.close()
    q = statistics.quantiles(latencies, n=20)
    return {
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(q[18], 1),
        "points": len(latencies),
        "latencies_ms": [round(x, 1) for x in latencies],
    }


COMPARE_JS = """
async ([runs, n, redraws, every]) => {
  // The compare chart at runs x n points. every=false: the page's own path, bucketed()
  // (every point smoothed and read, one value per two pixel columns drawn) then uPlot;
  // every=true: every point handed to uPlot (the smoothed values, no buckets).
  const div = document.createElement('div'); document.body.append(div);
  const steps = Array.from({length: n}, (_, i) => i + 1);
  const hists = Array.from({length: runs}, (_, r) => ({
    step: steps, loss: steps.map((x) => 2 / (1 + x) + r * 0.01 + Math.sin(x + r) * 0.05)}));
  const stroke = {stroke: '#3559e0', points: {show: false}, spanGaps: true};
  const series = [{}].concat(hists.map(() => stroke));
  let done;
  const u = new uPlot({width: 1200, height: 420, scales: {x: {time: false}}, series,
    hooks: {draw: [() => done && done()]}}, [[], ...hists.map(() => [])], div);
  const data = () => every ? [steps, ...hists.map((h) => smoothedOf(h, 0.5))]
                           : bucketed(hists, 0.5, 600);
  const times = [];
  for (let i = 0; i <= redraws; i++) {
    const t0 = performance.now();
    await new Promise((resolve) => { done = resolve; u.setData(data()); });
    times.push(performance.now() - t0);
  }
  u.destroy(); div.remove();
  const r1 = (x) => Math.round(x * 10) / 10;
  const first = times[0];  // the smoothing is computed here; later redraws reuse it
  const rest = times.slice(1).sort((a, b) => a - b);
  return [r1(first), r1(rest[Math.floor(rest.length / 2)]), r1(rest[rest.length - 1])];
}
"""

COMPARE_REDRAWS = 9
"""Redraws timed after the first draw (their median and worst are reported)."""


async def compare(runs: int = 100, n: int = 10_000) -> dict[str, Any]:
    """w4 in headless Chromium: the compare chart at ``runs`` x ``n`` points.

    Returns the first draw, the median and the worst of ``COMPARE_REDRAWS``
    redraws, in ms, for the page's own path (``page``) and for every point
    handed to uPlot (``every``).
    """
    from playwright.async_api import async_playwright

    from arkor_rx.dashboard import WebDashboard

    async with WebDashboard(port=0) as view, async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await chromium.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(view.url)
        await page.wait_for_function("typeof bucketed === 'function'")
        out = {"runs": runs, "points": n}
        for name, every in (("page", False), ("every", True)):
            out[name] = await page.evaluate(COMPARE_JS, [runs, n, COMPARE_REDRAWS, every])
        await chromium.close()
    return out


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.web", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measurements(quick: bool) -> dict[str, Any]:
    """Every figure of group w (the scale run in a child process)."""
    runs = 100 if quick else 1_000
    out: dict[str, Any] = {"scale": _child(["scale", str(runs), "2000"])}
    out["wire"] = [asyncio.run(wire_bytes(h)) for h in (10, 2_000)]
    if shutil.which(CHROMIUM):
        out["browser"] = asyncio.run(browser(20.0, 100 if quick else 400))
        out["compare"] = asyncio.run(compare(20 if quick else 100, 10_000))
    return out


def rows(quick: bool) -> list[Row]:
    """Group w as rows of ``make bench`` (figures in the notes)."""
    m = measurements(quick)
    scale_row = Row("w", "WebDashboard: runs x 2,000 points fed at once", 0, "µs/event")
    s = m["scale"]
    if "error" in s:
        scale_row.error = s["error"]
    else:
        scale_row.size, scale_row.seconds = s["events"], [s["seconds"]]
        scale_row.note = (
            f"{s['runs']:,} runs; CPU {s['cpu_us_per_event']} µs/event; "
            f"peak RSS {s['peak_rss_mb']} MB (goal <= 250)"
        )
    out = [scale_row]
    for w in m["wire"]:
        name = f"a new point, one frame each (10 frames/s cap), history {w['history']:,}"
        row = Row("w", name, w["points"], "µs/event", seconds=[w["seconds"]])
        row.note = (
            f"{w['bytes_per_point']:.0f} B/point (goal <= 120); a re-fetching dashboard: "
            f"{w['refetch_bytes']:,} B per update"
        )
        out.append(row)
    if "browser" in m:
        b = m["browser"]
        latencies = [ms / 1000 for ms in b["latencies_ms"]]
        row = Row("w", "Chromium: event -> drawn at 20 points/s", 1, "µs/event", latencies)
        row.note = (
            f"p50 {b['p50_ms']} ms, p95 {b['p95_ms']} ms (goal <= 250) over {b['points']} points"
        )
        out.append(row)
    if "compare" in m:
        c = m["compare"]
        redraws = [c["page"][1] / 1000]
        row = Row("w", "Chromium: compare chart redraw", c["runs"] * c["points"], "µs/event")
        row.seconds = redraws
        verdict = "met" if c["page"][1] <= 50 else "MISSED"
        row.note = (
            f"{c['runs']} runs x {c['points']:,} points, the page's path (one value per two "
            f"pixel columns): redraw median {c['page'][1]} ms, worst {c['page'][2]} ms, first "
            f"draw {c['page'][0]} ms; every point drawn: median {c['every'][1]} ms "
            f"(goal <= 50: {verdict})"
        )
        out.append(row)
    return out


def _register() -> None:
    from bench.groups import GROUPS, Group

    if not any(g.letter == "w" for g in GROUPS):
        GROUPS.append(Group("w", lambda ctx: rows(ctx.quick)))


_register()


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["scale"]:
        print(json.dumps(asyncio.run(scale(int(argv[1]), int(argv[2])))))
    elif argv[:1] == ["compare"]:
        print(json.dumps(asyncio.run(compare(*map(int, argv[1:3])))))
    else:
        found = measurements("--quick" in argv)
        found.get("browser", {}).pop("latencies_ms", None)
        print(json.dumps(found, indent=2))
