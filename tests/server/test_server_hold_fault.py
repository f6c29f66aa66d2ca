"""``FaultConfig.hold_at_step``: a job waits before step N until it is cancelled.

It is how a test makes "the stop ends ``cancelled``" hold on a loaded machine
as on an idle one: the job cannot complete, however late the cancel comes.
"""

from __future__ import annotations

import pytest

from arkor_rx.errors import ConfigError
from arkor_rx.server import CANCELLED_ERROR, FaultConfig, ServerConfig
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


def holding(step: int) -> ServerConfig:
    return ServerConfig(token=TOKEN, faults=FaultConfig(hold_at_step=step))


async def test_a_held_job_streams_the_steps_before_the_hold_and_ends_cancelled() -> None:
    async with running(holding(4)) as (_, session):
        job = await create(session, config(maxSteps=6, loggingSteps=1))
        # Wait (on events) for the log of step 3: all the job sends before it holds.
        seen: list[int] = []
        while 3 not in seen:  # a ping may end a read early: read again from the start
            _, first = await read_stream(session, job["id"], limit=4)
            seen = steps_of(data_frames(first), "training.log")
        held = await get_job(session, job["id"])
        async with session.post(f"/v1/jobs/{job['id']}/cancel", headers=auth()) as resp:
            assert resp.status == 200
        _, frames = await read_stream(session, job["id"])
        body = await get_job(session, job["id"])

    assert seen == [1, 2, 3]
    assert held["job"]["status"] == "running"  # still waiting at step 4
    events = data_frames(frames)
    assert steps_of(events, "training.log") == [1, 2, 3]  # nothing from step 4 on
    assert [e["type"] for e in events][-1] == "training.failed"
    assert events[-1]["error"] == CANCELLED_ERROR
    assert events[-1]["step"] == 3
    assert body["job"]["status"] == "cancelled"


async def test_a_run_shorter_than_the_hold_completes() -> None:
    async with running(holding(10)) as (_, session):
        job = await create(session, config(maxSteps=5, loggingSteps=1))
        _, frames = await read_stream(session, job["id"])
        body = await get_job(session, job["id"])
    assert data_frames(frames)[-1]["type"] == "training.completed"
    assert body["job"]["status"] == "completed"


async def test_stopping_the_server_releases_a_held_job() -> None:
    async with running(holding(2)) as (_, session):
        job = await create(session, config(maxSteps=5, loggingSteps=1))
        seen: list[int] = []
        while 1 not in seen:  # the log of step 1: now it holds before step 2
            _, frames = await read_stream(session, job["id"], limit=2)
            seen = steps_of(data_frames(frames), "training.log")
    # leaving `running` stopped the server: it did not wait forever for the held job


@pytest.mark.parametrize("bad", [0, -1])
def test_hold_at_step_below_1_is_a_config_error(bad: int) -> None:
    with pytest.raises(ConfigError, match="hold_at_step must be at least 1"):
        FaultConfig(hold_at_step=bad)
