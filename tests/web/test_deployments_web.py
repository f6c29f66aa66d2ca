"""A run's deployments on the web dashboard: the run's JSON, the backend follower, the page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import arkor_rx as ax
from arkor_rx.dashboard import RunDeployed, WebDashboard
from arkor_rx.dashboard.web._follow import BackendFollower
from arkor_rx.jobs import TrainingJob
from tests.web.conftest import Served
from tests.web.test_contract import HOSTILE, finished_run
from tests.web.web_helpers import row, until


async def test_the_run_json_carries_its_deployments_and_never_a_key(
    served: Served, http: aiohttp.ClientSession
) -> None:
    job_id = await finished_run(served)
    client = served.backend.client
    dep = await client.create_deployment("web-bot", ax.checkpoint_target(job_id, 2))
    key = await client.create_deployment_key(dep.id, "ci")
    served.view.dispatch(RunDeployed.from_deployment(dep))
    async with http.get(f"{served.base}/api/runs/{job_id}", headers=served.headers) as response:
        text = await response.text()
        detail = await response.json()
    expected = {
        "slug": "web-bot",
        "target": "checkpoint step 2",
        "step": 2,
        "url": dep.url,
        "enabled": True,
    }
    assert detail["run"]["deployments"] == [expected]
    assert key.plaintext not in text
    assert key.prefix not in text
    async with http.get(f"{served.base}/api/runs", headers=served.headers) as response:
        [listed] = (await response.json())["runs"]
    assert listed["deployments"] == [expected]


def lines(view: WebDashboard, job_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = row(view, job_id)["deployments"]
    return found


async def test_the_follower_shows_the_backends_deployments_as_they_change(
    served: Served,
) -> None:
    done = await served.trainer(name="deployed", max_steps=4, save_steps=2, sinks=[]).wait()
    job_id = done.job.id
    client = served.backend.client
    dep = await client.create_deployment("follow-bot", ax.final_target(job_id), "none")
    await client.create_deployment("base-bot", ax.base_model_target("arkor/triage-tiny"), "none")
    async with WebDashboard(port=0, client=client) as view:
        follower = BackendFollower(client, view, poll_interval=0.05)
        task = asyncio.create_task(follower.run())
        try:
            await until(view, lambda: job_id in view.feed and bool(lines(view, job_id)))
            [shown] = lines(view, job_id)
            assert [shown[k] for k in ("slug", "target", "url")] == ["follow-bot", "final", dep.url]
            await client.update_deployment(dep.id, target=ax.checkpoint_target(job_id, 2))
            await until(view, lambda: lines(view, job_id)[0]["step"] == 2)
            await client.delete_deployment(dep.id)
            await until(view, lambda: lines(view, job_id) == [])
            assert [r["id"] for r in view.feed.snapshot()["runs"]] == [job_id]  # no base model
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    assert page.errors == []
    await context.close()


async def test_the_run_page_shows_one_line_per_deployment_as_text(page: Any) -> None:
    async with WebDashboard(port=0) as view:
        job = TrainingJob(id="j1", name="by-hand", status="completed", config={"maxSteps": 9})
        await view.open(job)
        await page.goto(view.url + "#/run/j1")
        await page.wait_for_selector("#run-name:text-is('by-hand')")
        assert await page.locator("#run-deployments").is_hidden()
        view.dispatch(RunDeployed("j1", "page-bot", "http://127.0.0.1:1/v1", step=4))
        await page.wait_for_selector("#run-deployments li.deployment")
        view.dispatch(RunDeployed("j1", "odd-bot", f"http://x/{HOSTILE}/v1", enabled=False))
        await page.wait_for_selector("#run-deployments li.deployment:nth-child(2)")
        lines = await page.locator("#run-deployments li").all_text_contents()
        assert lines == [
            "deployed page-bot: checkpoint step 4 at http://127.0.0.1:1/v1",
            f"deployed odd-bot: final at http://x/{HOSTILE}/v1 (disabled)",
        ]
        assert await page.locator("#run-deployments img").count() == 0
