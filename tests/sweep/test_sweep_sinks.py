"""Sinks on sweeps and attached jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arkor_rx as ax
from tests.sweep.sweep_fakes import HOLD, FakeJobs, Script, log, losses
from tests.sweep.test_sweep_grid import sweep, threshold_pruner


class Recorder:
    """A sink that keeps what it was given, per job."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.written: dict[str, list[Any]] = {}
        self.closed: dict[str, Any] = {}

    async def open(self, job: ax.TrainingJob) -> None:
        self.opened.append(job.id)

    async def write(self, batch: Sequence[Any]) -> None:
        for item in batch:
            self.written.setdefault(item.job_id, []).append(item)

    async def close(self, outcome: Any) -> None:
        self.closed[outcome.job_id] = outcome


async def test_every_run_of_a_sweep_writes_to_the_sinks(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda n, c: (
        Script([log(1, loss=1.0), log(2, loss=3.0), HOLD]) if c["seed"] else losses([1.0, 1.0])
    )
    sink = Recorder()
    result = await sweep(
        client, runs=[{"seed": 0}, {"seed": 1}], sinks=[sink], pruner=threshold_pruner(2.0, 2)
    ).wait()
    first, second = (r.run.job_id or "" for r in result.runs)
    assert sorted(sink.opened) == sorted([first, second])
    assert sink.closed[first].kind == "completed"
    assert sink.closed[second].kind == "stopped"
    assert sink.closed[second].stop.rule == "prune.fake"
    assert [e.type for e in sink.written[first]][-1] == "training.completed"


async def test_an_attached_job_writes_to_the_sinks(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    jobs.plan = lambda n, c: losses([1.0, 0.5])
    job_id = (
        await client.create_job(
            "theirs", {"model": "m", "datasetSource": {"type": "huggingface", "name": "a/b"}}
        )
    ).id
    sink = Recorder()
    await ax.attach(job_id, client=client, sinks=[sink]).wait()
    assert sink.opened == [job_id]
    assert sink.closed[job_id].kind == "completed"
