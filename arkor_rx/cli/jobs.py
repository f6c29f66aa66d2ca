"""List the jobs of the project (id, name, status, step, created), newest first. The
backend, token and scope come from the environment or the official CLI's files, as for
watch.

Rule 1: one ``GET /v1/jobs``, then one ``GET /v1/jobs/{id}`` per listed job
(a few at a time) for its last step; a job whose events the server does not
include shows no step. A job that cannot be fetched keeps its row.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text

from arkor_rx._printable import NAME_CHARS, printable
from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_OK, positive_int
from arkor_rx.errors import ArkorError
from arkor_rx.jobs import TrainingJob

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient

__all__ = ["add_arguments", "jobs_table", "last_steps", "run"]

_FETCHES_AT_ONCE = 8

_STATUS_STYLE = {
    "queued": "dim",
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags."""
    parser.add_argument(
        "--limit", type=positive_int, default=None, metavar="N", help="show the N newest jobs"
    )


async def last_steps(client: ArkorClient, jobs: Sequence[TrainingJob]) -> dict[str, int | None]:
    """Each job's last step from its stored events (None: no events, or not fetched)."""
    gate = asyncio.Semaphore(_FETCHES_AT_ONCE)

    async def one(job: TrainingJob) -> int | None:
        async with gate:
            try:
                _, events = await client.get_job_with_events(job.id)
            except ArkorError:
                return None
        steps = [s for s in (getattr(e, "step", None) for e in events) if isinstance(s, int)]
        return steps[-1] if steps else None

    found = await asyncio.gather(*(one(job) for job in jobs))
    return {job.id: step for job, step in zip(jobs, found, strict=True)}


def jobs_table(jobs: Sequence[TrainingJob], steps: Mapping[str, int | None]) -> Table:
    """The jobs as a rich table, in the given order (a pure function of its inputs)."""
    table = Table(box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("id", "name", "status", "step", "created"):
        table.add_column(
            name, no_wrap=name != "name", justify="right" if name == "step" else "left"
        )
    for job in jobs:
        step = steps.get(job.id)
        style = _STATUS_STYLE.get(job.status, "")
        table.add_row(  # the server's strings: as written, no terminal control
            Text(printable(job.id, NAME_CHARS)),
            Text(printable(job.name, NAME_CHARS)),
            Text(printable(job.status, NAME_CHARS), style=style),
            "—" if step is None else str(step),
            Text(printable(job.created_at or "—", NAME_CHARS)),
        )
    return table


async def run(args: argparse.Namespace) -> int:
    """Print the jobs table."""
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        jobs = await client.list_jobs()
        if args.limit is not None:
            jobs = jobs[: args.limit]
        console = _live.console()
        if not jobs:
            console.print("no jobs")
            return EXIT_OK
        steps = await last_steps(client, jobs)
    console.print(jobs_table(jobs, steps))
    return EXIT_OK
