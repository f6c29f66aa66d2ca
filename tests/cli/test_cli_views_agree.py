"""The views of the run commands agree: same labels' meaning, same smoothing, one final table.

The multi-run table (``watch --all``, ``demo --sweep``) shows the smoothed
loss and the best eval, labelled so (the one-run panel shows raw and latest
too); a run's name is never cut, so two runs of a sweep never look alike;
the final table is printed once; every command's view smooths with one
weight, shown.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from arkor_rx.cli import EXIT_OK, main
from arkor_rx.cli._live import VIEW_SMOOTHING, view
from arkor_rx.dashboard import LiveDashboard, ViewState, reduce_view, render_runs
from arkor_rx.dashboard._state import DashboardState
from arkor_rx.events import TrainingLog
from arkor_rx.operators._tensorboard_smooth import TensorBoardEMA
from arkor_rx.runs import Run, RunEvent
from tests.views.views_helpers import text_of


def two_runs_alike() -> ViewState:
    names = ["lr-sweep-0 (learning_rate=0.0002)", "lr-sweep-1 (learning_rate=0.0004)"]
    state = ViewState(template=DashboardState(smoothing=VIEW_SMOOTHING))
    for i, name in enumerate(names):
        run = Run(i, f"job-{i}", {"learning_rate": 2e-4 * (i + 1)}, name)
        for step, loss, eval_loss in ((2, 2.0, 1.9), (4, 1.0, 2.5)):
            event = TrainingLog(job_id=run.job_id, step=step, loss=loss, eval_loss=eval_loss)
            state = reduce_view(state, RunEvent(run, event), now=1.0)
    return state


def test_the_runs_table_labels_smoothed_loss_and_best_eval_and_shows_whole_names() -> None:
    out = text_of(render_runs(two_runs_alike(), now=2.0, width=118), width=120)
    header = "\n".join(line for line in out.splitlines()[:4])
    assert "smoothed" in header
    assert f"loss ({VIEW_SMOOTHING:g})" in header
    assert "best" in header
    assert re.search(r"│\s+loss\s+│", header) is None  # no bare "loss" column
    assert "lr-sweep-0 (learning_rate=0.0002)" in out
    assert "lr-sweep-1 (learning_rate=0.0004)" in out
    row = next(line for line in out.splitlines() if "lr-sweep-0" in line)
    ema = TensorBoardEMA(VIEW_SMOOTHING).push(2.0).push(1.0).value
    assert f"{ema:.4f}" in row  # the smoothed loss, not the last raw 1.0000
    assert "1.9000" in row  # the best eval, not the latest 2.5000
    assert "2.5000" not in row


def test_a_long_name_folds_rather_than_being_cut_at_80_columns() -> None:
    out = text_of(render_runs(two_runs_alike(), now=2.0, width=78), width=80)
    assert "…" not in out
    flat = re.sub(r"[│\s]+", "", out)
    assert "lr-sweep-1(learning_rate=0.0004)" in flat


def _live_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, force_terminal=True, color_system=None), out


@pytest.mark.parametrize("live", [True, False])
def test_the_final_runs_table_is_printed_once(live: bool) -> None:
    console, out = _live_console()
    dashboard = LiveDashboard(console, live=live, state=DashboardState())
    with dashboard:
        for i in range(2):
            run = Run(i, f"job-{i}", {}, f"run-{i}")
            dashboard.dispatch(RunEvent(run, TrainingLog(job_id=f"job-{i}", step=1, loss=1.0)))
    printed_before = out.getvalue().count("2 runs")
    dashboard.print_summary()
    printed = out.getvalue().count("2 runs")
    # live: the last frame on screen is the final table; plain lines: the table, once
    assert printed == (printed_before if live else 1)
    assert printed >= 1


def test_every_commands_view_smooths_with_the_same_weight() -> None:
    console, _ = _live_console()
    for state in (None, DashboardState(asks_samples=False), DashboardState(smoothing=0.3)):
        assert view(console, True, state).view.template.smoothing == VIEW_SMOOTHING


def test_demo_and_replay_of_one_run_print_the_same_smoothed_values(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    record = f"{tmp_path}/run.jsonl"
    argv = ["demo", "--no-live", "--step-delay", "0", "--steps", "8", "--record", record]
    assert main(argv) == EXIT_OK
    demo = [line for line in capsys.readouterr().out.splitlines() if "smoothed" in line]
    assert main(["replay", record, "--no-live"]) == EXIT_OK
    replay = [line for line in capsys.readouterr().out.splitlines() if "smoothed" in line]
    assert len(demo) >= 4  # a log line per logged step
    assert demo == replay
