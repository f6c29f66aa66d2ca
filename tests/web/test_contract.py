"""The web dashboard's HTTP contract (API.md, "Web dashboard"), checked with aiohttp's client.

Every test runs a real local backend, real trainers with the dashboard as
their sink, and a real HTTP client against the dashboard on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

import arkor_rx as ax
from arkor_rx.dashboard import WebDashboard
from arkor_rx.dashboard.web import TOKEN_HEADER, WebFeed
from arkor_rx.dashboard.web._app import STATIC_FILES
from tests.e2e.e2e_helpers import LABELS
from tests.web.conftest import HOLD, Served
from tests.web.web_helpers import points, read_frames, row, until

HOSTILE = "<img src=x onerror=alert(1)>"


async def finished_run(served: Served, **kwargs: object) -> str:
    """A short run (it ends before the backend's hold), followed by the dashboard."""
    trainer = served.trainer(max_steps=HOLD - 2, eval_steps=2, save_steps=2, **kwargs)
    result = await trainer.wait()
    assert result.job.status == "completed"
    return result.job.id


async def test_runs_are_camel_case_rows_with_the_latest_values(
    served: Served, http: aiohttp.ClientSession
) -> None:
    job_id = await finished_run(served, name="shape")
    _, events = await served.backend.server_log(job_id)
    logs = [e for e in events if isinstance(e, ax.TrainingLog)]
    async with http.get(f"{served.base}/api/runs", headers=served.headers) as response:
        assert response.status == 200
        body = await response.json()
    [run] = body["runs"]
    assert run["id"] == job_id
    assert run["name"] == "shape"
    assert run["status"] == "completed"
    assert run["step"] == HOLD - 2
    assert run["maxSteps"] == HOLD - 2
    assert run["loss"] == next(e.loss for e in reversed(logs) if e.loss is not None)
    assert run["evalLoss"] == next(e.eval_loss for e in reversed(logs) if e.eval_loss is not None)
    assert run["stop"] is None
    assert isinstance(body["seq"], int)


async def test_a_run_page_gets_the_whole_history_once(
    served: Served, http: aiohttp.ClientSession
) -> None:
    job_id = await finished_run(served)
    _, events = await served.backend.server_log(job_id)
    steps = [e.step for e in events if isinstance(e, ax.TrainingLog)]
    async with http.get(f"{served.base}/api/runs/{job_id}", headers=served.headers) as response:
        detail = await response.json()
    assert detail["series"]["step"] == steps
    assert detail["config"]["maxSteps"] == HOLD - 2
    assert detail["result"]["steps"] == HOLD - 2
    assert [c[0] for c in detail["checkpoints"]] == [2, 4]
    assert next(line[1] for line in detail["log"]) == "training.started"
    async with http.get(f"{served.base}/api/runs/nope", headers=served.headers) as response:
        assert response.status == 404
        assert "error" in await response.json()


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({TOKEN_HEADER: "wrong"}, 403), ({TOKEN_HEADER: ""}, 401)],
)
async def test_every_api_request_needs_the_launch_token(
    served: Served, http: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    for path in ("/api/runs", "/api/stream", "/api/runs/x"):
        async with http.get(served.base + path, headers=headers) as response:
            assert response.status == status
            assert set(await response.json()) == {"error"}
    async with http.post(f"{served.base}/api/runs/x/cancel", headers=headers) as response:
        assert response.status == status


async def test_the_token_in_the_query_opens_the_stream_only(
    served: Served, http: aiohttp.ClientSession
) -> None:
    token = served.view.token
    async with http.get(f"{served.base}/api/stream?since=0&token={token}") as response:
        assert response.status == 200  # EventSource cannot set a header
        assert response.headers["Content-Type"].startswith("text/event-stream")
    for path in ("/api/runs", "/api/runs/x"):  # every other route takes the header only
        async with http.get(f"{served.base}{path}?token={token}") as response:
            assert response.status == 401
            assert "X-Arkor-Dashboard-Token" in (await response.json())["error"]
    async with http.post(f"{served.base}/api/runs/x/cancel?token={token}") as response:
        assert response.status == 401  # a state change takes the token from the header only
    async with http.post(f"{served.base}/api/runs/x/chat?token={token}", json={}) as response:
        assert response.status == 401


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "evil.example", ""])
async def test_a_foreign_host_header_is_refused(
    served: Served, http: aiohttp.ClientSession, host: str
) -> None:
    headers = {**served.headers, "Host": host.format(port=served.view.port)}
    for path in ("/", "/api/runs", "/static/app.js"):
        async with http.get(served.base + path, headers=headers) as response:
            assert response.status == 403
            assert "error" in await response.json()


async def test_loopback_names_are_the_served_address(
    served: Served, http: aiohttp.ClientSession
) -> None:
    for name in ("127.0.0.1", "localhost"):
        headers = {**served.headers, "Host": f"{name}:{served.view.port}"}
        async with http.get(f"{served.base}/api/runs", headers=headers) as response:
            assert response.status == 200


_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


@pytest.mark.parametrize("name", STATIC_FILES)
async def test_every_page_file_has_the_type_a_nosniff_browser_runs(
    served: Served, http: aiohttp.ClientSession, name: str
) -> None:
    path = "/" if name == "index.html" else f"/static/{name}"
    async with http.get(served.base + path) as response:
        assert response.status == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.content_type == _TYPES[name[name.rindex(".") :]]
        assert response.charset == "utf-8"
        assert await response.read()


