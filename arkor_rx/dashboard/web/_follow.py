"""Every job of a backend, followed into a web dashboard (``arkor-rx dashboard``).

Rule 1: ``GET /v1/jobs`` is read at start and then every ``poll_interval``
seconds (`POLL_INTERVAL`, 2 s; the backend has no stream of new jobs); a job
is shown as soon as it is listed, with the status the list gives.

Rule 2: running and queued jobs are followed live at once, their event
stream read from the start (their whole history is then there). A job that
had already ended is filled in in the background, ``backfill`` at a time,
from ``GET /v1/jobs/{id}`` alone: its final status and error, and the latest
events the backend includes with it (the local backend: at most 1,000), so
its row shows its latest values. Its whole history (its event stream) is read
only when a page asks for it: the first ``GET /api/runs/{id}`` of that run
waits for it, later ones answer at once. While it is read, the run starts
over from its first event (its row counts up to where it was).

Rule 3: a job's trouble (its stream fails) ends its own row with the error,
never the dashboard; a failing list is retried at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

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
"""Finished jobs filled in at once (Rule 2)."""

_FINAL = ("completed", "failed", "cancelled")


class BackendFollower:
    """Follow every job of ``client``'s project into ``view`` (Rules 1 to 3).

    Args:
        client: the backend (its token stays in this process).
        view: the dashboard the jobs are shown in; its pages' first request
            for a finished run's history reads it (Rule 2).
        poll_interval: seconds between two reads of the job list.
        backfill: finished jobs filled in at once.
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
        self._jobs: dict[str, TrainingJob] = {}
        self._live: dict[str, asyncio.Task[bool]] = {}
        self._fills: dict[str, asyncio.Task[None]] = {}
        self._histories: dict[str, asyncio.Task[None]] = {}
        self._deployments = DeploymentWatch(client, view)
        view.history_source = self.history

    @property
    def followed(self) -> int:
        """How many jobs were seen so far."""
        return len(self._jobs)

    async def poll_once(self) -> None:
        """Read the job list once and start following the jobs not seen before.

        Raises:
            ArkorError: the list could not be read.
        """
        jobs = await self.client.list_jobs()
        for job in reversed(jobs):  # oldest first: rows in submission order
            if job.id in self._jobs:
                continue
            self._jobs[job.id] = job
            await self.view.open(job)
            if job.is_terminal:
                self._fills[job.id] = asyncio.create_task(self._fill(job), name=f"fill {job.id}")
            else:
                self._live[job.id] = asyncio.create_task(self._read(job), name=f"live {job.id}")
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
            tasks: list[asyncio.Task[Any]] = [
                *self._live.values(),
                *self._fills.values(),
                *self._histories.values(),
            ]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def history(self, job_id: str) -> None:
        """Read a finished job's whole history into the view, once (Rule 2).

        Returns at once for a job followed live or not followed; pages asking
        while it is read all wait for the same read.
        """
        job = self._jobs.get(job_id)
        if job is None or job_id in self._live:
            return
        task = self._histories.get(job_id)
        if task is None:
            task = asyncio.create_task(self._read_history(job), name=f"history {job_id}")
            self._histories[job_id] = task
        await asyncio.shield(task)  # a page that leaves does not stop the read

    async def _fill(self, job: TrainingJob) -> None:
        async with self._backfill:
            try:
                final, events = await self.client.get_job_with_events(job.id)
            except ArkorError as exc:  # the row keeps what the list said
                logger.warning("reading job %s failed: %s", job.id, exc)
                return
            if job.id in self._histories:  # a page asked first: its read fills the row
                return
            await self.view.open(final)
            await self.view.write(events)
            await self._finish(final)

    async def _read_history(self, job: TrainingJob) -> None:
        self.view.feed.restart(job.id)  # the fill's latest events give way to all of them
        await self.view.open(job)
        if not await self._read(job):
            self._histories.pop(job.id, None)  # a later page may try again

    async def _read(self, job: TrainingJob) -> bool:
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
            return False
        await self._finish(final)
        return True

    async def _finish(self, final: TrainingJob) -> None:
        if final.status in _FINAL:
            error = None if final.status == "completed" else final.error
            await self.view.close(Outcome(final.status, final.id, job=final, error=error))  # type: ignore[arg-type]
