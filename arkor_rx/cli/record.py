"""Follow a job's event stream and write every event to FILE, one JSON line each (id,
event, data, receivedAt). The backend comes from the environment, as for `watch`.

Rule 1: every event is written as it arrives (flushed per batch); Ctrl-C
stops recording and keeps what was written (exit 130); the job goes on.

Rule 2: a recording that could not be written (a full disk, ``/dev/full``)
is one line on stderr and exit 1, never "recorded N events".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from arkor_rx._printable import printable
from arkor_rx.cli._checks import file_problem
from arkor_rx.cli._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROG,
    usage_error,
)
from arkor_rx.cli._sinks import JobSinks

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add JOB_ID and FILE."""
    parser.add_argument("job_id", metavar="JOB_ID", help="the job to record")
    parser.add_argument("file", metavar="FILE", help="the recording to write (JSONL)")


async def run(args: argparse.Namespace) -> int:
    """Record until the job ends (or Ctrl-C); print one line saying what was written."""
    from arkor_rx.client import ArkorClient
    from arkor_rx.events import TrainingCompleted, TrainingFailed
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.sinks import JSONL
    from arkor_rx.stream import EventStream

    problem = file_problem(args.file)
    if problem is not None:
        return usage_error(f"record: error: FILE {args.file}: {problem}")
    async with ArkorClient.from_env() as client:
        job = await client.get_job(args.job_id)  # fails fast: unreachable, wrong token, unknown job
        recorder = JSONL(args.file)
        feed = JobSinks([recorder])
        stream = EventStream(client, job.id, ReconnectPolicy())
        count = 0
        status = EXIT_OK
        try:
            async with contextlib.aclosing(stream):
                async for event in stream:
                    await feed.feed(event, job)
                    count += 1
                    if isinstance(event, TrainingFailed):
                        status = EXIT_ERROR
                    if isinstance(event, TrainingCompleted | TrainingFailed):
                        break
        except asyncio.CancelledError:
            status = EXIT_INTERRUPTED
        await feed.finish("cancelled")
    if recorder.stats.errors:  # Rule 2
        error = recorder.stats.last_error
        print(f"{PROG}: error: could not write {args.file}: {error}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    shown = printable(job.id)  # the job id comes from the server: data, not terminal control
    print(f"{PROG}: recorded {count} events of job {shown} to {args.file}", flush=True)
    return status
