"""Inference, persistence across restarts, fault injection, the demo data, the trainer."""

from __future__ import annotations

import functools
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arkor_rx.errors import DatasetError
from arkor_rx.events import parse_event
from arkor_rx.jobs import BlobDataset, JobConfig
from arkor_rx.server import FaultConfig, ServerConfig
from arkor_rx.server.datasets import load_dataset
from arkor_rx.server.demo_data import generate_jsonl
from arkor_rx.server.runner import JobRun
from arkor_rx.server.store import INTERRUPTED_ERROR, JobRecord, JobStore
from arkor_rx.server.training import TrainingPlan, learning_rate_at
from arkor_rx.sse import SSEDecoder
from tests.server.server_helpers import (
    TOKEN,
    auth,
    config,
    create,
    data_frames,
    get_job,
    read_stream,
    running,
)

# --- inference ---------------------------------------------------------------------


def _chat(job_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "triage"},
            {"role": "user", "content": "I was charged twice for my Pro subscription."},
        ],
        "adapter": {"kind": "final", "jobId": job_id},
    }
    body.update(extra)
    return body


async def test_inference_json_stream_choice_max_tokens_and_404s() -> None:
    async with running() as (_, session):
        job = await create(session, config(maxSteps=60, saveSteps=30, seed=5))
        await read_stream(session, job["id"])
        jid = job["id"]

        async with session.post(
            "/v1/inference/chat", json=_chat(jid, stream=False), headers=auth()
        ) as resp:
            assert resp.status == 200
            body = await resp.json()
        message = body["choices"][0]["message"]
        assert message["role"] == "assistant"
        assert message["content"] == "billing"

        async with session.post("/v1/inference/chat", json=_chat(jid), headers=auth()) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/event-stream"
            frames = SSEDecoder().feed(await resp.read())
        assert frames[-1].data == "[DONE]"
        deltas = [json.loads(f.data)["choices"][0]["delta"]["content"] for f in frames[:-1]]
        assert "".join(deltas) == "billing"

        refund = _chat(jid, stream=False, adapter={"kind": "checkpoint", "jobId": jid, "step": 30})
        refund["messages"][-1]["content"] = "Please refund the $49 I paid, my account is locked"
        refund["structuredOutputs"] = {"choice": ["account access", "refund request"]}
        async with session.post("/v1/inference/chat", json=refund, headers=auth()) as resp:
            content = (await resp.json())["choices"][0]["message"]["content"]
        assert content in ("account access", "refund request")
        refund["maxTokens"] = 1
        async with session.post("/v1/inference/chat", json=refund, headers=auth()) as resp:
            choice = (await resp.json())["choices"][0]
        assert choice["message"]["content"] == content.split()[0]
        assert choice["finish_reason"] == "length"

        for adapter in (
            {"kind": "final", "jobId": "job_missing"},
            {"kind": "checkpoint", "jobId": jid, "step": 7},
        ):
            async with session.post(
                "/v1/inference/chat", json=_chat(jid, adapter=adapter), headers=auth()
            ) as resp:
                assert resp.status == 404
                assert (await resp.json())["error"]
        async with session.post(
            "/v1/inference/chat", json=_chat(jid, maxTokens=0), headers=auth()
        ) as resp:
            assert resp.status == 400
            assert "maxTokens" in (await resp.json())["error"]


# --- persistence -------------------------------------------------------------------------


