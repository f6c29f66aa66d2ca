"""``FaultConfig.fail_at_step``: the local backend fails a run at step N like a real failure.

What a failed run must look like (PROTOCOL.md): the stream's last event is
``training.failed`` (then ``event: end``), the job's status is ``failed`` with
the same error, and what the run emitted before the failure stays.
"""

from __future__ import annotations

import json

import pytest

from arkor_rx.errors import ConfigError
from arkor_rx.server import FaultConfig, ServerConfig
from tests.server.server_helpers import (
    TOKEN,
    auth,
    config,
    create,
    data_frames,
    get_job,
    read_stream,
    running,
    steps_of,
)


def failing(step: int) -> ServerConfig:
    return ServerConfig(token=TOKEN, faults=FaultConfig(fail_at_step=step))


async def test_job_fails_at_the_injected_step_and_the_stream_ends_with_training_failed() -> None:
    async with running(failing(5)) as (_, session):
        job = await create(session, config(maxSteps=20, loggingSteps=1, saveSteps=2))
        status, frames = await read_stream(session, job["id"])
        body = await get_job(session, job["id"])

        # the checkpoints saved before the failure stay usable
        chat = {
            "messages": [{"role": "user", "content": "I was charged twice."}],
            "adapter": {"kind": "checkpoint", "jobId": job["id"], "step": 4},
            "stream": False,
        }
        async with session.post("/v1/inference/chat", json=chat, headers=auth()) as resp:
            assert resp.status == 200, await resp.text()

    assert status == 200
    assert [f.event for f in frames[-2:]] == ["training.failed", "end"]
    events = data_frames(frames)
    assert events[0]["type"] == "training.started"
    assert steps_of(events, "training.log") == [1, 2, 3, 4]  # nothing from step 5 on
    assert steps_of(events, "checkpoint.saved") == [2, 4]
    assert [e["type"] for e in events].count("training.failed") == 1
    assert "training.completed" not in [e["type"] for e in events]
    failed = events[-1]
    assert failed["type"] == "training.failed"
    assert failed["step"] == 5
    assert "injected fault" in failed["error"]
    assert "step 5" in failed["error"]

    assert body["job"]["status"] == "failed"
    assert body["job"]["error"] == failed["error"]
    assert body["job"]["completedAt"]
    assert json.dumps(body["events"][-1], sort_keys=True) == json.dumps(failed, sort_keys=True)


async def test_fail_at_step_1_fails_before_any_training() -> None:
    async with running(failing(1)) as (_, session):
        job = await create(session, config(maxSteps=20, loggingSteps=1))
        _, frames = await read_stream(session, job["id"])
        body = await get_job(session, job["id"])
    events = data_frames(frames)
    assert [e["type"] for e in events] == ["training.started", "training.failed"]
    assert events[-1]["step"] == 1
    assert frames[-1].event == "end"
    assert body["job"]["status"] == "failed"


async def test_every_job_fails_and_a_shorter_run_completes() -> None:
    async with running(failing(8)) as (_, session):
        first = await create(session, config(maxSteps=10, loggingSteps=5))
        short = await create(session, config(maxSteps=7, loggingSteps=7))
        _, first_frames = await read_stream(session, first["id"])
        _, short_frames = await read_stream(session, short["id"])
        first_job = (await get_job(session, first["id"]))["job"]
        short_job = (await get_job(session, short["id"]))["job"]
    assert data_frames(first_frames)[-1]["type"] == "training.failed"
    assert data_frames(first_frames)[-1]["step"] == 8
    assert first_job["status"] == "failed"
    assert data_frames(short_frames)[-1]["type"] == "training.completed"
    assert short_job["status"] == "completed"


async def test_cancel_before_the_fault_is_still_a_cancel() -> None:
    # a cancel wins over a fault that has not fired yet: status cancelled, not failed
    # (the job holds at the fault's step until the cancel comes, however late it is)
    cfg = ServerConfig(token=TOKEN, faults=FaultConfig(fail_at_step=3000, hold_at_step=3000))
    async with running(cfg) as (_, session):
        job = await create(session, config(maxSteps=4000, loggingSteps=1))
        _, first = await read_stream(session, job["id"], limit=2)  # training has begun
        async with session.post(f"/v1/jobs/{job['id']}/cancel", headers=auth()) as resp:
            assert resp.status == 200
        _, frames = await read_stream(session, job["id"])
        body = await get_job(session, job["id"])
    assert len(first) >= 2  # one read may carry more frames than the limit
    assert body["job"]["status"] == "cancelled"
    assert "injected" not in data_frames(frames)[-1]["error"]


@pytest.mark.parametrize("bad", [0, -1])
def test_fail_at_step_below_1_is_a_config_error(bad: int) -> None:
    with pytest.raises(ConfigError, match="fail_at_step must be at least 1"):
        FaultConfig(fail_at_step=bad)


def test_fail_at_step_is_an_active_fault() -> None:
    assert FaultConfig(fail_at_step=3).active
    assert not FaultConfig().active
