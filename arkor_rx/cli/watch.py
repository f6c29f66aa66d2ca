"""Follow a job's events with the live view. The backend, token and scope come from
ARKOR_CLOUD_API_URL, ARKOR_TOKEN, ARKOR_ORG_SLUG, ARKOR_PROJECT_SLUG or the official
CLI's files.

Rule 1: Ctrl-C stops watching; the job goes on (exit 130).

Rule 2: the view follows a job this process did not submit: it shows the
job's own status and counts the elapsed time from the job's ``startedAt``.
Checkpoints show that no sample was asked (watching asks the model nothing).

Rule 3: ``watch --all`` follows every unfinished job in one live table
(``arkor_rx.cli._watch_all``), with the same sink flags; give a JOB_ID or
``--all``, not both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from functools import partial
from typing import Any

from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_INTERRUPTED, usage_error
from arkor_rx.cli._sinks import JobSinks, add_sink_flags, with_sinks
from arkor_rx.dashboard import DashboardState, RunOpened

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add JOB_ID and the flags."""
    parser.add_argument("job_id", metavar="JOB_ID", nargs="?", help="the job to follow")
    parser.add_argument(
        "--all",
        action="store_true",
        help="follow every queued or running job, one row each (the sinks take every job)",
    )
    _live.add_view_flags(parser)
    add_sink_flags(parser)


async def run(args: argparse.Namespace) -> int:
    """Follow the job's stream under the live view until it ends (or Ctrl-C)."""
    if args.all and args.job_id is not None:
        return usage_error("watch: error: give a JOB_ID or --all, not both")
    if not args.all and args.job_id is None:
        return usage_error("watch: error: give the JOB_ID to follow, or --all")
    if args.all:
        from arkor_rx.cli import _watch_all

        return await _watch_all.run(args)
    return await with_sinks(args, lambda sinks: _watch(args, sinks))


async def _watch(args: argparse.Namespace, sinks: list[Any]) -> int:
    from arkor_rx.client import ArkorClient
    from arkor_rx.events import TrainingCompleted, TrainingFailed
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.stream import EventStream

    client = ArkorClient.from_env()
    async with client:
        job = await client.get_job(args.job_id)  # fails fast: unreachable, wrong token, unknown job
        console = _live.console()
        view = _live.view(console, args.no_live, DashboardState(asks_samples=False))
        feed = JobSinks(sinks)
        stream = EventStream(
            client, job.id, ReconnectPolicy(), on_reconnect=partial(feed.reconnected, job.id)
        )
        interrupted = False
        with view:
            view.dispatch(RunOpened(job))  # its own status and start, not "submitted"
            try:
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        view.dispatch(event)
                        await feed.feed(event, job)
                        view.dispatch(_live.progress(stream.stats))
                        if isinstance(event, TrainingCompleted | TrainingFailed):
                            break
                final = await client.get_job(job.id)
                view.dispatch(_live.finished(final, view.state))
                await feed.finish(
                    "cancelled" if final.status == "cancelled" else "error",
                    error=f"the stream ended while the job was {final.status}",
                )
            except asyncio.CancelledError:  # Ctrl-C: stop watching; the job goes on
                interrupted = True
                await feed.finish("cancelled", error="watching was interrupted")
            except Exception as exc:  # the sinks still close the run (MLflow: not left RUNNING)
                await feed.finish("error", error=str(exc))
                raise
        view.print_summary()
    return EXIT_INTERRUPTED if interrupted else _live.exit_status(view.state)
