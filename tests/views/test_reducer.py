"""The views' one state: a status type, the smoother reused, samples, many runs."""

from __future__ import annotations

import math

import pytest
import reactivex
from reactivex import operators as ops

from arkor_rx import operators as aop
from arkor_rx.dashboard import (
    CheckpointAnswer,
    DashboardState,
    RunOpened,
    RunStatus,
    RunStopped,
    StreamProgress,
    ViewState,
    reduce,
    reduce_view,
)
from arkor_rx.events import CheckpointSaved, TrainingFailed
from arkor_rx.runs import Run, RunEvent
from arkor_rx.samples import Sample, SamplesAnswered
from arkor_rx.stopping import StopDecision
from tests.views.views_helpers import job, log

NAN = float("nan")


def fold(*actions: object, state: DashboardState | None = None) -> DashboardState:
    current = state if state is not None else DashboardState()
    for i, action in enumerate(actions):
        current = reduce(current, action, now=float(i))  # type: ignore[arg-type]
    return current


def test_status_is_one_type_that_still_compares_as_text() -> None:
    state = fold(log(1, 1.0))
    assert state.status is RunStatus.RUNNING
    assert str(state.status) == "running"
    assert "running" in {state.status}  # a str: old comparisons keep working
    assert {s.value for s in RunStatus} == {
        "waiting",
        "running",
        "completed",
        "early-stopped",
        "pruned",
        "failed",
        "cancelled",
    }
    assert [s for s in RunStatus if s.succeeded] == [
        RunStatus.COMPLETED,
        RunStatus.EARLY_STOPPED,
        RunStatus.PRUNED,
    ]
    assert not RunStatus.RUNNING.finished


def test_smoothed_loss_is_the_tensorboard_smooth_operator() -> None:
    losses = [3.0, 2.0, NAN, 2.5, 1.0, 0.5]
    state = fold(*[log(i, v) for i, v in enumerate(losses, 1)], state=DashboardState(smoothing=0.8))
    points = [aop.MetricPoint(i, v) for i, v in enumerate(losses, 1)]
    expected = (
        reactivex.from_iterable(points).pipe(aop.tensorboard_smooth(0.8), ops.to_list()).run()
    )
    assert state.smoothed_loss == pytest.approx(expected[-1].value)
    finite = [p.value for p in expected if math.isfinite(p.value)]
    assert [p[2] for p in state.curve if math.isfinite(p[1])] == pytest.approx(finite)


def test_evals_are_rows_with_the_training_loss_beside() -> None:
    state = fold(log(10, 1.5, 1.4), log(15, 1.2), log(20, 1.0, 1.1))
    assert [(r.step, r.loss, r.eval_loss) for r in state.evals] == [(10, 1.5, 1.4), (20, 1.0, 1.1)]


def test_curve_keeps_the_whole_run_in_bounded_memory() -> None:
    state = fold(*[log(i, 1.0) for i in range(1, 1001)], state=DashboardState(curve_limit=100))
    assert len(state.curve) <= 100
    assert state.curve[0][0] == 1
    assert state.curve[-1][0] == 1000


def test_samples_answered_replace_the_pending_checkpoint_row() -> None:
    samples = SamplesAnswered("j1", 10, (Sample("a?", "yes"), Sample("b?", None, "timed out")))
    state = fold(CheckpointSaved(job_id="j1", step=10), samples)
    assert [(c.step, c.prompt, c.answer, c.error) for c in state.checkpoints] == [
        (10, "a?", "yes", False),
        (10, "b?", "timed out", True),
    ]


def test_answers_take_their_checkpoints_place_and_no_sample_still_ends_the_wait() -> None:
    saved = [CheckpointSaved(job_id="j1", step=step) for step in (10, 20, 30)]
    state = fold(*saved, SamplesAnswered("j1", 20, ()), CheckpointAnswer(30, "ok", prompt="q?"))
    assert [(c.step, c.answer, c.prompt) for c in state.checkpoints] == [
        (10, None, None),
        (20, "", None),  # answered with no sample: no longer pending
        (30, "ok", "q?"),
    ]
    # a later answer for the same step keeps the question it was asked
    state = fold(CheckpointAnswer(30, "again"), state=state)
    assert [(c.answer, c.prompt) for c in state.checkpoints][-1] == ("again", "q?")


def test_the_cancel_of_a_stop_rule_is_not_a_failure() -> None:
    decision = StopDecision("patience", "no better")
    state = fold(
        log(5, 1.0), RunStopped(decision), TrainingFailed(job_id="j1", error="cancelled by user")
    )
    assert state.status is RunStatus.EARLY_STOPPED
    assert state.error is None
    # and the other order: the echo first, the decision after
    state = fold(
        log(5, 1.0), TrainingFailed(job_id="j1", error="cancelled by user"), RunStopped(decision)
    )
    assert (state.status, state.error) == (RunStatus.EARLY_STOPPED, None)


def test_run_opened_takes_the_jobs_status_and_start() -> None:
    state = reduce(DashboardState(), RunOpened(job(status="queued")), now=5.0)
    assert (state.status, state.max_steps, state.started_at) == (RunStatus.WAITING, 40, None)
    started = reduce(DashboardState(), RunOpened(job(started_at="2026-01-01T00:00:00Z")), now=5.0)
    assert started.started_at == pytest.approx(1767225600.0)
    done = reduce(DashboardState(), RunOpened(job(status="completed")))
    assert done.status is RunStatus.COMPLETED


def test_view_routes_by_job_id_and_keeps_a_sweep_run_in_place() -> None:
    early = Run(0, None, {"lr": 1}, "s-0")
    view = reduce_view(ViewState(), RunEvent(early, log(0, 9.0, job="")))
    view = reduce_view(view, RunEvent(Run(1, "b", {}, "s-1"), log(1, 2.0, job="b")))
    view = reduce_view(view, RunEvent(Run(0, "a", {"lr": 1}, "s-0"), log(1, 1.0, job="a")))
    assert view.order == ("a", "b")
    assert [(r.name, r.index, r.loss) for r in view.ordered] == [("s-0", 0, 1.0), ("s-1", 1, 2.0)]
    assert not view.finished
    assert view.primary is view.runs["a"]


def test_progress_with_nothing_new_returns_the_same_state() -> None:
    state = reduce(DashboardState(), StreamProgress(2, duplicates=1))
    assert (state.reconnects, state.replays_skipped) == (2, 1)
    assert reduce(state, StreamProgress(2, duplicates=1)) is state
    assert reduce(state, StreamProgress(1)) is state  # the counts only grow
    assert reduce(state, StreamProgress(3, duplicates=1)).reconnects == 3
    view = reduce_view(ViewState(), log(1, 1.0))
    view = reduce_view(view, StreamProgress(2), key="j1")
    assert reduce_view(view, StreamProgress(2), key="j1") is view
    assert reduce_view(view, StreamProgress(3), key="j1").runs["j1"].reconnects == 3


def test_reduce_view_is_pure() -> None:
    before = ViewState()
    after = reduce_view(before, log(1, 1.0))
    assert before.order == ()
    assert dict(before.runs) == {}
    assert after.order == ("j1",)
