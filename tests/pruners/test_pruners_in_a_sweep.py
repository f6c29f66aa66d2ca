"""The pruners inside a real sweep (create_sweep on the scripted multi-job backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import arkor_rx as ax
from arkor_rx import operators as aop
from tests.sweep.sweep_fakes import HOLD, FakeJobs, Script, fake_jobs, losses

LOSSES = {
    0.1: [1.0, 0.5, 0.4],
    0.2: [1.0, 0.6, 0.3],
    0.3: [1.0, 3.0],  # then holds: the cancel reaches a running job
    0.4: [1.0, 0.5, 0.35],
}


@pytest.fixture
async def jobs() -> AsyncIterator[FakeJobs]:
    async for value in fake_jobs():
        yield value


def plan(name: str, config: dict[str, Any]) -> Script:
    lr = config["learningRate"]
    if lr == 0.3:
        return Script([*losses(LOSSES[lr]).items[:-1], HOLD])
    return losses(LOSSES[lr])


async def test_a_median_pruned_run_is_cancelled_once_with_the_comparison(jobs: FakeJobs) -> None:
    jobs.plan = plan
    async with jobs.client() as client:
        sweep = ax.create_sweep(
            name="s",
            model="m",
            dataset={"type": "huggingface", "name": "a/b"},
            grid={"learning_rate": list(LOSSES)},
            max_concurrent=1,  # one after the other: runs 0 and 1 complete first
            pruner=aop.median_pruner("loss", n_startup_runs=2),
            client=client,
            reconnect=ax.ReconnectPolicy.immediate(max_attempts=2),
        )
        result = await sweep.wait()
    assert [r.outcome for r in result.runs] == ["completed", "completed", "pruned", "completed"]
    pruned = result.runs[2]
    assert jobs.cancels() == {pruned.run.job_id: 1}
    assert pruned.stop is not None
    assert pruned.stop.rule == "prune.median"
    assert (pruned.stop.step, pruned.stop.value, pruned.stop.monitor) == (2, 3.0, "loss")
    assert pruned.stop.reason == (
        "the best loss 1 (step 1) up to step 2 is worse than the median 0.55 "
        "of 2 completed runs at step 2"
    )
