"""Views cost what the screen shows (issue 23, item 6): bounded state, bounded frames.

With an evaluation at every step the reducer once copied every evaluation on
each event and the notebook kept one table row per evaluation; both now
stay within fixed limits however long the run.
"""

from __future__ import annotations

from arkor_rx.dashboard import (
    CURVE_LIMIT,
    EVAL_LIMIT,
    HISTORY_LENGTH,
    DashboardState,
    ViewState,
    reduce,
)
from arkor_rx.dashboard._html import EVAL_ROWS, render_html
from arkor_rx.events import TrainingLog


def run_of(steps: int) -> DashboardState:
    state = DashboardState(max_steps=steps)
    for step in range(1, steps + 1):
        event = TrainingLog(step=step, loss=1.0 + 1 / step, eval_loss=2.0 + 1 / step)
        state = reduce(state, event, now=float(step))
    return state


def test_the_state_of_a_long_run_stays_within_its_limits() -> None:
    state = run_of(6 * EVAL_LIMIT)
    assert len(state.evals) <= EVAL_LIMIT
    assert len(state.curve) <= CURVE_LIMIT
    assert len(state.loss_history) <= HISTORY_LENGTH
    assert state.evals[-1].step == 6 * EVAL_LIMIT  # the latest is always kept
    assert state.evals[0].step == 1  # and the start, so the plot shows the whole run
    steps = [e.step for e in state.evals]
    assert steps == sorted(steps)
    assert state.best_eval_step == 6 * EVAL_LIMIT  # judged on every evaluation, not the kept ones


def test_a_notebook_frame_does_not_grow_with_the_run() -> None:
    frames = []
    for steps in (EVAL_ROWS + 5, 4 * EVAL_LIMIT):
        view = ViewState(runs={"j": run_of(steps)}, order=("j",))
        frames.append(render_html(view, now=0.0, plot=False))
    short, long = frames
    for frame in frames:
        assert frame.count("<tr class") + frame.count("<tr>") <= EVAL_ROWS + 2
    assert f"the latest {EVAL_ROWS} evaluations" in long
    assert len(long) < len(short) * 1.2
