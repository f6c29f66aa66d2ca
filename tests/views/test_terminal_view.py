"""What a first run showed wrong in the terminal view, each checked on a captured Console."""

from __future__ import annotations

import asyncio
import io

import pytest
from rich.console import Console

import arkor_rx.dashboard._live as live_module
from arkor_rx.dashboard import (
    CheckpointAnswer,
    DashboardState,
    JobSubmitted,
    LiveDashboard,
    RunFinished,
    RunStatus,
    RunStopped,
    ViewState,
    reduce,
    reduce_view,
    render,
    render_runs,
)
from arkor_rx.events import CheckpointSaved, TrainingStarted
from arkor_rx.runs import PruneDecision, Run, RunEvent
from arkor_rx.samples import Sample, SamplesAnswered
from arkor_rx.stopping import StopDecision
from tests.views.views_helpers import FixedClock, Terminal, job, log, text_of


def running(*more: object) -> DashboardState:
    state = DashboardState()
    actions = [JobSubmitted("job-1", name="bot", max_steps=40), log(5, 2.0), log(10, 1.5, 1.4)]
    for i, action in enumerate([*actions, *more]):
        state = reduce(state, action, now=float(i))  # type: ignore[arg-type]
    return state


@pytest.mark.parametrize(
    "end",
    [
        RunFinished(RunStatus.FAILED, error="out of memory"),
        RunFinished(RunStatus.CANCELLED),
        RunStopped(StopDecision("patience", "no better for 3 evals", step=10)),
    ],
    ids=["failed", "cancelled", "stopped"],
)
def test_eta_is_unknown_not_zero_for_a_run_that_did_not_complete(end: object) -> None:
    out = text_of(render(running(end), now=50.0))
    assert "ETA —" in out
    assert "0:00:00" not in out.split("ETA")[1][:10]


def test_eta_of_a_completed_run_is_zero_and_of_a_running_one_is_its_pace() -> None:
    from arkor_rx.events import TrainingCompleted

    assert "ETA 0:00:00" in text_of(render(running(TrainingCompleted()), now=50.0))
    assert "ETA 0:00:06" in text_of(render(running(), now=2.0))  # 2 s for 10 steps, 30 left


def test_stop_message_names_the_rule_step_and_the_value_it_judged() -> None:
    decision = StopDecision(
        "divergence",
        "loss 4.2000 is above 3.0000 (factor 3 of the best 1.0000)",
        step=10,
        value=4.2,
        monitor="loss",
    )
    out = text_of(render(running(RunStopped(decision)), now=20.0), width=160)
    assert "stopped by divergence at step 10 (loss 4.2000): loss 4.2000 is above" in out
    assert "early-stopped" in out


def test_checkpoint_table_shows_the_question_asked() -> None:
    samples = SamplesAnswered(
        "job-1",
        10,
        (Sample("My invoice is wrong", "billing"), Sample("Reset password?", None, "timeout")),
    )
    out = text_of(render(running(CheckpointSaved(step=10), samples), now=20.0))
    assert "asked" in out
    assert "My invoice is wrong" in out
    assert "billing" in out
    assert "Reset password?" in out
    assert "timeout" in out


def test_a_checkpoint_without_samples_says_so_instead_of_asking_forever() -> None:
    state = reduce(DashboardState(asks_samples=False), CheckpointSaved(job_id="j", step=10))
    out = text_of(render(state, now=1.0))
    assert "(asking…)" not in out
    assert "no sample asked at this checkpoint" in out
    asked = reduce(DashboardState(), CheckpointSaved(job_id="j", step=10))
    assert "(asking…)" in text_of(render(asked, now=1.0))
    answered = reduce(asked, CheckpointAnswer(10, "ok", prompt="hi?"))
    assert "hi?" in text_of(render(answered, now=1.0))


def _header(out: str) -> str:
    # two lines: "smoothed" over its weight, "(0.6)", on the line of the other headers
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "smoothed" in line)
    assert "eval loss" in lines[at + 1]
    assert "(0.6)" in lines[at + 1]
    return "\n".join(lines[at : at + 2])


def test_column_headers_do_not_move_when_values_replace_dashes() -> None:
    empty = text_of(render(DashboardState(max_steps=40), now=0.0), width=80)
    full = running(RunStopped(StopDecision("x", "y")))
    assert _header(empty) == _header(text_of(render(full, now=9.0), width=80))


def test_nothing_wraps_at_80_columns() -> None:
    state = running(*[log(i, 1.0 / i, eid=None) for i in range(11, 200)])
    out = text_of(render(state, now=9.0), width=80)
    lines = out.splitlines()
    stats = [line for line in lines if "events:" in line]
    assert len(stats) == 1
    assert "events: 191, lost: 0, repeated: 0" in stats[0]
    assert "loss ▁" in stats[0] or "loss " in stats[0]
    assert all(len(line) <= 80 for line in lines)
    assert next(line for line in lines if "step 199/40" in line or "step 40/40" in line)


