"""Every job of a backend, followed into a web dashboard (``arkor-rx dashboard``).

Rule 1: ``GET /v1/jobs`` is read at start and every ``poll_interval``
seconds (the backend has no stream of new jobs); a job is shown as soon as
it is listed, with the status the list gives.

Rule 2: each job's event stream is read from the start, so its points, log
and latest values are all there: running and queued jobs at once and live,
jobs that had already ended in the background, ``backfill`` at a time (the
table is usable while they fill in).

Rule 3: a job's trouble (its stream fails) ends its own row with the error,
never the dashboard; a failing list is retried at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from arkor_rx.dashboard.web._deployed import DeploymentWatch
from arkor_rx.errors import ArkorError
from arkor_rx.events import TrainingCompleted, TrainingFailed
from arkor_rx.sinks._base import Outcome

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard.web._sink import WebDashboard
    from arkor_rx.jobs import TrainingJob

__all__ = ["BACKFILL", "POLL_INTERVAL", "BackendFollower"]

logger = logging.getLogger("arkor_rx.dashboard.web")

POLL_INTERVAL = 2.0
"""Seconds between two reads of the job list."""

BACKFILL = 4
"""Finished jobs whose history is read at once."""

_FINAL = ("completed", "failed", "cancelled")


class BackendFollower:
    """Follow every job of ``client``'s project into ``view`` (Rules 1 to 3).

    Args:
        client: the backend (its token stays in this process).
        view: the dashboard the jobs are shown in.
        poll_interval: seconds between two reads of the job list.
        backfill: finished jobs read at once.
    """

    def __init__(
        self,
        client: ArkorClient,
        view: WebDashboard,
        *,
        poll_interval: float = POLL_INTERVAL,
        backfill: int = BACKFILL,
    ) -> None:
        self.client = client
        self.view = view
        self.poll_interval = poll_interval
        self._backfill = asyncio.Semaphore(backfill)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._deployments = DeploymentWatch(client, view)

    @property
    def followed(self) -> int:
        """How many jobs were seen so far."""
        return len(self._tasks)

    async def poll_once(self) -> None:
        """Read the job list once and start following the jobs not seen before.

        Raises:
            ArkorError: the list could not be read.
        """
        jobs = await self.client.list_jobs()
        for job in reversed(jobs):  # oldest first: rows in submission order
            if job.id not in self._tasks:
                await self.view.open(job)
                task = asyncio.create_task(self._follow(job), name=f"dashboard {job.id}")
                self._tasks[job.id] = task
        await self._deployments.poll()  # after the jobs: a deployment names a shown run

    async def run(self) -> None:
        """Poll and follow until cancelled; then stop following every job."""
        try:
            while True:
                try:
                    await self.poll_once()
                except ArkorError as exc:  # Rule 3: try again at the next poll
                    logger.warning("listing the jobs failed: %s", exc)
                await asyncio.sleep(self.poll_interval)
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _follow(self, job: TrainingJob) -> None:
        if job.is_terminal:
            async with self._backfill:
                await self._read(job)
        else:
            await self._read(job)

    async def _read(self, job: TrainingJob) -> None:
        from arkor_rx.retry import ReconnectPolicy
        from arkor_rx.stream import EventStream

        stream = EventStream(self.client, job.id, ReconnectPolicy())
        try:
            async with contextlib.aclosing(stream):
                async for batch in stream.batches():
                    events = list(batch)
                    await self.view.write(events)
                    if events and isinstance(events[-1], TrainingCompleted | TrainingFailed):
                        break
            final = await self.client.get_job(job.id)
        except ArkorError as exc:
            await self.view.close(Outcome("error", job.id, job=job, error=str(exc)))
            return
        if final.status in _FINAL:
            error = None if final.status == "completed" else final.error
            await self.view.close(Outcome(final.status, job.id, job=final, error=error))  # type: ignore[arg-type]
