"""The live view the run commands share: the console, the dashboard, the end of a run.

Rule 1: the view is [`LiveDashboard`][arkor_rx.dashboard.LiveDashboard]: a
live rich view on a terminal, plain log lines when stdout is not one (or
``--no-live``).

Rule 2: every view of a run smooths its loss with the same weight,
`VIEW_SMOOTHING` (TensorBoard's EMA), and shows it: ``demo`` and ``watch`` of
one run show the same smoothed values.

Rule 3: a run that ends completed or early-stopped exits 0; failed or
cancelled, 1; interrupted by Ctrl-C, 130 (after the job was cancelled and the
summary printed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from typing import Any

from rich.console import Console

from arkor_rx.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from arkor_rx.dashboard import (
    DashboardState,
    JobSubmitted,
    LiveDashboard,
    RunFinished,
    RunStatus,
    RunStopped,
    StreamProgress,
)

__all__ = [
    "VIEW_SMOOTHING",
    "add_view_flags",
    "console",
    "exit_status",
    "finished",
    "follow_trainer",
    "progress",
    "view",
]

VIEW_SMOOTHING = 0.8
"""The smoothing weight of every command's view (the demo's divergence rule judges
the loss smoothed with it too)."""


def add_view_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that shows a run (``--no-live``); read by `view`."""
    parser.add_argument("--no-live", action="store_true", help="plain log lines, no live view")


def console() -> Console:
    """A console on ``sys.stdout`` as it is now."""
    # Built per command so that a redirected sys.stdout (tests, pipes) is honoured.
    return Console(file=sys.stdout, highlight=False)


def view(
    console: Console, no_live: bool, state: DashboardState | None = None, *, many: bool = False
) -> LiveDashboard:
    """The live view on ``console``; plain lines when ``no_live``; each run starts as ``state``
    (smoothing its loss with `VIEW_SMOOTHING`).

    ``many``: several runs are followed, so every plain line names its run.
    """
    start = replace(state or DashboardState(), smoothing=VIEW_SMOOTHING)
    return LiveDashboard(console, live=False if no_live else None, state=start, many=many)


def exit_status(state: DashboardState) -> int:
    """0 for a completed or early-stopped run, 1 for a failed or cancelled one."""
    return EXIT_OK if state.succeeded else EXIT_ERROR


_JOB_ENDS = {s.value: s for s in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)}


def finished(job: Any, state: DashboardState) -> RunFinished:
    """The view's last action for ``job`` as fetched once its stream ended."""
    status = _JOB_ENDS.get(job.status, state.status)
    if not status.finished:  # the stream ended without the run ending: not a success
        return RunFinished(
            RunStatus.FAILED, error=f"the stream ended while the job was {job.status}"
        )
    return RunFinished(status, error=job.error if status is RunStatus.FAILED else None)


def progress(stats: Any) -> StreamProgress:
    """The view's stream progress from a stream's (or a trainer's) ``stats``."""
    return StreamProgress(stats.reconnects, duplicates=stats.duplicates)


async def follow_trainer(trainer: Any, view: LiveDashboard, console: Console) -> int:
    """Run ``trainer`` under ``view``; on Ctrl-C cancel the job. Print the summary.

    The view is a consumer of the trainer: it sees every event the trainer
    handles, in order (after the sinks and the checkpoint samples), each
    followed by the stream's progress.
    """

    def show(event: Any) -> None:
        view.dispatch(event)
        view.dispatch(progress(trainer.stats))

    trainer.add_consumer(show)
    interrupted = False
    with view:
        job_id = await trainer.start()
        view.dispatch(JobSubmitted(job_id, name=trainer.name, max_steps=trainer.config.max_steps))
        try:
            result = await trainer.wait()
        except asyncio.CancelledError:
            interrupted = True
            await trainer.cancel()
            view.dispatch(RunFinished(RunStatus.CANCELLED, error="interrupted by Ctrl-C"))
        else:
            view.dispatch(progress(result.stats))
            if result.stop is not None:
                view.dispatch(RunStopped(result.stop))
            view.dispatch(finished(result.job, view.state))
    view.print_summary()
    return EXIT_INTERRUPTED if interrupted else exit_status(view.state)
