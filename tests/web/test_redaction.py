"""A backend that echoes the bearer token and a presigned URL: neither reaches a page.

The attack suite's hostile server (``tests/attack/hostile.py``) plays the
backend. It puts the client's own token in ``training.started`` metadata (once
spelt with JSON escapes), in a ``training.failed`` error, in the job's error
and its config (a blob dataset's ``token``), and a presigned ``?sig=`` URL with
a ``user:password@`` in the config and the metadata. ``arkor-rx dashboard``'s
follower reads it, old job and live job; then every answer a page can get is
read: ``/api/runs``, ``/api/runs/{id}``, the stream, and the page itself in
Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from arkor_rx.client import ArkorClient
from arkor_rx.dashboard import WebDashboard
from arkor_rx.dashboard.web._follow import BackendFollower
from arkor_rx.sse import encode
from tests.attack.hostile import TOKEN, Answer, HostileServer, job
from tests.web.web_helpers import Listening, read_frames, row, until

SIG = "SIG-5ecret-presigned"
PASSWORD = "pw-userinfo-9c2"
PRESIGNED = f"https://reader:{PASSWORD}@blob.example/d.jsonl?sv=1&sig={SIG}"
LEAKS = (TOKEN, SIG, PASSWORD)
"""What must never be in anything a page is sent."""


def escaped(text: str) -> str:
    """``text`` spelt the way a JSON encoder may, every character as ``\\uXXXX``."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def echoing_job(job_id: str, status: str) -> dict[str, Any]:
    config = {
        "model": "m",
        "maxSteps": 10,
        "datasetSource": {"type": "blob", "url": PRESIGNED, "token": TOKEN},
        "echo": f"Bearer {TOKEN}",
    }
    error = f"401: token {TOKEN} refused at {PRESIGNED}" if status == "failed" else None
    return job(job_id, name=f"echo {job_id}", status=status, config=config, error=error)


def frames(job_id: str) -> list[str]:
    """The job's events as JSON texts: the token echoed plainly and escaped."""
    at = f'"jobId": "{job_id}", "timestamp": "2026-01-01T00:00:00Z"'
    return [
        '{"type": "training.started", '
        + at
        + f', "metadata": {{"auth": "Bearer {escaped(TOKEN)}", "data": "{PRESIGNED}", '
        + f'"{TOKEN}": 1}}}}',
        '{"type": "training.log", ' + at + ', "step": 1, "loss": 2.0}',
        '{"type": "training.log", ' + at + ', "step": 2, "loss": 1.5}',
        '{"type": "training.failed", '
        + at
        + f', "step": 2, "error": "the server said: token {TOKEN} from {PRESIGNED}"}}',
    ]


def echo_backend(server: HostileServer) -> None:
    """An old failed job (``j1``) and one still running at the first list (``j2``)."""
    server.routes["/v1/jobs"] = Answer.of(
        {"jobs": [echoing_job("j2", "running"), echoing_job("j1", "failed")]}
    )
    for job_id in ("j1", "j2"):
        events = frames(job_id)
        server.routes[f"/v1/jobs/{job_id}"] = Answer(
            f'{{"job": {json.dumps(echoing_job(job_id, "failed"))}, '
            f'"events": [{", ".join(events)}]}}'.encode()
        )
        server.routes[f"/v1/jobs/{job_id}/events/stream"] = Answer(
            b"".join(
                encode(data, event=json.loads(data)["type"], id=str(n))
                for n, data in enumerate(events, start=1)
            ),
            content_type="text/event-stream",
        )


@pytest.fixture
async def echoed() -> AsyncIterator[Listening]:
    """The dashboard following the echoing backend, both jobs shown to their end."""
    with HostileServer() as server:
        echo_backend(server)
        async with (
            ArkorClient(server.url, TOKEN, "o1", "p1") as client,
            WebDashboard(port=0, client=client) as view,
        ):
            follower = BackendFollower(client, view, poll_interval=3600)
            task = asyncio.create_task(follower.run())
            try:
                await until(view, lambda: {"j1", "j2"} <= set(view.feed.view.runs))
                await until(view, lambda: row(view, "j1")["status"] == "failed")
                await until(view, lambda: row(view, "j2")["status"] == "failed")
                yield Listening(view)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def assert_clean(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text
    assert escaped(TOKEN) not in text


async def test_nothing_echoed_reaches_the_api_or_the_stream(
    echoed: Listening, http: aiohttp.ClientSession
) -> None:
    seen: dict[str, str] = {}
    for path in ("/api/runs", "/api/runs/j1", "/api/runs/j2"):  # j1's history is read now
        async with http.get(echoed.base + path, headers=echoed.headers) as response:
            assert response.status == 200
            seen[path] = await response.text()
    last = echoed.view.feed.seq
    async with http.get(f"{echoed.base}/api/stream?since=0", headers=echoed.headers) as response:
        stream = await read_frames(response, lambda f: bool(f) and f[-1].id == str(last))
    seen["stream"] = "\n".join(f.data for f in stream)
    for text in seen.values():
        assert_clean(text)
    j1 = json.loads(seen["/api/runs/j1"])
    assert j1["config"]["datasetSource"] == {
        "type": "blob",
        "url": "https://<redacted>@blob.example/d.jsonl?<redacted>",
        "token": "***",
    }
    assert j1["config"]["echo"] == "Bearer ***"
    assert j1["job"]["error"].startswith("401: token *** refused at https://<redacted>@")
    assert j1["run"]["error"] == j1["job"]["error"]
    failed = next(line for line in j1["log"] if line[1] == "training.failed")
    assert failed[3] == (
        "failed: the server said: token *** from https://<redacted>@blob.example/d.jsonl?<redacted>"
    )
    assert "failed: the server said: token ***" in seen["stream"]
    assert json.loads(seen["/api/runs"])["runs"][0]["name"] == "echo j1"


async def test_nothing_echoed_reaches_the_page(echoed: Listening, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        await page.goto(echoed.view.url)
        await page.wait_for_selector("#runs tbody tr:nth-child(2)")
        assert_clean(await page.content())
        for job_id in ("j1", "j2"):
            await page.goto(f"{echoed.view.url}#/run/{job_id}")
            await page.wait_for_selector("#run-state:text-is('failed')")
            await page.wait_for_function("document.body.innerText.includes('***')")
            assert_clean(await page.content())
            assert_clean(await page.evaluate("document.body.innerText"))
    finally:
        await context.close()


def test_a_dashboard_without_a_client_masks_the_secrets_it_is_given() -> None:
    from arkor_rx.events import TrainingFailed

    view = WebDashboard(port=0, secrets=[TOKEN])
    view.dispatch(TrainingFailed(job_id="j1", error=f"bad {TOKEN} at {PRESIGNED}"))
    shown = row(view, "j1")
    assert shown["error"] == "bad *** at https://<redacted>@blob.example/d.jsonl?<redacted>"
    assert TOKEN not in repr(view.feed.scrub)
