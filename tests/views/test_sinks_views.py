"""Both views driven through the Sink methods: open(job), write(batch), close(outcome)."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from datetime import UTC, datetime

import pytest
from rich.console import Console

from arkor_rx.dashboard import LiveDashboard, RunStatus
from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingStarted
from arkor_rx.notebook import LiveView, in_notebook
from arkor_rx.samples import Sample, SamplesAnswered
from arkor_rx.sinks import Outcome, Sink
from arkor_rx.stopping import StopDecision
from tests.views.views_helpers import FixedClock, job, log

STOP = StopDecision(
    "patience", "eval_loss did not improve for 3 evals", step=30, value=0.8, monitor="eval_loss"
)


def plain_console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=100, force_terminal=False), buf


def test_both_views_are_sinks() -> None:
    console, _ = plain_console()
    assert isinstance(LiveDashboard(console), Sink)
    assert isinstance(LiveView(display=lambda h, t: None, plot=False), Sink)


async def test_terminal_sink_follows_a_job_it_did_not_submit() -> None:
    console, buf = plain_console()
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    clock = FixedClock(started + 600)  # attached ten minutes after the job started
    view = LiveDashboard(console, clock=clock)
    await view.open(job(started_at="2026-01-01T12:00:00Z"))
    await view.write([log(30, 1.0, eid=40)])
    assert view.state.status is RunStatus.RUNNING
    assert view.state.elapsed(clock()) == pytest.approx(600.0)
    await view.close(Outcome("completed", "j1"))
    out = buf.getvalue()
    assert "submitted" not in out
    assert "following job j1: bot (running, 40 steps)" in out
    assert "run completed" in out


async def test_terminal_sink_many_runs_prefix_lines_and_print_one_table() -> None:
    console, buf = plain_console()
    view = LiveDashboard(console, clock=FixedClock())
    await view.open(job("a", name="lr-1"))
    await view.open(job("b", name="lr-2"))
    await view.write([log(1, 2.0, job="a")])
    await view.write([log(1, 3.0, job="b")])
    await view.close(
        Outcome("stopped", "b", stop=StopDecision("prune.median", "worse than the median"))
    )
    await view.close(Outcome("completed", "a"))
    view.print_summary()
    out = buf.getvalue()
    assert "[lr-1] step 1/40" in out
    assert "[lr-2] pruned by prune.median: worse than the median" in out
    assert "2 runs, 2 finished" in out
    assert view.view.runs["b"].status is RunStatus.PRUNED
    assert view.view.runs["a"].status is RunStatus.COMPLETED


async def test_terminal_sink_live_starts_at_open_and_stops_after_the_last_close() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=True, color_system=None)
    view = LiveDashboard(console, clock=FixedClock(), refresh_per_second=0.01)
    await view.open(job())
    assert view._live is not None
    await view.write([TrainingStarted(job_id="j1"), log(40, 0.5)])
    await view.close(Outcome("failed", "j1", error="out of memory"))
    assert view._live is None
    assert "error: out of memory" in buf.getvalue()
    assert "ETA —" in buf.getvalue()


# --------------------------------------------------------------------------- LiveView


class Frames:
    def __init__(self) -> None:
        self.html: list[str] = []
        self.text: list[str] = []

    def __call__(self, html: str, text: str) -> None:
        self.html.append(html)
        self.text.append(text)


class FakeSleep:
    """Advances the fake clock instead of waiting."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.now += seconds
        await asyncio.sleep(0)


def points(html: str, gid: str) -> int:
    """Vertices of the path a matplotlib artist with this gid drew."""
    group = re.search(rf'<g id="{gid}">\s*<path d="([^"]*)"', html)
    assert group is not None, f"no {gid} in the frame"
    return len(re.findall(r"[ML] ", group.group(1)))


def run_items(steps: int = 30) -> list[object]:
    items: list[object] = [TrainingStarted(job_id="j1")]
    for step in range(1, steps + 1):
        items.append(log(step, 2.0 / step, 1.0 + step / 100 if step % 10 == 0 else None, eid=step))
    items.append(CheckpointSaved(job_id="j1", step=20))
    items.append(SamplesAnswered("j1", 20, (Sample("My invoice is wrong", "Category: billing"),)))
    return items


