"""What the handlers of one running app share: [`ServerState`][arkor_rx.server.ServerState].

Rule 1: the job queue is first come, first served. A job is stored as
``queued`` when it is accepted and handed to a thread pool of
``max_concurrent_jobs`` workers, whose work queue is FIFO: jobs beyond that
many wait as ``queued`` and start in submission order. A queued job that is
cancelled is ended at once ([`JobRun.cancel_queued`][arkor_rx.server.state.JobRun.cancel_queued]);
when its turn
comes its thread returns without starting it.

Rule 2: only the event loop thread touches the notifier and ``active``;
training threads reach the loop through
[`ServerState.notify_threadsafe`][arkor_rx.server.ServerState.notify_threadsafe].
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web

from arkor_rx.jobs import BlobDataset, HuggingFaceDataset
from arkor_rx.server.config import ServerConfig
from arkor_rx.server.datasets import ChatDataset, load_dataset
from arkor_rx.server.http_errors import ApiError, shown
from arkor_rx.server.model import Adapter
from arkor_rx.server.runner import SERVER_STOPPED_ERROR, JobRun
from arkor_rx.server.store import JobRecord, JobStore

__all__ = ["STATE_KEY", "Notifier", "ServerState"]


class Notifier:
    """Wakes the stream handlers following a job. Loop thread only."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def waiter(self, job_id: str) -> asyncio.Event:
        """An event set at the job's next append (take it before reading: no lost wake-up)."""
        event = self._events.get(job_id)
        if event is None:
            event = self._events[job_id] = asyncio.Event()
        return event

    def notify(self, job_id: str) -> None:
        """Wake everyone waiting on ``job_id``."""
        event = self._events.pop(job_id, None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        """Wake everyone (the server is stopping)."""
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


@dataclass(eq=False)
class ServerState:
    """Everything the handlers share. Available as ``app[STATE_KEY]`` once started.

    Attributes:
        config: the server's config (its token is always set).
        store: jobs and event logs.
        jobs_dir: the parent of every ``<job id>/checkpoints`` directory.
        dataset_roots: the folders ``file://`` datasets must lie under (absolute).
        recovered_jobs: ids of the jobs a previous server left running, failed at start.
    """

    config: ServerConfig
    store: JobStore
    jobs_dir: Path
    executor: ThreadPoolExecutor
    loop: asyncio.AbstractEventLoop
    dataset_roots: tuple[Path, ...] = ()
    notifier: Notifier = field(default_factory=Notifier)
    active: dict[str, tuple[JobRun, asyncio.Future[None]]] = field(default_factory=dict)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    stream_opens: int = 0
    adapters: dict[tuple[str, float], Adapter] = field(default_factory=dict)
    recovered_jobs: tuple[str, ...] = ()

    def notify_threadsafe(self, job_id: str) -> None:
        """Wake the followers of ``job_id``; callable from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody listens
            self.loop.call_soon_threadsafe(self.notifier.notify, job_id)

    def read_dataset(self, source: HuggingFaceDataset | BlobDataset) -> ChatDataset:
        """Read a job's dataset under this server's roots and limits (blocking: in a thread).

        ``POST /v1/jobs`` reads it to check it; the run reads it again when it
        starts, with the same rules.

        Raises:
            DatasetError (a ConfigError): what is wrong with it, naming the line.
        """
        limits = self.config.limits
        return load_dataset(
            source,
            roots=self.dataset_roots,
            max_records=limits.max_records,
            max_labels=limits.max_labels,
        )

    def checkpoint_dir(self, job_id: str) -> Path:
        """Where a job's checkpoints (``step-N.npz``) and ``final.npz`` live."""
        return self.jobs_dir / job_id / "checkpoints"

    def job(self, job_id: str) -> JobRecord:
        """The stored job.

        Raises:
            ApiError: 404, no such job.
        """
        job = self.store.get(job_id)
        if job is None:
            raise ApiError(404, f"unknown job {shown(job_id)}")
        return job

    def submit(self, run: JobRun) -> None:
        """Queue a stored job's run; it starts when a worker is free, in submission order."""
        future = self.loop.run_in_executor(self.executor, run.run)
        self.active[run.job_id] = (run, future)
        future.add_done_callback(lambda _: self.active.pop(run.job_id, None))

    def stop_everything(self) -> None:
        """End every open stream and ask every queued or running job to stop."""
        self.closing.set()
        self.notifier.notify_all()
        for run, _ in list(self.active.values()):
            run.request_stop(SERVER_STOPPED_ERROR)


STATE_KEY: Final = web.AppKey("arkor_rx.server.state", ServerState)
"""The [`ServerState`][arkor_rx.server.ServerState] of a running app."""
