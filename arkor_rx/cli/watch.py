"""``arkor-rx watch JOB_ID``: attach the live view to a job on any backend.

Rule 1: Ctrl-C stops watching; the job goes on (exit 130).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import TYPE_CHECKING

from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_INTERRUPTED
from arkor_rx.dashboard import JobSubmitted, StreamProgress

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``watch`` and its flags."""
    parser = subparsers.add_parser(
        "watch",
        help="attach the live view to a job on any backend",
        description="Follow a job's events with the live view. The backend, token and "
        "scope come from ARKOR_CLOUD_API_URL, ARKOR_TOKEN, ARKOR_ORG_SLUG, "
        "ARKOR_PROJECT_SLUG or the official CLI's files.",
    )
    parser.add_argument("job_id", metavar="JOB_ID", help="the job to follow")
    parser.add_argument("--no-live", action="store_true", help="plain log lines, no live view")
    return parser


async def run(args: argparse.Namespace) -> int:
    """Follow the job's stream under the live view until it ends (or Ctrl-C)."""
    from arkor_rx.client import ArkorClient
    from arkor_rx.events import TrainingCompleted, TrainingFailed
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.stream import EventStream

    client = ArkorClient.from_env()
    async with client:
        job = await client.get_job(args.job_id)  # fails fast: unreachable, wrong token, unknown job
        console = _live.console()
        view = _live.view(console, args.no_live)
        stream = EventStream(client, job.id, ReconnectPolicy())
        interrupted = False
        with view:
            view.dispatch(
                JobSubmitted(
                    job.id, name=job.name, max_steps=_int_or_none(job.config.get("maxSteps"))
                )
            )
            try:
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        view.dispatch(event)
                        stats = stream.stats
                        view.dispatch(StreamProgress(stats.reconnects, duplicates=stats.duplicates))
                        if isinstance(event, TrainingCompleted | TrainingFailed):
                            break
                final = await client.get_job(job.id)
                view.dispatch(_live.finished(final, view.state))
            except asyncio.CancelledError:  # Ctrl-C: stop watching; the job goes on
                interrupted = True
        view.print_summary()
    return EXIT_INTERRUPTED if interrupted else _live.exit_status(view.state)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
