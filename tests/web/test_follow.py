"""``BackendFollower``: jobs that ended before the dashboard, new jobs, running jobs."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

import arkor_rx as ax
from arkor_rx.dashboard import WebDashboard
from arkor_rx.dashboard.web import TOKEN_HEADER
from arkor_rx.dashboard.web._follow import BackendFollower
from tests.web.conftest import HOLD, Served
from tests.web.web_helpers import row, until


async def test_old_jobs_fill_in_and_new_ones_appear(served: Served) -> None:
    old = await served.trainer(name="before", max_steps=HOLD - 2, sinks=[]).wait()
    async with WebDashboard(port=0, client=served.backend.client) as view:
        follower = BackendFollower(served.backend.client, view, poll_interval=0.05)
        task = asyncio.create_task(follower.run())
        try:
            await until(view, lambda: old.job.id in view.feed.view.runs)
            await until(view, lambda: row(view, old.job.id)["step"] == HOLD - 2)
            before = row(view, old.job.id)
            assert before["status"] == "completed"
            assert before["loss"] is not None
            assert before["name"] == "before"
            held = served.trainer(name="after", max_steps=40, sinks=[])
            waiting = asyncio.create_task(held.wait())
            job_id = await held.start()
            await until(view, lambda: job_id in view.feed.view.runs)
            await until(view, lambda: row(view, job_id)["step"] == HOLD - 1)  # live
            assert row(view, job_id)["status"] == "running"
            await served.backend.client.cancel_job(job_id)
            await waiting
            await until(view, lambda: row(view, job_id)["status"] == "cancelled")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_an_old_jobs_history_is_read_only_when_its_page_asks(
    served: Served, http: aiohttp.ClientSession
) -> None:
    old = await served.trainer(name="before", max_steps=HOLD - 2, sinks=[]).wait()
    _, events = await served.backend.server_log(old.job.id)
    steps = [e.step for e in events if isinstance(e, ax.TrainingLog)]
    transport = served.backend.transport

    def streams() -> int:  # the job's event streams read (the trainer's own included)
        return len([s for s in transport.streams if old.job.id in s.url])

    by_trainer = streams()
    async with WebDashboard(port=0, client=served.backend.client) as view:
        follower = BackendFollower(served.backend.client, view, poll_interval=0.05)
        task = asyncio.create_task(follower.run())
        try:
            await until(view, lambda: old.job.id in view.feed.view.runs)
            await until(view, lambda: row(view, old.job.id)["status"] == "completed")
            await until(view, lambda: row(view, old.job.id)["step"] == HOLD - 2)
            assert row(view, old.job.id)["loss"] is not None  # filled in from GET /v1/jobs/{id}
            assert streams() == by_trainer  # not read for the row
            url = f"http://127.0.0.1:{view.port}/api/runs/{old.job.id}"
            headers = {TOKEN_HEADER: view.token}
            for _ in range(2):  # the page's first request reads the history; the next, no more
                async with http.get(url, headers=headers) as response:
                    detail = await response.json()
                assert detail["series"]["step"] == steps
                assert detail["run"]["status"] == "completed"
                assert next(line[1] for line in detail["log"]) == "training.started"
            assert streams() == by_trainer + 1
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