async def test_jobs_and_events_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with running(ServerConfig(token=TOKEN, data_dir=data_dir)) as (_, session):
        done = await create(session, config(maxSteps=10, saveSteps=5))
        _, before = await read_stream(session, done["id"])
    async with running(ServerConfig(token=TOKEN, data_dir=data_dir, step_delay=0.05)) as (
        _,
        session,
    ):
        _, after = await read_stream(session, done["id"])
        assert [(f.id, f.event, f.data) for f in after] == [(f.id, f.event, f.data) for f in before]
        assert (data_dir / "jobs" / done["id"] / "checkpoints" / "step-5.npz").is_file()
        async with session.post(
            "/v1/inference/chat", json=_chat(done["id"], stream=False), headers=auth()
        ) as resp:
            assert resp.status == 200
        running_job = await create(session, config(maxSteps=10_000))
        await read_stream(session, running_job["id"], limit=1)
    # The server stopped with that job running: it is failed, never lost.
    async with running(ServerConfig(token=TOKEN, data_dir=data_dir)) as (_, session):
        info = await get_job(session, running_job["id"])
        _, frames = await read_stream(session, running_job["id"])
    assert info["job"]["status"] == "failed"
    assert "server stopped" in info["job"]["error"]
    assert data_frames(frames)[-1]["type"] == "training.failed"
    assert frames[-1].event == "end"


async def test_job_left_running_by_a_crash_is_failed_at_start(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "arkor-rx.sqlite3")
    store.create(JobRecord(id="job_crashed", name="x", config={}, status="running"))
    store.append("job_crashed", "training.started", '{"type":"training.started"}')
    store.close()
    async with running(ServerConfig(token=TOKEN, data_dir=tmp_path)) as (_, session):
        info = await get_job(session, "job_crashed")
        _, frames = await read_stream(session, "job_crashed", last_event_id="1")
    assert info["job"]["status"] == "failed"
    assert info["job"]["error"] == INTERRUPTED_ERROR
    assert [f.event for f in frames] == ["training.failed", "end"]
    assert frames[0].id == "2"
    with sqlite3.connect(tmp_path / "arkor-rx.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)


# --- fault injection ------------------------------------------------------------------------


async def test_fault_drop_after_n_events_then_resume() -> None:
    cfg = ServerConfig(token=TOKEN, faults=FaultConfig(drop_after_events=2))
    async with running(cfg) as (_, session):
        job = await create(session, config(maxSteps=10, loggingSteps=2))
        await read_stream(session, job["id"], last_event_id="999")  # waits for the end
        seen: list[str] = []
        last = None
        for _ in range(20):
            _, frames = await read_stream(session, job["id"], last_event_id=last)
            seen += [f.id for f in frames if f.id and f.event != "end"]
            if frames and frames[-1].event == "end":
                break
            assert len(frames) == 2
            last = frames[-1].id
    assert seen == [str(i) for i in range(1, len(seen) + 1)]
    assert len(seen) == 7


async def test_fault_garbage_frames_are_interleaved_and_carry_nothing() -> None:
    cfg = ServerConfig(token=TOKEN, faults=FaultConfig(garbage_every=1))
    async with running(cfg) as (_, session):
        job = await create(session, config(maxSteps=10, loggingSteps=5))
        _, frames = await read_stream(session, job["id"])
    events = [parse_event(f) for f in frames]
    real = [e for e in events if e is not None]
    assert [e.type for e in real] == [
        "training.started",
        "training.log",
        "training.log",
        "training.completed",
    ]
    assert [e.event_id for e in real] == ["1", "2", "3", "4"]
    garbage = [f for f, e in zip(frames, events, strict=True) if e is None and f.event != "end"]
    assert len(garbage) >= 3  # one before each event (comments dispatch nothing)


async def test_fault_fail_first_opens() -> None:
    cfg = ServerConfig(token=TOKEN, faults=FaultConfig(fail_first_opens=2, fail_status=503))
    async with running(cfg) as (_, session):
        job = await create(session, config(maxSteps=5))
        assert (await read_stream(session, job["id"]))[0] == 503
        assert (await read_stream(session, job["id"]))[0] == 503
        status, frames = await read_stream(session, job["id"])
    assert status == 200
    assert frames[-1].event == "end"


async def test_fault_frame_delay_slows_frames() -> None:
    cfg = ServerConfig(token=TOKEN, faults=FaultConfig(frame_delay=0.03))
    async with running(cfg) as (_, session):
        job = await create(session, config(maxSteps=10, loggingSteps=5))
        await read_stream(session, job["id"], last_event_id="999")
        loop = __import__("asyncio").get_running_loop()
        start = loop.time()
        _, frames = await read_stream(session, job["id"])
        elapsed = loop.time() - start
    events = [f for f in frames if f.event != "end"]
    assert elapsed >= 0.03 * len(events) * 0.9


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValueError, match="fail_status"):
        FaultConfig(fail_status=200)
    with pytest.raises(ValueError, match="drop_after_events"):
        FaultConfig(drop_after_events=0)


