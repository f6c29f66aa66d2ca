"""Black-box acceptance tests of the local backend (`arkor_rx.server`) against PROTOCOL.md."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from arkor_rx.server import FaultConfig, LocalServer, ServerConfig

SCOPE = {"orgSlug": "my org&x", "projectSlug": "demo/1"}
DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}
MODEL = "unsloth/gemma-4-E4B-it"
TERMINAL = {"training.completed", "training.failed"}


class Srv:
    def __init__(self, server: LocalServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.url = server.url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {server.token}"}

    async def create(
        self, config: dict[str, Any] | None = None, name: str = "acc"
    ) -> dict[str, Any]:
        cfg: dict[str, Any] = {"model": MODEL, "datasetSource": DATASET, "maxSteps": 6}
        if config:
            cfg.update(config)
        async with self.session.post(
            f"{self.url}/v1/jobs",
            params=SCOPE,
            json={"name": name, "config": cfg},
            headers=self.headers,
        ) as r:
            assert 200 <= r.status < 300, await r.text()
            body = await r.json()
        job: dict[str, Any] = body["job"]
        return job

    async def frames(self, job_id: str, last_event_id: str | None = None) -> list[dict[str, Any]]:
        """Read the stream until `event: end`; return the frames as dicts of fields."""
        headers = dict(self.headers, Accept="text/event-stream")
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        out: list[dict[str, Any]] = []
        async with self.session.get(
            f"{self.url}/v1/jobs/{job_id}/events/stream", params=SCOPE, headers=headers
        ) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")
            async for frame in _frames(r):
                out.append(frame)
                if frame.get("event") == "end":
                    break
        return out


async def _frames(r: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    cur: dict[str, Any] = {}
    async for raw in r.content:
        line = raw.decode().rstrip("\r\n")
        if line == "":
            if cur:
                yield cur
            cur = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            cur.setdefault("data_lines", []).append(value)
        else:
            cur[field] = value
    if cur:
        yield cur


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Srv]:
    async with (
        LocalServer(ServerConfig(step_delay=0.0, dataset_roots=(tmp_path,))) as server,
        aiohttp.ClientSession() as session,
    ):
        yield Srv(server, session)


# ---------------------------------------------------------------- jobs


async def test_create_job_returns_training_job(srv: Srv) -> None:
    job = await srv.create(name="support-bot-v1")
    for field in ("id", "orgId", "projectId", "name", "status", "config", "error", "createdAt"):
        assert field in job, field
    assert job["name"] == "support-bot-v1"
    assert job["status"] in {"queued", "running", "completed", "failed", "cancelled"}
    assert job["config"]["model"] == MODEL
    assert job["config"]["datasetSource"]["type"] == "huggingface"
    assert isinstance(job["id"], str)
    assert job["id"]


async def test_get_job(srv: Srv) -> None:
    job = await srv.create()
    async with srv.session.get(
        f"{srv.url}/v1/jobs/{job['id']}", params=SCOPE, headers=srv.headers
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body["job"]["id"] == job["id"]
    assert body["job"]["name"] == job["name"]


async def test_get_unknown_job_404_json(srv: Srv) -> None:
    async with srv.session.get(
        f"{srv.url}/v1/jobs/nope-123", params=SCOPE, headers=srv.headers
    ) as r:
        assert r.status == 404
        body = await r.json(content_type=None)
    assert isinstance(body["error"], str)
    assert body["error"]


async def test_job_runs_to_completion_and_status_completed(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 4})
    frames = await srv.frames(job["id"])
    types = [f["event"] for f in frames if f.get("event") != "ping"]
    assert types[0] == "training.started"
    assert types[-2:] == ["training.completed", "end"]
    async with srv.session.get(
        f"{srv.url}/v1/jobs/{job['id']}", params=SCOPE, headers=srv.headers
    ) as r:
        body = await r.json()
    assert body["job"]["status"] == "completed"
    assert body["job"]["completedAt"]


async def test_cancel_then_conflict_on_terminal(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 100000})
    url = f"{srv.url}/v1/jobs/{job['id']}/cancel"
    async with srv.session.post(url, params=SCOPE, headers=srv.headers) as r:
        assert 200 <= r.status < 300
    frames = await asyncio.wait_for(srv.frames(job["id"]), 10)
    events = [f for f in frames if f.get("event") not in ("ping", "end")]
    last = json.loads(events[-1]["data_lines"][0])
    assert last["type"] == "training.failed"
    assert isinstance(last["error"], str)
    async with srv.session.get(
        f"{srv.url}/v1/jobs/{job['id']}", params=SCOPE, headers=srv.headers
    ) as r:
        assert (await r.json())["job"]["status"] == "cancelled"
    async with srv.session.post(url, params=SCOPE, headers=srv.headers) as r:
        assert r.status == 409
        body = await r.json(content_type=None)
        assert isinstance(body["error"], str)


async def test_cancel_completed_job_is_409(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 2})
    await srv.frames(job["id"])
    async with srv.session.post(
        f"{srv.url}/v1/jobs/{job['id']}/cancel", params=SCOPE, headers=srv.headers
    ) as r:
        assert r.status == 409


async def test_cancel_unknown_job_is_404(srv: Srv) -> None:
    async with srv.session.post(
        f"{srv.url}/v1/jobs/zzz/cancel", params=SCOPE, headers=srv.headers
    ) as r:
        assert r.status == 404


async def test_scope_query_params_optional_and_accepted(srv: Srv) -> None:
    cfg = {"model": MODEL, "datasetSource": DATASET, "maxSteps": 2}
    async with srv.session.post(
        f"{srv.url}/v1/jobs?orgSlug=a%20b%26c&projectSlug=p%2F1",
        json={"name": "x", "config": cfg},
        headers=srv.headers,
    ) as r:
        assert 200 <= r.status < 300


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic abc", "Bearer "])
async def test_auth_required_401_json(srv: Srv, auth: str | None) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    for method, path in [
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs/x"),
        ("POST", "/v1/jobs/x/cancel"),
        ("GET", "/v1/jobs/x/events/stream"),
        ("POST", "/v1/inference/chat"),
    ]:
        async with srv.session.request(
            method, srv.url + path, params=SCOPE, headers=headers, json={}
        ) as r:
            assert r.status == 401, (method, path, r.status)
            body = await r.json(content_type=None)
            assert isinstance(body["error"], str)
            assert body["error"]
            assert srv.server.token not in await r.text()


# ---------------------------------------------------------------- config validation


async def _post_config(srv: Srv, config: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with srv.session.post(
        f"{srv.url}/v1/jobs",
        params=SCOPE,
        json={"name": "bad", "config": config},
        headers=srv.headers,
    ) as r:
        return r.status, await r.json(content_type=None)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"learningRate": -0.1}, "learningRate"),
        ({"maxSteps": "ten"}, "maxSteps"),
        ({"datasetSource": {"type": "ftp", "url": "x"}}, "datasetSource"),
        ({"model": "no/such-model"}, "model"),
        ({"batchSize": 0}, "batchSize"),
    ],
)
async def test_bad_config_400_naming_field(srv: Srv, patch: dict[str, Any], field: str) -> None:
    cfg: dict[str, Any] = {"model": MODEL, "datasetSource": DATASET, "maxSteps": 2}
    cfg.update(patch)
    status, body = await _post_config(srv, cfg)
    assert status == 400
    assert field in body["error"], body


async def test_missing_model_400(srv: Srv) -> None:
    status, body = await _post_config(srv, {"datasetSource": DATASET})
    assert status == 400
    assert "model" in body["error"]


async def test_not_json_body_400(srv: Srv) -> None:
    async with srv.session.post(
        f"{srv.url}/v1/jobs",
        params=SCOPE,
        data=b"{not json",
        headers=dict(srv.headers, **{"Content-Type": "application/json"}),
    ) as r:
        assert r.status == 400
        assert isinstance((await r.json(content_type=None))["error"], str)


async def test_blob_bad_line_reports_line_number(srv: Srv, tmp_path: Path) -> None:
    good = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "bug"}]}
    )
    path = tmp_path / "data.jsonl"
    path.write_text(f"{good}\n{good}\n{{oops not json\n{good}\n")
    status, body = await _post_config(
        srv,
        {"model": MODEL, "datasetSource": {"type": "blob", "url": path.as_uri()}, "maxSteps": 2},
    )
    assert status == 400
    assert "3" in body["error"], body
    assert "line" in body["error"].lower()


async def test_blob_file_dataset_trains(srv: Srv, tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"ticket {i} about {lab}"},
                {"role": "assistant", "content": lab},
            ]
        }
        for i in range(20)
        for lab in ("billing", "bug")
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    job = await srv.create({"datasetSource": {"type": "blob", "url": path.as_uri()}, "maxSteps": 3})
    frames = await srv.frames(job["id"])
    assert [f["event"] for f in frames if f.get("event") != "ping"][-2:] == [
        "training.completed",
        "end",
    ]


async def test_oversize_body_413(srv: Srv) -> None:
    big = {
        "name": "x",
        "config": {"model": MODEL, "datasetSource": DATASET},
        "pad": "a" * (2 * 1024 * 1024),
    }
    data = io.BytesIO(json.dumps(big).encode())
    headers = dict(srv.headers, **{"Content-Type": "application/json"})
    async with srv.session.post(
        f"{srv.url}/v1/jobs", params=SCOPE, data=data, headers=headers
    ) as r:
        assert r.status == 413
        body = await r.json(content_type=None)
        assert isinstance(body["error"], str)


# ---------------------------------------------------------------- event stream


async def test_stream_frame_shape_and_event_fields(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 6, "loggingSteps": 1, "saveSteps": 3})
    frames = await srv.frames(job["id"])
    seen: dict[str, dict[str, Any]] = {}
    ids: list[int] = []
    for f in frames:
        if f["event"] in ("ping", "end"):
            continue
        assert f.get("id")
        assert len(f["data_lines"]) == 1
        data = json.loads(f["data_lines"][0])
        assert data["type"] == f["event"]
        assert data["jobId"] == job["id"]
        assert isinstance(data["timestamp"], str)
        ids.append(int(f["id"]))
        seen.setdefault(f["event"], data)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    log = seen["training.log"]
    assert isinstance(log["step"], int)
    assert set(log) - {"type", "jobId", "timestamp"} <= {
        "step",
        "loss",
        "evalLoss",
        "learningRate",
        "epoch",
        "samplesPerSecond",
    }
    assert isinstance(log["loss"], float)
    assert "learningRate" in log
    assert "samplesPerSecond" in log
    assert not any("_" in k for k in log)
    ck = seen["checkpoint.saved"]
    assert isinstance(ck["step"], int)
    assert isinstance(ck["artifacts"], list)
    done = seen["training.completed"]
    assert isinstance(done["metrics"], dict)
    assert isinstance(done["artifacts"], list)


async def test_eval_loss_logged_when_eval_steps(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 4, "evalSteps": 2, "loggingSteps": 1})
    frames = await srv.frames(job["id"])
    logs = [json.loads(f["data_lines"][0]) for f in frames if f["event"] == "training.log"]
    assert any(isinstance(x.get("evalLoss"), float) for x in logs)


async def test_end_after_terminal_and_stream_closes(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 2})
    headers = dict(srv.headers, Accept="text/event-stream")
    async with srv.session.get(
        f"{srv.url}/v1/jobs/{job['id']}/events/stream", params=SCOPE, headers=headers
    ) as r:
        frames = [f async for f in _frames(r)]  # must terminate: server closes after end
    names = [f["event"] for f in frames if f["event"] != "ping"]
    assert names[-1] == "end"
    assert names[-2] in TERMINAL


async def test_last_event_id_resumes_strictly_after(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 5, "loggingSteps": 1})
    full = [f for f in await srv.frames(job["id"]) if f["event"] not in ("ping", "end")]
    assert len(full) >= 4
    pivot = full[2]["id"]
    resumed = [
        f
        for f in await srv.frames(job["id"], last_event_id=pivot)
        if f["event"] not in ("ping", "end")
    ]
    assert [f["id"] for f in resumed] == [f["id"] for f in full[3:]]
    assert [f["data_lines"] for f in resumed] == [f["data_lines"] for f in full[3:]]


async def test_last_event_id_after_last_gives_only_end(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 2})
    full = [f for f in await srv.frames(job["id"]) if f["event"] not in ("ping", "end")]
    resumed = [f["event"] for f in await srv.frames(job["id"], last_event_id=full[-1]["id"])]
    assert [e for e in resumed if e != "ping"] == ["end"]


async def test_stream_unknown_job_404(srv: Srv) -> None:
    async with srv.session.get(
        f"{srv.url}/v1/jobs/nope/events/stream", params=SCOPE, headers=srv.headers
    ) as r:
        assert r.status == 404


async def test_ping_keepalive() -> None:
    async with (
        LocalServer(ServerConfig(step_delay=0.5, ping_interval=0.05)) as server,
        aiohttp.ClientSession() as session,
    ):
        s = Srv(server, session)
        job = await s.create({"maxSteps": 100})
        headers = dict(s.headers, Accept="text/event-stream")
        async with session.get(
            f"{s.url}/v1/jobs/{job['id']}/events/stream", params=SCOPE, headers=headers
        ) as r:

            async def first_ping() -> dict[str, Any]:
                async for f in _frames(r):
                    if f.get("event") == "ping":
                        return f
                raise AssertionError("no ping")

            ping = await asyncio.wait_for(first_ping(), 5)
        assert ping["event"] == "ping"
        async with session.post(
            f"{s.url}/v1/jobs/{job['id']}/cancel", params=SCOPE, headers=s.headers
        ) as c:
            assert c.status < 300


async def test_fault_drop_after_events_resume_completes() -> None:
    faults = FaultConfig(drop_after_events=2)
    async with (
        LocalServer(ServerConfig(step_delay=0.0, faults=faults)) as server,
        aiohttp.ClientSession() as session,
    ):
        s = Srv(server, session)
        job = await s.create({"maxSteps": 4, "loggingSteps": 1})
        got: list[dict[str, Any]] = []
        last: str | None = None
        for _ in range(50):
            headers = dict(s.headers, Accept="text/event-stream")
            if last is not None:
                headers["Last-Event-ID"] = last
            ended = False
            async with session.get(
                f"{s.url}/v1/jobs/{job['id']}/events/stream", params=SCOPE, headers=headers
            ) as r:
                async for f in _frames(r):
                    if f.get("event") == "end":
                        ended = True
                        break
                    if "data_lines" in f and f.get("event") != "ping":
                        got.append(f)
                        last = f["id"]
            if ended:
                break
        ids = [int(f["id"]) for f in got]
        assert ids == list(range(1, len(ids) + 1))
        assert got[-1]["event"] in TERMINAL


async def test_fault_fail_at_step() -> None:
    async with (
        LocalServer(ServerConfig(step_delay=0.0, faults=FaultConfig(fail_at_step=3))) as server,
        aiohttp.ClientSession() as session,
    ):
        s = Srv(server, session)
        job = await s.create({"maxSteps": 10})
        frames = [f for f in await s.frames(job["id"]) if f["event"] not in ("ping", "end")]
        last = json.loads(frames[-1]["data_lines"][0])
        assert last["type"] == "training.failed"
        assert last["step"] == 3
        async with session.get(
            f"{s.url}/v1/jobs/{job['id']}", params=SCOPE, headers=s.headers
        ) as r:
            assert (await r.json())["job"]["status"] == "failed"


# ---------------------------------------------------------------- inference


async def _chat(srv: Srv, body: dict[str, Any]) -> aiohttp.ClientResponse:
    return await srv.session.post(
        f"{srv.url}/v1/inference/chat", params=SCOPE, json=body, headers=srv.headers
    )


MESSAGES = [{"role": "user", "content": "I was charged twice this month"}]


async def test_inference_non_stream_final_and_checkpoint(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 4, "saveSteps": 2})
    frames = await srv.frames(job["id"])
    ck = next(json.loads(f["data_lines"][0]) for f in frames if f["event"] == "checkpoint.saved")
    for adapter in (
        {"kind": "final", "jobId": job["id"]},
        {"kind": "checkpoint", "jobId": job["id"], "step": ck["step"]},
    ):
        async with await _chat(
            srv, {"messages": MESSAGES, "adapter": adapter, "stream": False}
        ) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        msg = body["choices"][0]["message"]
        assert msg["role"] == "assistant"
        assert isinstance(msg["content"], str)
        assert msg["content"]


async def test_inference_stream_default_true_ends_with_done(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 2})
    await srv.frames(job["id"])
    async with await _chat(
        srv, {"messages": MESSAGES, "adapter": {"kind": "final", "jobId": job["id"]}}
    ) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        frames = [f async for f in _frames(r)]
    datas = [f["data_lines"][0] for f in frames if "data_lines" in f]
    assert datas[-1] == "[DONE]"
    content = "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for d in datas[:-1])
    assert content


async def test_inference_stream_matches_non_stream(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 2})
    await srv.frames(job["id"])
    adapter = {"kind": "final", "jobId": job["id"]}
    async with await _chat(srv, {"messages": MESSAGES, "adapter": adapter, "stream": False}) as r:
        whole = (await r.json())["choices"][0]["message"]["content"]
    async with await _chat(srv, {"messages": MESSAGES, "adapter": adapter, "stream": True}) as r:
        frames = [f async for f in _frames(r)]
    datas = [f["data_lines"][0] for f in frames if "data_lines" in f]
    streamed = "".join(
        json.loads(d)["choices"][0]["delta"].get("content") or "" for d in datas[:-1]
    )
    assert streamed == whole


@pytest.mark.parametrize("kind", ["final", "checkpoint"])
async def test_inference_unknown_job_404(srv: Srv, kind: str) -> None:
    adapter: dict[str, Any] = {"kind": kind, "jobId": "nope"}
    if kind == "checkpoint":
        adapter["step"] = 1
    async with await _chat(srv, {"messages": MESSAGES, "adapter": adapter, "stream": False}) as r:
        assert r.status == 404
        assert isinstance((await r.json(content_type=None))["error"], str)


async def test_inference_unknown_step_404(srv: Srv) -> None:
    job = await srv.create({"maxSteps": 2, "saveSteps": 1})
    await srv.frames(job["id"])
    adapter = {"kind": "checkpoint", "jobId": job["id"], "step": 9999}
    async with await _chat(srv, {"messages": MESSAGES, "adapter": adapter, "stream": False}) as r:
        assert r.status == 404


async def test_inference_bad_body_400(srv: Srv) -> None:
    async with await _chat(srv, {"stream": False}) as r:
        assert r.status == 400
        assert "messages" in (await r.json(content_type=None))["error"]
