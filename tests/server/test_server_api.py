"""The local backend's HTTP surface: auth, validation, the event stream, cancel."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import aiohttp
import pytest

from arkor_rx.events import TrainingLog, parse_event
from arkor_rx.server import ServerConfig
from tests.server.server_helpers import (
    DEMO,
    TOKEN,
    auth,
    config,
    create,
    data_frames,
    get_job,
    post_error,
    read_stream,
    running,
)

# --- auth --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_every_route_needs_the_bearer_token(headers: dict[str, str]) -> None:
    async with running() as (_, session):
        for method, path in [
            ("POST", "/v1/jobs"),
            ("GET", "/v1/jobs/job_x"),
            ("POST", "/v1/jobs/job_x/cancel"),
            ("GET", "/v1/jobs/job_x/events/stream"),
            ("POST", "/v1/inference/chat"),
            ("GET", "/nowhere"),
        ]:
            async with session.request(method, path, headers=headers, json={}) as resp:
                assert resp.status == 401, path
                body = await resp.json()
                assert "token" in body["error"]
                assert TOKEN not in await resp.text()


async def test_generated_token_is_used_and_hidden_from_repr() -> None:
    async with running(ServerConfig()) as (server, session):
        assert server.token_generated
        assert len(server.token) >= 20
        assert server.token not in repr(server.config) + repr(server)
        async with session.get("/v1/jobs/nope", headers=auth(server.token)) as resp:
            assert resp.status == 404
            assert "nope" in (await resp.json())["error"]


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        (config(model="gpt-17"), "model"),
        (config(datasetSource={"type": "s3", "name": "x"}), "datasetSource"),
        (config(learningRate=-1), "learningRate"),
        (config(maxSteps="abc"), "maxSteps"),
        (config(maxSteps=True), "maxSteps"),
        (config(batchSize=0), "batchSize"),
        (config(lrSchedulerType="exponential"), "lrSchedulerType"),
        (config(optim="lion"), "optim"),
        (config(bogus=1), "bogus"),
        (config(datasetSource={"type": "huggingface", "name": "nobody/nothing"}), "datasetSource"),
        (config(datasetSource={"type": "blob", "url": "https://example.com/d.jsonl"}), "url"),
        ({"datasetSource": DEMO}, "model"),
    ],
)
async def test_bad_config_is_400_naming_the_field(cfg: dict[str, object], field: str) -> None:
    async with running() as (_, session):
        status, message = await post_error(session, "/v1/jobs", {"name": "x", "config": cfg})
        assert status == 400
        assert field in message


async def test_missing_dataset_file_is_400(tmp_path: Path) -> None:
    url = (tmp_path / "absent.jsonl").as_uri()
    async with running(ServerConfig(token=TOKEN, dataset_roots=(tmp_path,))) as (_, session):
        status, message = await post_error(
            session, "/v1/jobs", {"config": config(datasetSource={"type": "blob", "url": url})}
        )
    assert status == 400
    assert "datasetSource" in message
    assert "absent.jsonl" in message


async def test_bad_jsonl_line_is_400_with_its_line_number(tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n{not json\n")
    url = path.as_uri()
    async with running(ServerConfig(token=TOKEN, dataset_roots=(tmp_path,))) as (_, session):
        status, message = await post_error(
            session, "/v1/jobs", {"config": config(datasetSource={"type": "blob", "url": url})}
        )
        assert status == 400
        assert "line 3" in message
        path.write_text(json.dumps(good) + '\n{"messages": [{"role": "user", "content": "x"}]}\n')
        status, message = await post_error(
            session, "/v1/jobs", {"config": config(datasetSource={"type": "blob", "url": url})}
        )
        assert status == 400
        assert "line 2" in message


async def test_body_not_json_is_400_and_oversized_body_is_413() -> None:
    async with running(ServerConfig(token=TOKEN, max_body_size=4096)) as (_, session):
        async with session.post("/v1/jobs", data=b"{nope", headers=auth()) as resp:
            assert resp.status == 400
            assert "JSON" in (await resp.json())["error"]
        big = {"name": "x" * 10_000, "config": config()}
        async with session.post("/v1/jobs", json=big, headers=auth()) as resp:
            assert resp.status == 413
            assert "4096" in (await resp.json())["error"]


async def test_user_file_trains(tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"{w} please"},
                {"role": "assistant", "content": w},
            ]
        }
        for w in ["alpha", "beta", "gamma"] * 4
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    source = {"type": "blob", "url": path.as_uri(), "token": "dataset-secret"}
    async with running(ServerConfig(token=TOKEN, dataset_roots=(tmp_path,))) as (_, session):
        job = await create(session, config(datasetSource=source, maxSteps=5))
        assert "dataset-secret" not in json.dumps(job)
        _, frames = await read_stream(session, job["id"])
    events = data_frames(frames)
    assert events[0]["metadata"]["trainExamples"] + events[0]["metadata"]["evalExamples"] == 12
    assert events[-1]["type"] == "training.completed"


# --- a real job and its stream ------------------------------------------------------------


async def test_job_produces_every_event_in_order_then_end() -> None:
    async with running() as (_, session):
        job = await create(
            session, config(maxSteps=12, loggingSteps=4, evalSteps=6, saveSteps=6, seed=1)
        )
        assert job["id"].startswith("job_")
        assert job["status"] in ("queued", "running")
        assert (job["orgId"], job["projectId"], job["name"]) == ("o", "p", "t")
        status, frames = await read_stream(session, job["id"])
        assert status == 200
        info = await get_job(session, job["id"])
    assert frames[-1].event == "end"
    events = [f for f in frames if f.event not in ("ping", "end")]
    ids = [int(f.id or 0) for f in events]
    assert ids == list(range(1, len(events) + 1))
    assert all(f.event == json.loads(f.data)["type"] for f in events)
    types = [f.event for f in events]
    assert types[0] == "training.started"
    assert types[-1] == "training.completed"
    assert types.count("checkpoint.saved") == 2
    logs = [e for e in map(parse_event, events) if isinstance(e, TrainingLog)]
    assert [log.step for log in logs] == [4, 6, 8, 12]
    assert [log.eval_loss is not None for log in logs] == [False, True, False, True]
    for log in logs:
        assert log.loss is not None
        assert log.learning_rate
        assert log.epoch
        assert log.samples_per_second
    saved = [json.loads(f.data) for f in events if f.event == "checkpoint.saved"]
    assert [s["step"] for s in saved] == [6, 12]
    assert all(Path(s["artifacts"][0]["path"]).name == f"step-{s['step']}.npz" for s in saved)
    done = json.loads(events[-1].data)
    assert {"evalLoss", "evalAccuracy"} <= set(done["metrics"])
    assert done["artifacts"][0]["kind"] == "final"
    assert info["job"]["status"] == "completed"
    assert info["job"]["completedAt"]
    assert [e["type"] for e in info["events"]] == types


async def test_stream_resumes_after_last_event_id() -> None:
    async with running() as (_, session):
        job = await create(session, config(maxSteps=10, loggingSteps=2))
        _, full = await read_stream(session, job["id"])
        _, rest = await read_stream(session, job["id"], last_event_id="3")
        _, none = await read_stream(session, job["id"], last_event_id="999")
        _, garbage = await read_stream(session, job["id"], last_event_id="not-an-id")
    full_ids = [f.id for f in full if f.event != "end"]
    assert [f.id for f in rest if f.event != "end"] == full_ids[3:]
    assert [f.event for f in none] == ["end"]
    assert [f.id for f in garbage if f.event != "end"] == full_ids


async def test_pings_while_waiting_and_follow_live() -> None:
    cfg = ServerConfig(token=TOKEN, ping_interval=0.02, step_delay=0.05)
    async with running(cfg) as (_, session):
        job = await create(session, config(maxSteps=6, loggingSteps=1))
        _, frames = await read_stream(session, job["id"])
    names = [f.event for f in frames]
    assert "ping" in names
    assert names[-1] == "end"
    assert names[-2] == "training.completed"


async def test_cancel_stops_within_a_step_and_second_cancel_is_409() -> None:
    cfg = ServerConfig(token=TOKEN, step_delay=0.05)
    async with running(cfg) as (_, session):
        job = await create(session, config(maxSteps=10_000, loggingSteps=1))
        _, first = await read_stream(session, job["id"], limit=2)  # started + first log
        async with session.post(f"/v1/jobs/{job['id']}/cancel", headers=auth()) as resp:
            assert resp.status == 200
            assert (await resp.json())["job"]["status"] == "cancelled"
        async with session.post(f"/v1/jobs/{job['id']}/cancel", headers=auth()) as resp:
            assert resp.status == 409
            assert "cancelled" in (await resp.json())["error"]
        _, frames = await read_stream(session, job["id"])
        async with session.post("/v1/jobs/job_nope/cancel", headers=auth()) as resp:
            assert resp.status == 404
    events = data_frames(frames)
    assert first[0].event == "training.started"
    last = events[-1]
    assert last["type"] == "training.failed"
    assert last["error"] == "cancelled by user"
    last_log = max(e["step"] for e in events if e["type"] == "training.log")
    assert last["step"] in (last_log, last_log + 1)
    assert last["step"] < 100
    assert frames[-1].event == "end"


async def test_two_jobs_train_at_once() -> None:
    cfg = ServerConfig(token=TOKEN, step_delay=0.01, max_concurrent_jobs=2)
    async with running(cfg) as (_, session):
        a = await create(session, config(maxSteps=15, seed=1))
        b = await create(session, config(maxSteps=15, seed=2))
        (_, fa), (_, fb) = await asyncio.gather(
            read_stream(session, a["id"]), read_stream(session, b["id"])
        )
        ja, jb = await get_job(session, a["id"]), await get_job(session, b["id"])
    assert data_frames(fa)[-1]["type"] == data_frames(fb)[-1]["type"] == "training.completed"
    # They overlapped: each started before the other completed.
    assert ja["job"]["startedAt"] < jb["job"]["completedAt"]
    assert jb["job"]["startedAt"] < ja["job"]["completedAt"]
    assert all(e["jobId"] == a["id"] for e in data_frames(fa))


async def test_high_learning_rate_really_diverges() -> None:
    async with running() as (_, session):
        sane = await create(session, config(maxSteps=40, loggingSteps=5, seed=3))
        wild = await create(
            session,
            config(
                maxSteps=40, loggingSteps=5, seed=3, learningRate=0.2, lrSchedulerType="constant"
            ),
        )
        _, sane_frames = await read_stream(session, sane["id"])
        _, wild_frames = await read_stream(session, wild["id"])
    sane_loss = [e["loss"] for e in data_frames(sane_frames) if e["type"] == "training.log"]
    wild_loss = [e["loss"] for e in data_frames(wild_frames) if e["type"] == "training.log"]
    assert sane_loss[-1] < sane_loss[0] < 2.0
    assert not all(math.isfinite(v) for v in wild_loss) or max(wild_loss) > 100 * sane_loss[0]


async def test_dry_run_takes_no_step_and_writes_nothing() -> None:
    async with running() as (_, session):
        job = await create(session, config(dryRun=True))
        _, frames = await read_stream(session, job["id"])
    events = data_frames(frames)
    assert [e["type"] for e in events] == ["training.started", "training.log", "training.completed"]
    assert events[1]["step"] == 0
    assert events[-1]["metrics"]["dryRun"] is True
    assert events[-1]["artifacts"] == []


async def test_client_disconnect_mid_stream_is_quiet() -> None:
    cfg = ServerConfig(token=TOKEN, step_delay=0.02, ping_interval=0.01)
    async with running(cfg) as (server, session):
        job = await create(session, config(maxSteps=30))
        _, frames = await read_stream(session, job["id"], limit=1)
        assert frames
        async with aiohttp.ClientSession(server.url) as other:
            _, more = await read_stream(other, job["id"], limit=1)
        assert more
    # Leaving the context stopped the server with the job still running: no error escaped.


async def test_cancel_a_queued_job_ends_it_at_once() -> None:
    cfg = ServerConfig(token=TOKEN, step_delay=0.05, max_concurrent_jobs=1)
    async with running(cfg) as (_, session):
        busy = await create(session, config(maxSteps=10_000))
        waiting = await create(session, config(maxSteps=5))
        assert (await get_job(session, waiting["id"]))["job"]["status"] == "queued"
        async with session.post(f"/v1/jobs/{waiting['id']}/cancel", headers=auth()) as resp:
            assert (await resp.json())["job"]["status"] == "cancelled"
        _, frames = await read_stream(session, waiting["id"])
        async with session.post(f"/v1/jobs/{busy['id']}/cancel", headers=auth()) as resp:
            assert (await resp.json())["job"]["status"] == "cancelled"
    assert [f.event for f in frames] == ["training.failed", "end"]
    assert json.loads(frames[0].data)["error"] == "cancelled by user"