def test_ctrl_c_leaves_one_panel_header() -> None:
    # The terminal echoes ^C at the cursor, which sits at the end of the live
    # view's last line. A full-width last line makes the echo wrap, and the
    # next redraw then starts one line low: a second header is left behind.
    width = 80
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None)
    view = LiveDashboard(console, clock=FixedClock(), refresh_per_second=0.01)
    with view:
        view.dispatch(JobSubmitted("job-1", name="bot", max_steps=40))
        view.dispatch(log(3, 1.0))
        view.refresh()  # as the refresh thread does
        console.file.write("^C")  # what the tty echoes on Ctrl-C
        view.dispatch(RunFinished(RunStatus.CANCELLED, error="interrupted by Ctrl-C"))
    terminal = Terminal(width)
    terminal.feed(buf.getvalue())
    headers = [line for line in terminal.screen if "arkor-rx job job-1" in line]
    assert len(headers) == 1, "\n".join(terminal.screen)
    assert "cancelled" in headers[0]


def test_without_the_margin_the_same_ctrl_c_leaves_two_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_module, "LIVE_MARGIN", 0)  # the first release's layout
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    with LiveDashboard(console, clock=FixedClock(), refresh_per_second=0.01) as view:
        view.dispatch(JobSubmitted("job-1", name="bot", max_steps=40))
        view.refresh()
        console.file.write("^C")
        view.dispatch(RunFinished(RunStatus.CANCELLED))
    terminal = Terminal(80)
    terminal.feed(buf.getvalue())
    assert len([line for line in terminal.screen if "arkor-rx job job-1" in line]) == 2


def test_runs_table_has_a_row_per_run_and_marks_the_pruned_one() -> None:
    runs = [
        Run(i, f"job-{i}", {"learning_rate": lr}, f"sweep-{i}") for i, lr in enumerate([1, 2, 3])
    ]
    view = ViewState()
    for step in (10, 20):
        for run in runs:
            view = reduce_view(
                view, RunEvent(run, log(step, 1.0 + run.index, job=run.job_id or "")), now=1.0
            )
    decision = StopDecision(
        "prune.median", "eval_loss 3.1 at step 20 is worse than the median 2.0", step=20
    )
    view = reduce_view(view, PruneDecision(runs[2], decision), now=2.0)
    out = text_of(render_runs(view, now=3.0), width=120)
    for run in runs:
        assert run.name in out
    assert "3 runs, 1 finished" in out
    row = next(line for line in out.splitlines() if "sweep-2" in line)
    assert "pruned" in row
    assert "✂" in row
    assert view.runs["job-2"].status is RunStatus.PRUNED


def test_started_event_before_the_submitted_fact_keeps_one_run() -> None:
    view = reduce_view(ViewState(), TrainingStarted(job_id="j1"))
    view = reduce_view(view, JobSubmitted("j1", name="bot"))
    assert view.order == ("j1",)


def _plain_view(**options: object) -> tuple[LiveDashboard, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False, color_system=None)
    return LiveDashboard(console, live=False, **options), out  # type: ignore[arg-type]


def test_plain_lines_name_a_sweeps_run_from_its_very_first_line() -> None:
    # With one run at a time, the first run was alone in the view and its lines
    # carried no name, while every later run's did.
    view, out = _plain_view()
    first = Run(0, "job-0", {"learning_rate": 1}, "sweep-0")
    view.dispatch(RunEvent(first, TrainingStarted(job_id="job-0")))
    view.dispatch(RunEvent(first, log(2, 1.5, job="job-0")))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("[sweep-0] ") for line in lines), lines


def test_a_view_of_many_jobs_names_the_first_jobs_lines_too() -> None:
    view, out = _plain_view(many=True)
    asyncio.run(view.open(job("j1", name="bot-a")))
    asyncio.run(view.write([log(1, 2.0, job="j1")]))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("[bot-a] ") for line in lines), lines


def test_a_one_run_view_prints_bare_lines() -> None:
    view, out = _plain_view()
    view.dispatch(TrainingStarted(job_id="j1"))
    view.dispatch(log(1, 2.0))
    assert out.getvalue().splitlines() == [
        "job j1 started",
        "step 1/?  loss 2.0000  smoothed 2.0000",
    ]


def test_the_runs_table_keeps_statuses_and_figures_whole_at_80_columns() -> None:
    # With every column sized by ratio, 80 columns showed "compl…" and "0:00:…".
    runs = [Run(i, f"job-{i}", {"learning_rate": i}, f"lr-sweep-{i} (lr={i})") for i in range(3)]
    view = ViewState()
    for run in runs:
        event = log(12, 21.6035, 79.3676, job=run.job_id or "")
        view = reduce_view(view, RunEvent(run, event), now=1.0)
    view = reduce_view(view, JobSubmitted("job-0", name="lr-sweep-0 (lr=0)", max_steps=12))
    view = reduce_view(view, RunFinished(RunStatus.COMPLETED), key="job-0", now=2.0)
    decision = StopDecision("prune.median", "eval_loss 79.4 at step 12 is worse", step=12)
    view = reduce_view(view, PruneDecision(runs[1], decision), now=2.0)
    out = text_of(render_runs(view, now=3.0, width=78), width=80)
    rows = {
        run.index: next(line for line in out.splitlines() if f"lr-sweep-{run.index}" in line)
        for run in runs
    }
    assert "completed" in rows[0]
    assert "0:00:00" in rows[0]
    assert "12/12" in rows[0]
    assert "pruned" in rows[1]
    assert "running" in rows[2]
    assert all("21.6035" in row and "79.3676" in row for row in rows.values())
    assert max(len(line) for line in out.splitlines()) <= 80
