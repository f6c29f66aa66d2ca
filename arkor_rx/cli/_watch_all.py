"""``arkor-rx watch --all``: every running job of the project in one live table.

Rule 1: the jobs are those ``GET /v1/jobs`` lists as not finished (queued or
running) when the command starts; each is followed on its own stream and fed
to one [`LiveDashboard`][arkor_rx.dashboard.LiveDashboard] through its sink
methods, so the view shows one row per job. The command ends when they all
have ended.

Rule 2: Ctrl-C stops watching; the jobs go on (exit 130). Otherwise exit 0
when every job completed (or was early-stopped), 1 when one failed or was
cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import TYPE_CHECKING

from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from arkor_rx.sinks._base import Outcome

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard import LiveDashboard
    from arkor_rx.jobs import TrainingJob

__all__ = ["follow_job", "run"]


async def follow_job(client: ArkorClient, view: LiveDashboard, job: TrainingJob) -> None:
    """Feed one job's events to ``view`` until it ends, then close its row with how it ended."""
    from arkor_rx.events import TrainingCompleted, TrainingFailed
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.stream import EventStream

    await view.open(job)
    stream = EventStream(client, job.id, ReconnectPolicy())
    try:
        async with contextlib.aclosing(stream):
            async for event in stream:
                await view.write([event])
                if isinstance(event, TrainingCompleted | TrainingFailed):
                    break
        final = await client.get_job(job.id)
    except Exception as exc:  # one job's trouble is shown on its row; the others go on
        await view.close(Outcome("error", job.id, job=job, error=str(exc)))
        return
    if final.status in ("completed", "failed", "cancelled"):
        error = None if final.status == "completed" else final.error
        await view.close(Outcome(final.status, job.id, job=final, error=error))  # type: ignore[arg-type]
    else:
        await view.close(
            Outcome(
                "error", job.id, job=final, error=f"the stream ended while it was {final.status}"
            )
        )


async def run(args: argparse.Namespace) -> int:
    """Follow every unfinished job under one live view."""
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        jobs = [job for job in await client.list_jobs() if not job.is_terminal]
        console = _live.console()
        if not jobs:
            console.print("no running jobs")
            return EXIT_OK
        view = _live.view(console, args.no_live, many=True)
        interrupted = False
        with view:
            try:
                # oldest first, so the rows read in submission order
                await asyncio.gather(*(follow_job(client, view, job) for job in reversed(jobs)))
            except asyncio.CancelledError:  # Ctrl-C: stop watching; the jobs go on
                interrupted = True
        view.print_summary()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(run.succeeded for run in view.view.ordered) else EXIT_ERROR
