"""Ask the backend to cancel the job. The backend, token and scope come from the
environment or the official CLI's files, as for watch.

Rule 1: exit 0 once the backend accepted the cancel; a job that had already
ended is one line and exit 1 (``job j1 had already ended: completed``); an
unknown job, like any API error, is one line and exit 1.
"""

from __future__ import annotations

import argparse

from arkor_rx.cli._common import EXIT_OK, fail

__all__ = ["add_arguments", "run"]

_ALREADY_ENDED = 409


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add JOB_ID."""
    parser.add_argument("job_id", metavar="JOB_ID", help="the job to cancel")


async def run(args: argparse.Namespace) -> int:
    """Cancel the job; say so in one line."""
    from arkor_rx.client import ArkorClient
    from arkor_rx.errors import CloudApiError

    async with ArkorClient.from_env() as client:
        try:
            await client.cancel_job(args.job_id)
        except CloudApiError as exc:
            if exc.status != _ALREADY_ENDED:
                raise
            job = await client.get_job(args.job_id)
            return fail(f"job {job.id} had already ended: {job.status}")
    print(f"cancelled {args.job_id}", flush=True)
    return EXIT_OK
