"""The dashboard: a pure reducer, pure drawing, and a sink that picks live or plain output."""

from __future__ import annotations

import dataclasses
import doctest
import io
import math
import re

import pytest
from rich.console import Console

import arkor_rx.dashboard as dashboard_module
from arkor_rx.dashboard import (
    SPARK_BLOCKS,
    CheckpointAnswer,
    DashboardState,
    JobSubmitted,
    LiveDashboard,
    RunFinished,
    RunStopped,
    StreamProgress,
    describe,
    eta_seconds,
    reduce,
    render,
    render_summary,
    sparkline,
)
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
    UnknownEvent,
)
from arkor_rx.operators._decision import StopDecision

NAN = float("nan")


def text_of(renderable: object, *, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def log(
    step: int, loss: float | None = None, eval_loss: float | None = None, eid: int | None = None
) -> TrainingLog:
    return TrainingLog(
        job_id="j1",
        step=step,
        loss=loss,
        eval_loss=eval_loss,
        event_id=None if eid is None else str(eid),
    )


def run(
    *actions: object, state: DashboardState | None = None, start: float = 0.0
) -> DashboardState:
    current = state if state is not None else DashboardState()
    for i, action in enumerate(actions):
        current = reduce(current, action, now=start + i)  # type: ignore[arg-type]
    return current


# --------------------------------------------------------------------------- reducer


def test_log_updates_step_loss_and_history() -> None:
    s = run(log(1, 2.0, eid=1), log(2, 1.5, eid=2), log(3, 1.0, eid=3))
    assert (s.step, s.loss, s.loss_history) == (3, 1.0, (2.0, 1.5, 1.0))
    assert s.status == "running"
    assert s.events_seen == 3


def test_smoothed_loss_is_tensorboard_debiased_ema() -> None:
    # TensorBoard: last = last*w + (1-w)*x; shown = last / (1 - w**n).
    w = 0.6
    s = run(log(1, 1.0), log(2, 2.0), state=DashboardState(smoothing=w))
    ema = (0 * w + (1 - w) * 1.0) * w + (1 - w) * 2.0
    assert s.smoothed_loss == pytest.approx(ema / (1 - w**2))
    assert run(log(1, 1.0), state=DashboardState(smoothing=w)).smoothed_loss == pytest.approx(1.0)


def test_smoothing_zero_is_the_raw_loss() -> None:
    s = run(log(1, 3.0), log(2, 1.0), state=DashboardState(smoothing=0.0))
    assert s.smoothed_loss == pytest.approx(1.0)


def test_non_finite_loss_is_shown_but_not_smoothed() -> None:
    s = run(log(1, 1.0), log(2, NAN), state=DashboardState(smoothing=0.5))
    assert s.loss is not None
    assert math.isnan(s.loss)
    assert s.smoothed_loss == pytest.approx(1.0)
    assert math.isnan(s.loss_history[-1])


def test_eval_loss_tracks_best_and_its_step() -> None:
    s = run(log(10, 1.0, 0.9), log(20, 0.8, 0.7), log(30, 0.7, 0.75), log(40, None, NAN))
    assert s.best_eval_loss == 0.7
    assert s.best_eval_step == 20
    assert s.eval_loss is not None
    assert math.isnan(s.eval_loss)
    assert s.loss == 0.7  # a log without loss keeps the last one


def test_reduce_does_not_mutate_and_state_is_frozen() -> None:
    before = DashboardState()
    after = reduce(before, log(1, 1.0, eid=1), now=0.0)
    assert before == DashboardState()
    assert after is not before
    with pytest.raises(dataclasses.FrozenInstanceError):
        after.step = 5  # type: ignore[misc]


def test_repeated_event_id_is_counted_and_ignored() -> None:
    s = run(log(1, 1.0, eid=1), log(2, 0.5, eid=2), log(1, 9.0, eid=1), log(2, 9.0, eid=2))
    assert s.repeated == 2
    assert s.events_seen == 2
    assert s.loss == 0.5
    assert s.loss_history == (1.0, 0.5)


def test_gap_in_event_ids_counts_lost_events() -> None:
    s = run(log(1, 1.0, eid=1), log(5, 0.5, eid=5), log(6, 0.4, eid=6))
    assert (s.lost, s.repeated, s.events_seen, s.last_event_id) == (3, 0, 3, 6)


def test_non_numeric_and_missing_ids_are_applied_unchecked() -> None:
    a = TrainingLog(step=1, loss=1.0, event_id="2026-01-01T00:00:00Z")
    b = TrainingLog(step=2, loss=0.5, event_id="2026-01-01T00:00:00Z")
    s = run(a, b, log(3, 0.2))
    assert (s.events_seen, s.lost, s.repeated, s.step) == (3, 0, 0, 3)


def test_started_sets_running_and_max_steps_from_metadata() -> None:
    s = run(TrainingStarted(job_id="j9", metadata={"maxSteps": 40}, event_id="1"))
    assert (s.status, s.job_id, s.max_steps) == ("running", "j9", 40)
    submitted = run(
        JobSubmitted("j1", name="bot", max_steps=20), TrainingStarted(metadata={"maxSteps": 40})
    )
    assert submitted.max_steps == 20
    assert submitted.name == "bot"


def test_checkpoint_then_answer() -> None:
    s = run(CheckpointSaved(step=10, event_id="1"), CheckpointAnswer(10, "Billing: refund issued"))
    assert [(c.step, c.answer) for c in s.checkpoints] == [(10, "Billing: refund issued")]
    # an answer for an unseen checkpoint still shows; a repeated checkpoint does not duplicate
    s = run(CheckpointAnswer(20, "boom", error=True), CheckpointSaved(step=20), state=s)
    assert [(c.step, c.error) for c in s.checkpoints] == [(10, False), (20, True)]


def test_completed_sets_status_accuracy_metrics_and_time() -> None:
    s = run(
        log(1, 1.0),
        TrainingCompleted(metrics={"accuracy": 0.875, "trainLoss": 0.4}),
        start=100.0,
    )
    assert s.status == "completed"
    assert s.succeeded
    assert s.finished
    assert s.accuracy == 0.875
    assert dict(s.metrics) == {"accuracy": 0.875, "trainLoss": 0.4}
    assert s.elapsed(now=500.0) == pytest.approx(1.0)  # frozen at the terminal event


def test_accuracy_found_under_other_keys() -> None:
    s = run(TrainingCompleted(metrics={"evalAccuracy": 0.5, "loss": 1}))
    assert s.accuracy == 0.5
    assert run(TrainingCompleted(metrics={"loss": 1})).accuracy is None


def test_failed_sets_status_and_error() -> None:
    s = run(log(3, 1.0), TrainingFailed(error="out of memory", step=4))
    assert (s.status, s.error, s.step, s.succeeded) == ("failed", "out of memory", 4, False)


def test_early_stop_survives_the_cancel_that_follows() -> None:
    decision = StopDecision(rule="patience", reason="eval_loss did not improve for 3 evals")
    s = run(log(5, 1.0), RunStopped(decision), RunFinished("cancelled"))
    assert s.status == "early-stopped"
    assert s.succeeded
    assert s.stop_reason == decision.reason


def test_user_cancel_is_cancelled_and_not_success() -> None:
    s = run(log(5, 1.0), RunFinished("cancelled"))
    assert s.status == "cancelled"
    assert not s.succeeded


def test_stream_stats_reconnects_only_grow() -> None:
    s = run(StreamProgress(2), StreamProgress(1))
    assert s.reconnects == 2


def test_unknown_event_is_counted_but_changes_nothing_else() -> None:
    ev = UnknownEvent.model_validate({"type": "training.weird", "x": 1})
    s = run(log(1, 1.0, eid=1), ev.model_copy(update={"event_id": "2"}))
    assert (s.events_seen, s.last_event_id, s.step) == (2, 2, 1)


def test_history_is_capped() -> None:
    s = run(*[log(i, float(i)) for i in range(1, 11)], state=DashboardState(history_limit=4))
    assert s.loss_history == (7.0, 8.0, 9.0, 10.0)


def test_eta_from_average_pace() -> None:
    s = run(JobSubmitted("j", max_steps=40), log(10, 1.0), start=0.0)  # started at 0
    assert eta_seconds(s, now=5.0) == pytest.approx(15.0)  # 0.5 s/step, 30 steps left
    assert eta_seconds(DashboardState(), now=5.0) is None


# --------------------------------------------------------------------------- sparkline


def test_sparkline_maps_min_to_lowest_and_max_to_highest_block() -> None:
    assert sparkline(range(8)) == SPARK_BLOCKS
    assert sparkline([5.0, 1.0, 5.0]) == "█▁█"


def test_sparkline_edge_cases() -> None:
    assert sparkline([]) == ""
    assert sparkline([2.0, 2.0]) == "▄▄"
    assert sparkline([NAN, float("inf")]) == "××"
    assert sparkline([1.0, NAN, 2.0]) == "▁×█"
    assert sparkline([9.0, 9.0, 9.0, 1.0, 2.0], width=2) == "▁█"  # only the last ones
    assert sparkline([1.0], width=0) == ""


# --------------------------------------------------------------------------- drawing


def sample_state() -> DashboardState:
    return run(
        JobSubmitted("job-42", name="support-bot", max_steps=40),
        TrainingStarted(job_id="job-42", event_id="1"),
        log(5, 2.5, eid=2),
        log(10, 1.2345, 1.1111, eid=3),
        CheckpointSaved(step=10, event_id="4"),
        CheckpointAnswer(10, "Category: billing. Refund the duplicate charge."),
        StreamProgress(3),
        start=0.0,
    )


def test_render_shows_progress_eta_metrics_sparkline_and_answers() -> None:
    state = sample_state()
    out = text_of(render(state, now=state.started_at + 10.0))  # type: ignore[operator]
    assert "job-42" in out
    assert "support-bot" in out
    assert "running" in out
    assert "step 10/40" in out
    assert "25%" in out
    assert "ETA 0:00:30" in out  # 10 s for 10 steps, 30 left
    assert "elapsed 0:00:10" in out
    assert "1.2345" in out  # loss
    assert "1.1111" in out
    assert "@10" in out
    assert f"{state.smoothed_loss:.4f}" in out
    assert "█" in out
    assert "▁" in out
    assert "Refund the duplicate charge" in out
    assert "events: 4, lost: 0, repeated: 0" in out
    assert "reconnects" in out


def test_render_before_anything_happened() -> None:
    out = text_of(render(DashboardState(), now=0.0))
    assert "waiting" in out
    assert "no data yet" in out
    assert "step 0/?" in out


def test_render_shows_failure_and_early_stop() -> None:
    stopped = run(log(3, 1.0), RunStopped(StopDecision(rule="divergence", reason="loss is nan")))
    assert "stopped by divergence: loss is nan" in text_of(render(stopped, now=9.0))
    failed = run(TrainingFailed(error="CUDA exploded"))
    assert "error: CUDA exploded" in text_of(render(failed, now=1.0))


def test_summary_table_has_every_figure() -> None:
    state = sample_state()
    state = reduce(state, log(20, 0.9, 0.95, eid=5), now=12.0)
    state = reduce(state, TrainingCompleted(metrics={"accuracy": 0.875}, event_id="6"), now=12.5)
    out = text_of(render_summary(state, now=99.0))
    assert "completed" in out
    assert "20/40" in out
    assert "0.9500 (step 20)" in out
    assert "87.5%" in out
    assert "12.5 s" in out
    assert re.search(r"reconnects\s+│\s+3\s", out)
    assert "events: 6, lost: 0, repeated: 0" in out


def test_describe_gives_plain_lines() -> None:
    s0 = DashboardState(max_steps=40)
    ev = log(10, 1.5, 1.25, eid=1)
    s1 = reduce(s0, ev)
    line = describe(s0, ev, s1)
    assert line is not None
    assert line.startswith("step 10/40")
    assert "loss 1.5000" in line
    assert "eval_loss 1.2500" in line
    dup = log(10, 1.5, eid=1)
    assert describe(s1, dup, reduce(s1, dup)) == "repeated event id 1 ignored"
    gap = log(11, 1.0, eid=4)
    assert "2 event(s) lost" in (describe(s1, gap, reduce(s1, gap)) or "")
    same = StreamProgress(0)
    assert describe(s1, same, reduce(s1, same)) is None


# --------------------------------------------------------------------------- the sink


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def feed(view: LiveDashboard) -> None:
    view.dispatch(JobSubmitted("job-7", name="bot", max_steps=4))
    view.dispatch_all(
        [
            TrainingStarted(job_id="job-7", event_id="1"),
            log(2, 1.5, 1.4, eid=2),
            CheckpointSaved(step=2, event_id="3"),
            CheckpointAnswer(2, "Route to billing."),
            StreamProgress(1),
            log(4, 1.0, 0.9, eid=4),
            TrainingCompleted(metrics={"accuracy": 0.75}, event_id="5"),
        ]
    )


def test_plain_output_when_not_a_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=False)
    with LiveDashboard(console, clock=FakeClock()) as view:
        assert not view.is_live
        feed(view)
    view.print_summary()
    out = buf.getvalue()
    assert "\x1b[" not in out  # no cursor movement nor colour
    lines = out.splitlines()
    assert "job job-7 submitted: bot (4 steps)" in lines
    assert any(line.startswith("step 2/4") and "eval_loss 1.4000" in line for line in lines)
    assert "checkpoint 2 answer: Route to billing." in lines
    assert "stream reconnected (1 so far)" in lines
    assert "training completed at step 4" in lines
    assert "events: 5, lost: 0, repeated: 0" in out
    assert "75.0%" in out
    assert view.state.succeeded


def test_live_view_on_a_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=True, color_system="truecolor")
    view = LiveDashboard(console, clock=FakeClock(), refresh_per_second=50)
    assert view.is_live
    with view:
        feed(view)
    out = buf.getvalue()
    assert "\x1b[" in out  # the live view redraws in place
    assert "step 4/4" in out
    assert "Route to billing." in out
    assert "completed" in out
    assert "submitted" not in out  # no plain log lines on a terminal
    view.stop()  # a second stop is harmless


def test_live_can_be_forced_off_on_a_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=True)
    with LiveDashboard(console, live=False, clock=FakeClock()) as view:
        feed(view)
    assert "training completed at step 4" in buf.getvalue()


def test_docstring_examples() -> None:
    result = doctest.testmod(dashboard_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