# --- data and trainer -------------------------------------------------------------------


def test_committed_demo_data_is_the_generator_output() -> None:
    path = Path(__file__).parents[2] / "arkor_rx" / "server" / "data" / "triage-demo.jsonl"
    assert path.read_text(encoding="utf-8") == generate_jsonl()
    assert generate_jsonl(seed=1, count=10) != generate_jsonl(seed=2, count=10)
    assert all("synthetic" in json.loads(line)["source"] for line in path.read_text().splitlines())


def test_schedules_and_warmup() -> None:
    lin = [learning_rate_at(s, base=1.0, warmup=0, total=4, kind="linear") for s in range(1, 5)]
    cos = [learning_rate_at(s, base=1.0, warmup=0, total=4, kind="cosine") for s in range(1, 5)]
    const = [learning_rate_at(s, base=1.0, warmup=2, total=4, kind="constant") for s in range(1, 5)]
    assert lin == [1.0, 0.75, 0.5, 0.25]
    assert cos[0] == 1.0
    assert cos[1] > 0.75
    assert cos[3] < 0.25
    assert const == [0.5, 1.0, 1.0, 1.0]


async def test_same_seed_same_run_and_lora_rank_matters() -> None:
    async with running() as (_, session):
        jobs = [
            await create(session, config(maxSteps=30, loggingSteps=10, seed=s, loraR=r))
            for s, r in [(7, 16), (7, 16), (8, 16), (7, 1)]
        ]
        losses = []
        for job in jobs:
            _, frames = await read_stream(session, job["id"])
            losses.append([e["loss"] for e in data_frames(frames) if e["type"] == "training.log"])
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]
    assert losses[0] != losses[3]


def test_unreadable_dataset_at_run_time_fails_the_job(tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n")
    cfg = JobConfig.build(model="arkor/tiny", datasetSource={"type": "blob", "url": path.as_uri()})
    load_dataset(BlobDataset(url=path.as_uri()), roots=[tmp_path])  # valid when created
    path.write_text("garbage\n")  # ... and broken by the time it runs
    store = JobStore()
    store.create(JobRecord(id="job_1", name="x", config={}))
    run = JobRun(
        store=store,
        job_id="job_1",
        config=cfg,
        plan=TrainingPlan.from_config(cfg),
        checkpoint_dir=tmp_path / "ck",
        notify=lambda: None,
        read_dataset=functools.partial(load_dataset, roots=[tmp_path]),
    )
    run.run()
    job = store.get("job_1")
    assert job is not None
    assert job.status == "failed"
    assert "line 1" in (job.error or "")
    [event] = store.events_after("job_1", 0)
    assert event.type == "training.failed"
    with pytest.raises(DatasetError):
        load_dataset(BlobDataset(url=path.as_uri()), roots=[tmp_path])


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    from arkor_rx.server.training import Adapter, load_adapter

    rng = np.random.default_rng(0)
    adapter = Adapter(
        "arkor/tiny",
        ("a", "b"),
        rng.normal(size=(4096, 2)),
        rng.normal(size=(2, 2)),
        np.zeros(2),
        1.0,
        step=3,
    )
    adapter.save(tmp_path / "x.npz")
    back = load_adapter(tmp_path / "x.npz")
    assert back.labels == ("a", "b")
    assert back.step == 3
    assert back.predict("hello") == adapter.predict("hello")
