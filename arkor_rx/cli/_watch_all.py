"""``arkor-rx watch --all``: every running job of the project in one live table.

Rule 1: the jobs are those ``GET /v1/jobs`` lists as not finished (queued or
running) when the command starts; each is followed on its own stream and fed
to one [`LiveDashboard`][arkor_rx.dashboard.LiveDashboard] through its sink
methods, so the view shows one row per job. The command ends when they all
have ended.

Rule 2: the sink flags (``--record``, ``--csv``, ``--tensorboard``,
``--mlflow``, ``--prometheus``, ``--webhook``) are checked before anything
is fetched, and every job's events reach them through one
[`SinkHub`][arkor_rx.sinks.SinkHub] ([`JobSinks`][arkor_rx.cli._sinks.JobSinks]):
a job's run opens at its first event and closes at its end (its terminal
event, or how its stream ended), with its name; its stream's reconnects
reach the sinks as they happen.

Rule 3: Ctrl-C stops watching; the jobs go on (exit 130), and the runs still
open are closed as ``cancelled``. Otherwise exit 0 when every job completed
(or was early-stopped), 1 when one failed or was cancelled, or when a sink
failed (named after the summary).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from functools import partial
from typing import TYPE_CHECKING

from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from arkor_rx.cli._sinks import JobSinks, with_sinks
from arkor_rx.sinks._base import Outcome, Sink

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard import LiveDashboard
    from arkor_rx.jobs import TrainingJob

__all__ = ["follow_job", "run"]


async def follow_job(
    client: ArkorClient, view: LiveDashboard, job: TrainingJob, feed: JobSinks | None = None
) -> None:
    """Feed one job's events to ``view`` (and ``feed``'s sinks) until it ends, then close
    its row, and its run in the sinks, with how it ended."""
    from arkor_rx.events import TrainingCompleted, TrainingFailed
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.stream import EventStream

    feed = feed if feed is not None else JobSinks([])
    await view.open(job)
    stream = EventStream(
        client, job.id, ReconnectPolicy(), on_reconnect=partial(feed.reconnected, job.id)
    )
    try:
        async with contextlib.aclosing(stream):
            async for event in stream:
                await view.write([event])
                await feed.feed(event, job)
                if isinstance(event, TrainingCompleted | TrainingFailed):
                    break
        final = await client.get_job(job.id)
    except Exception as exc:  # one job's trouble is shown on its row; the others go on
        feed.end(job.id, "error", error=str(exc))
        await view.close(Outcome("error", job.id, job=job, error=str(exc)))
        return
    outcome = _ending(final)
    feed.end(job.id, outcome.kind, error=outcome.error)  # a run the stream left open
    await view.close(outcome)


def _ending(final: TrainingJob) -> Outcome:
    """How a job whose stream ended stands: its own end, or an error if it goes on."""
    if final.status in ("completed", "failed", "cancelled"):
        error = None if final.status == "completed" else final.error
        return Outcome(final.status, final.id, job=final, error=error)  # type: ignore[arg-type]
    return Outcome(
        "error", final.id, job=final, error=f"the stream ended while it was {final.status}"
    )


async def run(args: argparse.Namespace) -> int:
    """Follow every unfinished job under one live view (and the sinks the flags ask for)."""
    return await with_sinks(args, lambda sinks: _watch_all(args, sinks))


async def _watch_all(args: argparse.Namespace, sinks: list[Sink]) -> int:
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        jobs = [job for job in await client.list_jobs() if not job.is_terminal]
        console = _live.console()
        if not jobs:
            console.print("no running jobs")
            return EXIT_OK
        view = _live.view(console, args.no_live, many=True)
        feed = JobSinks(sinks)
        interrupted = False
        with view:
            try:
                # oldest first, so the rows read in submission order
                await asyncio.gather(
                    *(follow_job(client, view, job, feed) for job in reversed(jobs))
                )
                await feed.finish()  # every sink closed every run
            except asyncio.CancelledError:  # Ctrl-C: stop watching; the jobs go on
                interrupted = True
                await feed.finish("cancelled", error="watching was interrupted")
        view.print_summary()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(run.succeeded for run in view.view.ordered) else EXIT_ERROR