async def test_the_page_is_served_at_the_root_only(
    served: Served, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{served.base}/static/index.html") as response:
        assert response.status == 404


async def test_headers_forbid_inline_script_and_cross_origin_reads(
    served: Served, http: aiohttp.ClientSession
) -> None:
    origin = {"Origin": "http://evil.example"}
    async with http.get(served.base + "/", headers=origin) as response:
        page = await response.text()
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in page  # every script is a file
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    for method in ("GET", "OPTIONS"):
        async with http.request(
            method, f"{served.base}/api/runs", headers={**served.headers, **origin}
        ) as response:
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_the_stream_has_ids_and_resumes_after_last_event_id(
    served: Served, http: aiohttp.ClientSession
) -> None:
    job_id = await finished_run(served)
    last = served.view.feed.seq
    url = f"{served.base}/api/stream?since=0"
    async with http.get(url, headers=served.headers) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        frames = await read_frames(response, lambda f: bool(f) and f[-1].id == str(last))
    ids = [int(f.id or "") for f in frames]
    assert ids == sorted(set(ids))
    every = points(frames, job_id)
    assert [p[1] for p in every] == list(range(1, HOLD - 1))
    middle = every[len(every) // 2][0]
    headers = {**served.headers, "Last-Event-ID": str(middle)}
    async with http.get(f"{served.base}/api/stream?since=0", headers=headers) as response:
        resumed = await read_frames(response, lambda f: bool(f) and f[-1].id == str(last))
    assert points(resumed, job_id) == [p for p in every if p[0] > middle]


async def test_cancel_cancels_the_job_once(served: Served, http: aiohttp.ClientSession) -> None:
    trainer = served.trainer(max_steps=40)
    task = asyncio.create_task(trainer.wait())
    job_id = await trainer.start()
    await until(served.view, lambda: job_id in served.view.feed.view.runs)
    url = f"{served.base}/api/runs/{job_id}/cancel"
    async with http.post(url, headers=served.headers) as response:
        assert response.status == 202
    async with http.post(url, headers=served.headers) as response:
        assert response.status == 409
        assert "already" in (await response.json())["error"]
    result = await task
    assert result.job.status == "cancelled"
    cancels = [s for s in served.backend.transport.sent if s.url.endswith(f"{job_id}/cancel")]
    assert len(cancels) == 1
    await until(served.view, lambda: row(served.view, job_id)["status"] == "cancelled")


async def test_the_playground_streams_an_adapters_answer(
    served: Served, http: aiohttp.ClientSession
) -> None:
    job_id = await finished_run(served)
    for step in (None, 2):
        async with http.post(
            f"{served.base}/api/runs/{job_id}/chat",
            headers=served.headers,
            json={"prompt": "I was charged twice for my subscription", "step": step},
        ) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            frames = await read_frames(response, lambda f: bool(f) and f[-1].event != "message")
        answer = "".join(json.loads(f.data).get("delta", "") for f in frames)
        assert answer in LABELS
        assert frames[-1].event == "done"
    for bad in ({"prompt": ""}, {"prompt": "x", "step": "two"}, {"step": 2}):
        async with http.post(
            f"{served.base}/api/runs/{job_id}/chat", headers=served.headers, json=bad
        ) as response:
            assert response.status == 400
            assert "error" in await response.json()


async def test_a_hostile_name_is_data(served: Served, http: aiohttp.ClientSession) -> None:
    await finished_run(served, name=HOSTILE)
    async with http.get(f"{served.base}/api/runs", headers=served.headers) as response:
        assert (await response.json())["runs"][0]["name"] == HOSTILE
    async with http.get(served.base + "/") as response:
        assert HOSTILE not in await response.text()  # the page holds no data, only code


async def test_the_backend_token_never_reaches_a_page(
    served: Served, http: aiohttp.ClientSession
) -> None:
    job_id = await finished_run(served)
    secret = served.backend.server.token
    seen = []
    for path in ("/", "/static/app.js", "/api/runs", f"/api/runs/{job_id}"):
        async with http.get(served.base + path, headers=served.headers) as response:
            seen.append(await response.text())
    assert all(secret not in text for text in seen)
    assert secret not in served.view.url
    assert served.view.token not in repr(served.view)


async def test_changes_waiting_for_a_page_go_out_as_one_frame(
    http: aiohttp.ClientSession,
) -> None:
    async with WebDashboard(port=0) as view:
        headers = {TOKEN_HEADER: view.token}
        for step in range(1, 101):
            view.dispatch(ax.TrainingLog(job_id="j1", step=step, loss=1.0, event_id=str(step)))
        url = f"http://127.0.0.1:{view.port}/api/stream?since=0"
        async with http.get(url, headers=headers) as response:
            frames = await read_frames(response, bool)
    [frame] = frames  # coalesced: one frame, every point in order
    assert [p[1] for p in points(frames, "j1")] == list(range(1, 101))
    assert frame.id == str(view.feed.seq)


async def test_a_page_from_before_the_journal_is_told_to_reload(
    http: aiohttp.ClientSession,
) -> None:
    view = WebDashboard(port=0)
    view.feed = WebFeed(journal_limit=5)
    async with view:
        for step in range(1, 21):
            view.dispatch(ax.TrainingLog(job_id="j1", step=step, loss=1.0, event_id=str(step)))
        headers = {TOKEN_HEADER: view.token, "Last-Event-ID": "3"}
        url = f"http://127.0.0.1:{view.port}/api/stream"
        async with http.get(url, headers=headers) as response:
            [frame] = await read_frames(response, bool)
    assert frame.event == "reset"
    assert frame.id == str(view.feed.seq)