async def test_liveview_final_frame_holds_curve_table_samples_and_stop() -> None:
    frames = Frames()
    clock = FixedClock()
    view = LiveView(display=frames, clock=clock, sleep=FakeSleep(clock), threaded=False)
    await view.open(job(max_steps=300))
    for item in run_items():
        await view.write([item])  # type: ignore[list-item]
    await view.close(Outcome("stopped", "j1", stop=STOP))
    html = frames.html[-1]
    assert html == view.html
    assert points(html, "arkor-loss-raw") == 30
    assert points(html, "arkor-loss-smoothed") == 30
    assert points(html, "arkor-loss-eval") == 3
    assert '<g id="arkor-stop">' in html
    table = re.search(r'<table class="arkor-evals".*?</table>', html, re.S)
    assert table is not None
    assert table.group(0).count("<tr>") == 1 + 3  # the header and one row per evaluation
    assert "stopped by patience at step 30 (eval_loss 0.8000)" in html
    assert "My invoice is wrong" in html
    assert "Category: billing" in html
    assert '<progress value="30" max="300"' in html
    assert "ETA —" in html  # a stopped run has no time left to tell
    assert "<script" not in html
    assert "stopped by patience" in frames.text[-1]  # the text/plain twin


async def test_liveview_skips_frames_not_events() -> None:
    frames = Frames()
    clock = FixedClock()
    sleep = FakeSleep(clock)
    view = LiveView(display=frames, clock=clock, sleep=sleep, threaded=False, plot=False, every=0.5)
    await view.open(job())
    for step in range(1, 201):
        await view.write([log(step, 1.0, eid=step)])  # no await yields: the painter waits
    assert view.state.events_seen == 200  # every event reached the reducer
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    drawn = view.frames
    await view.close(Outcome("completed", "j1"))
    assert view.frames == drawn + 1  # the final frame, always
    assert view.frames <= 3
    assert view.skipped >= 190
    assert "step 200/40" in frames.html[-1]


async def test_liveview_throttles_to_every_seconds() -> None:
    frames = Frames()
    clock = FixedClock()
    sleep = FakeSleep(clock)
    view = LiveView(display=frames, clock=clock, sleep=sleep, threaded=False, plot=False, every=0.5)
    await view.open(job())
    for step in range(1, 11):
        await view.write([log(step, 1.0)])
        for _ in range(3):
            await asyncio.sleep(0)  # let the painter run
    assert sleep.calls
    assert all(s <= 0.5 for s in sleep.calls)
    assert clock.now - 1000.0 >= 0.5 * (view.frames - 1)  # never two frames within 0.5 s
    await view.close(Outcome("completed", "j1"))


async def test_liveview_renders_in_a_thread_and_draws_every_run() -> None:
    frames = Frames()
    view = LiveView(display=frames, every=0.0)
    await view.open(job("a", name="lr-1"))
    await view.open(job("b", name="lr-2"))
    for step in range(1, 6):
        await view.write([log(step, 1.0 / step, job="a")])
        await view.write([log(step, 2.0 / step, job="b")])
    await view.close(
        Outcome("stopped", "b", stop=StopDecision("prune.median", "worse than the median"))
    )
    await view.close(Outcome("completed", "a"))
    html = frames.html[-1]
    assert points(html, "arkor-run-0") == 5
    assert points(html, "arkor-run-1") == 5
    rows = re.findall(r'<tr class="([^"]*)">', html)
    assert rows == ["arkor-run", "arkor-run arkor-pruned"]
    assert "✂ pruned: worse than the median" in html


async def test_liveview_outside_a_notebook_is_the_terminal_view() -> None:
    assert not in_notebook()
    console, buf = plain_console()
    fallback = LiveDashboard(console, clock=FixedClock())
    view = LiveView(fallback=fallback)
    assert view.fallback is fallback
    await view.open(job())
    await view.write([log(1, 1.0), TrainingCompleted(job_id="j1")])
    await view.close(Outcome("completed", "j1"))
    assert "training completed at step 1" in buf.getvalue()
    assert view.state.status is RunStatus.COMPLETED


