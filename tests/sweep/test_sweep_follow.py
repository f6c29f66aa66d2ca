"""Following a sweep: merged events, cancel(), cancelling wait(), per-run rules, callbacks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.events import TrainingCompleted, TrainingLog
from tests.sweep.sweep_fakes import HOLD, FakeJobs, Script, log, losses
from tests.sweep.test_sweep_grid import sweep


async def collect(source: Any) -> list[ax.RunEvent]:
    done: asyncio.Future[list[ax.RunEvent]] = asyncio.get_running_loop().create_future()
    items: list[ax.RunEvent] = []
    source.subscribe(items.append, done.set_exception, lambda: done.set_result(items))
    return await done


async def test_events_merges_every_run_keyed_by_run(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    jobs.plan = lambda name, config: losses([config["seed"] + 0.5, config["seed"] + 0.25])
    s = sweep(client, runs=[{"seed": i} for i in range(3)], max_concurrent=2)
    items = await collect(s.events())
    assert jobs.running_peak <= 2
    assert len(jobs.jobs) == 3
    for index in range(3):
        mine = [i for i in items if i.run.index == index]
        assert [i.event.type for i in mine] == [
            "training.started",
            "training.log",
            "training.log",
            "training.completed",
        ]
        assert [i.event.loss for i in mine if isinstance(i.event, TrainingLog)] == [
            index + 0.5,
            index + 0.25,
        ]
        (job_id,) = {i.run.job_id for i in mine}
        assert job_id is not None
        assert jobs.jobs[job_id].config["seed"] == index
        assert {i.event.job_id for i in mine} == {job_id}
    assert [r.job_id is not None for r in s.runs] == [True] * 3


async def test_events_is_cold_and_shares_the_jobs(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    jobs.plan = lambda name, config: losses([1.0])
    s = sweep(client, runs=[{}, {}])
    first = await collect(s.events())
    second = await collect(s.events())
    assert len(jobs.jobs) == 2  # the second subscription replays the same two jobs
    assert [(i.run, i.event.type) for i in first] == [(i.run, i.event.type) for i in second]
    assert jobs.stream_requests == 4


async def test_events_with_a_pruner_piped_shows_its_decisions(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    from tests.sweep.test_sweep_grid import threshold_pruner

    jobs.plan = lambda name, config: losses([1.0, 3.0 if config["seed"] else 1.0])
    s = sweep(client, runs=[{"seed": 0}, {"seed": 1}])
    decisions = await collect(s.events().pipe(threshold_pruner(2.0, 2)))
    assert [(d.run.index, d.decision.rule) for d in decisions] == [(1, "prune.fake")]  # type: ignore[attr-defined]
    assert jobs.cancels() == {}  # events() decides nothing by itself


async def test_cancel_cancels_every_unfinished_run_once(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda name, config: Script([log(1, loss=1.0), HOLD])
    s = sweep(client, runs=[{"seed": i} for i in range(4)], max_concurrent=2)
    task = asyncio.create_task(s.wait())
    await jobs.created(2)
    await jobs.emitted(2)
    await s.cancel()
    await s.cancel()  # a second call sends nothing
    result = await task
    assert jobs.cancels() == {"j0": 1, "j1": 1}
    assert len(jobs.jobs) == 2  # the two runs not yet started never start
    assert [r.outcome for r in result.runs] == [
        "cancelled",
        "cancelled",
        "not started",
        "not started",
    ]
    assert all(r.stop is None for r in result.runs)


async def test_cancel_skips_runs_a_pruner_already_stopped(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    from tests.sweep.test_sweep_grid import threshold_pruner

    jobs.plan = lambda name, config: Script(
        [log(1), log(2, loss=3.0 if config["seed"] == 0 else 1.0), HOLD]
    )
    s = sweep(client, runs=[{"seed": 0}, {"seed": 1}], pruner=threshold_pruner(2.0, 2))
    task = asyncio.create_task(s.wait())
    await jobs.until(lambda: "j0" in jobs.jobs and jobs.jobs["j0"].terminal)  # pruned
    await s.cancel()
    result = await task
    assert jobs.cancels() == {"j0": 1, "j1": 1}
    assert [r.outcome for r in result.runs] == ["pruned", "cancelled"]


async def test_cancelling_wait_stops_following_and_cancels_nothing(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    gate = asyncio.Event()
    jobs.plan = lambda name, config: Script(
        [log(1, loss=1.0), gate, log(2, loss=0.5), {"type": "training.completed"}]
    )
    s = sweep(client, runs=[{}, {}, {}], max_concurrent=2)
    task = asyncio.create_task(s.wait())
    await jobs.created(2)
    await jobs.emitted(2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert jobs.cancels() == {}
    assert all(not j.terminal for j in jobs.jobs.values())
    assert len(jobs.jobs) == 2
    gate.set()
    result = await s.wait()  # a new wait() resumes the two runs and starts the third
    assert [r.outcome for r in result.runs] == ["completed"] * 3
    assert len(jobs.jobs) == 3


async def test_wait_twice_at_once_is_refused_and_after_the_end_returns_the_same(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    gate = asyncio.Event()
    jobs.plan = lambda name, config: Script([gate, {"type": "training.completed"}])
    s = sweep(client, runs=[{}])
    task = asyncio.create_task(s.wait())
    await jobs.created(1)
    with pytest.raises(RuntimeError, match="already running"):
        await s.wait()
    gate.set()
    result = await task
    assert await s.wait() is result


async def test_per_run_rules_and_callbacks_apply_to_every_run(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    nan = float("nan")
    jobs.plan = lambda name, config: Script(
        [
            log(1, loss=1.0),
            log(2, loss=nan if config["seed"] == 1 else 0.5),
            HOLD if config["seed"] == 1 else {"type": "training.completed"},
        ]
    )
    seen: list[tuple[str, int]] = []

    def on_log(ctx: ax.LogContext) -> None:
        seen.append((ctx.job.id, ctx.step))

    s = sweep(
        client,
        runs=[{"seed": 0}, {"seed": 1}],
        max_concurrent=1,
        early_stopping=aop.non_finite("loss"),
        callbacks={"on_log": on_log},
    )
    result = await s.wait()
    assert [r.outcome for r in result.runs] == ["completed", "stopped"]
    stop = result.runs[1].stop
    assert stop is not None
    assert stop.rule == "non_finite"
    assert jobs.cancels() == {"j1": 1}
    assert seen == [("j0", 1), ("j0", 2), ("j1", 1), ("j1", 2)]
    assert isinstance(result.runs[0].result.terminal_event, TrainingCompleted)  # type: ignore[union-attr]


async def test_the_client_is_closed_only_when_the_sweep_made_it(
    monkeypatch: pytest.MonkeyPatch, jobs: FakeJobs
) -> None:
    from tests.sweep.sweep_fakes import ORG, PROJECT, TOKEN

    for key, value in {
        "ARKOR_CLOUD_API_URL": jobs.url,
        "ARKOR_TOKEN": TOKEN,
        "ARKOR_ORG_SLUG": ORG,
        "ARKOR_PROJECT_SLUG": PROJECT,
    }.items():
        monkeypatch.setenv(key, value)
    jobs.plan = lambda name, config: losses([1.0])
    async with ax.create_sweep(
        name="s", model="m", dataset={"type": "huggingface", "name": "a/b"}, runs=[{}]
    ) as s:
        assert (await s.wait()).runs[0].outcome == "completed"
        assert s.client.base_url == jobs.url
