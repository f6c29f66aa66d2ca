"""``BackendFollower``: jobs that ended before the dashboard, new jobs, running jobs."""

from __future__ import annotations

import asyncio
import contextlib

from arkor_rx.dashboard import WebDashboard
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
