"""The multi-job server: a FIFO queue of --max-concurrent-jobs workers, and GET /v1/jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from arkor_rx.server import FaultConfig, LocalServer, ServerConfig, ServerLimits
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


async def _jobs(session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with session.get("/v1/jobs", headers=auth(), params={"orgSlug": "o"}) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
    assert set(body) == {"jobs"}
    jobs: list[dict[str, Any]] = body["jobs"]
    return jobs


async def _cancel(session: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    async with session.post(f"/v1/jobs/{job_id}/cancel", headers=auth()) as resp:
        assert resp.status == 200
        job: dict[str, Any] = (await resp.json())["job"]
        return job


async def test_jobs_beyond_the_limit_queue_and_start_in_submission_order() -> None:
    server = LocalServer(ServerConfig(token=TOKEN, step_delay=0.02), max_concurrent_jobs=1)
    async with server, aiohttp.ClientSession(server.url) as session:
        busy = await create(session, config(maxSteps=10_000, loggingSteps=1), name="busy")
        await read_stream(session, busy["id"], limit=1)  # it holds the only worker now
        second = await create(session, config(maxSteps=3), name="second")
        skipped = await create(session, config(maxSteps=3), name="skipped")
        third = await create(session, config(maxSteps=3), name="third")

        listed = await _jobs(session)
        assert [j["name"] for j in listed] == ["third", "skipped", "second", "busy"]
        assert [j["status"] for j in listed] == ["queued", "queued", "queued", "running"]

        assert (await _cancel(session, skipped["id"]))["status"] == "cancelled"
        assert (await _cancel(session, busy["id"]))["status"] == "cancelled"
        _, third_frames = await read_stream(session, third["id"])
        _, second_frames = await read_stream(session, second["id"])
        _, skipped_frames = await read_stream(session, skipped["id"])
        jobs = {j["name"]: j for j in await _jobs(session)}

    assert data_frames(third_frames)[-1]["type"] == "training.completed"
    assert data_frames(second_frames)[-1]["type"] == "training.completed"
    # One worker, first come first served: second ran to the end before third began.
    assert jobs["busy"]["completedAt"] <= jobs["second"]["startedAt"]
    assert jobs["second"]["completedAt"] <= jobs["third"]["startedAt"]
    # The job cancelled while queued never started.
    assert jobs["skipped"]["startedAt"] is None
    assert jobs["skipped"]["status"] == "cancelled"
    assert [f.event for f in skipped_frames] == ["training.failed", "end"]


async def test_list_is_newest_first_and_empty_at_start(tmp_path: Any) -> None:
    cfg = ServerConfig(token=TOKEN, data_dir=tmp_path)
    async with LocalServer(cfg) as server, aiohttp.ClientSession(server.url) as session:
        assert await _jobs(session) == []
        ids = [(await create(session, config(maxSteps=2), name=f"j{i}"))["id"] for i in range(3)]
        for job_id in ids:
            await read_stream(session, job_id)
        assert [j["id"] for j in await _jobs(session)] == ids[::-1]
    # A restarted server lists them in the same order (from SQLite).
    async with LocalServer(cfg) as server, aiohttp.ClientSession(server.url) as session:
        listed = await _jobs(session)
    assert [j["id"] for j in listed] == ids[::-1]
    assert {j["status"] for j in listed} == {"completed"}


def test_default_concurrency_is_the_cpu_count() -> None:
    import os

    assert ServerConfig().max_concurrent_jobs == (os.cpu_count() or 1)


async def test_get_job_carries_the_latest_events_capped(monkeypatch: Any) -> None:
    from arkor_rx.server import routes

    monkeypatch.setattr(routes, "MAX_JOB_EVENTS", 5)
    async with running() as (_, session):
        job = await create(session, config(maxSteps=10, loggingSteps=1))
        _, frames = await read_stream(session, job["id"])
        info = await get_job(session, job["id"])
    ids = [f.id for f in frames if f.event != "end"]
    assert len(ids) == 12  # started, 10 logs, completed
    assert info["eventsOmitted"] == 7
    assert [e["type"] for e in info["events"]][-1] == "training.completed"
    assert len(info["events"]) == 5
    assert [e["step"] for e in info["events"][:-1]] == [7, 8, 9, 10]


def _records(path: Path, n: int) -> None:
    with path.open("w") as file:
        for i in range(n):
            reply = "yes" if i % 2 else "no"
            messages = [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": reply},
            ]
            file.write(json.dumps({"messages": messages}) + "\n")


async def test_a_queued_job_reads_its_dataset_again_under_the_same_limits(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    _records(data, 8)
    server = LocalServer(
        ServerConfig(
            token=TOKEN,
            dataset_roots=(tmp_path,),
            limits=ServerLimits(max_records=8),
            faults=FaultConfig(hold_at_step=2),  # busy holds the only worker until cancelled
        ),
        max_concurrent_jobs=1,
    )
    blob = {"type": "blob", "url": data.as_uri()}
    async with server, aiohttp.ClientSession(server.url) as session:
        busy = await create(session, config(datasetSource=blob, loggingSteps=1), name="busy")
        await read_stream(session, busy["id"], limit=1)  # it holds the only worker now
        queued = await create(session, config(datasetSource=blob, maxSteps=1), name="queued")
        _records(data, 9)  # the dataset grows past the limit before the queued job starts
        await _cancel(session, busy["id"])
        _, frames = await read_stream(session, queued["id"])
        job = await get_job(session, queued["id"])
    [failed] = data_frames(frames)
    assert failed["type"] == "training.failed"
    assert "has 9 records" in failed["error"]
    assert "at most 8" in failed["error"]
    assert job["job"]["status"] == "failed"