def test_missing_matplotlib_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from arkor_rx.dashboard._html import require_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(
        ImportError,
        match=r"^the notebook view needs matplotlib: pip install 'arkor_rx\[notebook\]'$",
    ):
        require_matplotlib()


def test_importing_the_views_imports_no_plotting_library() -> None:
    import subprocess

    code = (
        "import sys, arkor_rx, arkor_rx.dashboard, arkor_rx.notebook; "
        "print(sorted(m for m in ('matplotlib', 'IPython') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_both_views_follow_a_real_run_through_to_sink() -> None:
    from collections.abc import Callable

    from reactivex import Observable
    from reactivex import operators as ops

    import arkor_rx as ax
    from arkor_rx import operators as aop
    from arkor_rx.events import TrainingEvent
    from arkor_rx.server import LocalServer, ServerConfig

    console, buf = plain_console()
    terminal = LiveDashboard(console)
    frames = Frames()
    notebook = LiveView(display=frames, every=0.05)
    async with (
        LocalServer(ServerConfig(step_delay=0.0)) as server,
        ax.ArkorClient(server.url, server.token, "local", "demo") as client,
    ):
        trainer = ax.create_trainer(
            name="e2e",
            model="arkor/triage-tiny",
            dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
            max_steps=12,
            logging_steps=1,
            eval_steps=4,
            client=client,
        )
        stop: Callable[[Observable[TrainingEvent]], Observable[TrainingEvent | StopDecision]]
        stop = aop.stop_when(aop.step_budget(8))
        stopped = trainer.events().pipe(stop)
        sunk: Observable[TrainingEvent | StopDecision] = stopped.pipe(
            aop.to_sink(terminal, notebook)
        )
        seen: list[TrainingEvent | StopDecision] = await sunk.pipe(ops.to_list())
        await trainer.cancel()
    decision = seen[-1]
    assert isinstance(decision, StopDecision)
    logs = [e for e in seen if getattr(e, "loss", None) is not None]
    for state in (terminal.state, notebook.state):
        assert state.status is RunStatus.EARLY_STOPPED
        assert state.stop == decision
        assert len(state.curve) == len(logs)
        assert [r.step for r in state.evals] == [4, 8]
    assert points(frames.html[-1], "arkor-loss-raw") == len(logs)
    assert "stopped by budget.steps at step 8 (step 8.0000): step 8 reached" in frames.html[-1]
    assert "stopped by" in buf.getvalue()


@pytest.mark.parametrize("every", [-1.0, float("nan"), float("inf"), "0.5", True])
def test_liveview_refuses_a_bad_every(every: object) -> None:
    from arkor_rx.errors import ConfigError

    with pytest.raises(ConfigError, match="every"):
        LiveView(every=every, display=lambda h, t: None)  # type: ignore[arg-type]


async def test_a_frame_that_fails_is_counted_and_the_next_one_drawn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def flaky(html: str, text: str) -> None:
        calls.append(html)
        if len(calls) == 1:
            raise RuntimeError("frontend went away")

    clock = FixedClock()
    view = LiveView(display=flaky, clock=clock, sleep=FakeSleep(clock), threaded=False, plot=False)
    await view.open(job())
    for _ in range(3):
        await asyncio.sleep(0)
    assert view.errors == 1
    assert "drawing a frame failed" in caplog.text
    await view.write([log(1, 1.0)])
    await view.close(Outcome("completed", "j1"))
    assert len(calls) >= 2
    assert "step 1/40" in calls[-1]


def test_text_fallback_is_drawn_inside_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inside a kernel rich's consoles detect Jupyter and display themselves: the
    # fallback's console must still write to its buffer and show nothing.
    import rich.console

    from arkor_rx.dashboard import ViewState, reduce_view
    from arkor_rx.dashboard._html import render_text
    from arkor_rx.events import TrainingLog

    shown: list[object] = []
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append(a))
    view = reduce_view(ViewState(), TrainingLog(job_id="j1", step=3, loss=1.5), now=0.0)
    text = render_text(view, now=1.0)
    assert "step 3" in text
    assert shown == []
