"""create_sweep over a grid or a list of runs, against the scripted multi-job backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from reactivex import Observable
from reactivex import operators as ops

import arkor_rx as ax
from arkor_rx.errors import CloudApiError, ConfigError
from arkor_rx.events import TrainingLog
from tests.sweep.sweep_fakes import HOLD, FakeJobs, Script, completed, log, losses

DATASET = {"type": "huggingface", "name": "a/b"}


def sweep(client: ax.ArkorClient, **kwargs: Any) -> ax.Sweep:
    kwargs.setdefault("name", "s")
    kwargs.setdefault("model", "m")
    kwargs.setdefault("dataset", DATASET)
    kwargs.setdefault("reconnect", ax.ReconnectPolicy.immediate(max_attempts=2))
    return ax.create_sweep(client=client, **kwargs)


def by_lr(table: dict[float, list[float]], **ends: str) -> Any:
    """A plan: the job whose learningRate is a key logs those losses."""

    def plan(name: str, config: dict[str, Any]) -> Script:
        lr = config["learningRate"]
        return losses(table[lr], end=ends.get(str(lr), "completed"))

    return plan


def threshold_pruner(limit: float, at_step: int) -> ax.sweep.Pruner:
    """A fake cross-run pruner: prune every run whose loss at ``at_step`` is above ``limit``."""

    def pruner(source: Observable[ax.RunEvent]) -> Observable[ax.PruneDecision]:
        def hit(item: ax.RunEvent) -> bool:
            e = item.event
            return isinstance(e, TrainingLog) and e.step == at_step and (e.loss or 0) > limit

        def decide(item: ax.RunEvent) -> ax.PruneDecision:
            e = item.event
            assert isinstance(e, TrainingLog)
            reason = f"loss {e.loss} at step {e.step} is above {limit}"
            return ax.PruneDecision(
                item.run, ax.StopDecision("prune.fake", reason, step=e.step, value=e.loss)
            )

        return source.pipe(ops.filter(hit), ops.map(decide))

    pruner.monitor = "loss"  # type: ignore[attr-defined]
    return pruner


async def test_grid_is_the_cartesian_product_in_order(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    s = sweep(client, max_steps=5, grid={"learning_rate": [0.1, 0.2, 0.3], "lora_r": [4, 8]})
    assert [r.config for r in s.runs] == [
        {"learning_rate": lr, "lora_r": r} for lr in (0.1, 0.2, 0.3) for r in (4, 8)
    ]
    assert s.runs[1].name == "s-1 (learning_rate=0.1, lora_r=8)"
    assert all(r.job_id is None for r in s.runs)
    result = await s.wait()
    assert len(jobs.jobs) == 6
    sent = [(j.name, j.config) for j in (jobs.jobs[i] for i in jobs.order)]
    assert sent[1] == (
        "s-1 (learning_rate=0.1, lora_r=8)",
        {"model": "m", "datasetSource": DATASET, "maxSteps": 5, "learningRate": 0.1, "loraR": 8},
    )
    assert [r.outcome for r in result.runs] == ["completed"] * 6
    assert sorted(r.run.job_id for r in result.runs if r.run.job_id) == sorted(jobs.jobs)


async def test_at_most_max_concurrent_jobs_run_at_a_time(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda name, config: losses([1.0, 0.9, 0.8])
    s = sweep(client, runs=[{"seed": i} for i in range(5)], max_concurrent=2)
    result = await s.wait()
    assert jobs.running_peak == 2
    assert [r.outcome for r in result.runs] == ["completed"] * 5


async def test_runs_override_the_shared_config(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    s = sweep(client, learning_rate=0.1, runs=[{}, {"learning_rate": 0.5}])
    await s.wait()
    assert [jobs.jobs[i].config["learningRate"] for i in jobs.order] == [0.1, 0.5]


async def test_best_is_the_best_final_value_among_completed_runs(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = by_lr(
        {
            0.1: [2.0, 1.5, 1.2],  # final 1.2
            0.2: [2.0, 0.5, 0.9],  # best 0.5 but final 0.9: still the best final value
            0.3: [2.0, 0.1],  # failed: never the best
            0.4: [2.0, 0.95],
        },
        **{"0.3": "failed"},
    )
    result = await sweep(
        client, grid={"learning_rate": [0.1, 0.2, 0.3, 0.4]}, monitor="loss"
    ).wait()
    assert result.best is not None
    assert result.best.config == {"learning_rate": 0.2}
    assert (result.best.value, result.best.value_step) == (0.9, 3)
    assert (result.best.best_value, result.best.best_step) == (0.5, 2)
    assert [r.outcome for r in result.runs] == ["completed", "completed", "failed", "completed"]
    rows = result.table()
    assert isinstance(rows, list)
    assert len(rows) == 4
    assert rows[1] == {
        "run": 1,
        "learning_rate": 0.2,
        "job": result.runs[1].run.job_id,
        "outcome": "completed",
        "best": True,
        "step": 3,
        "loss": 0.9,
        "best loss": 0.5,
        "reason": None,
    }
    assert rows[2]["reason"] == "OOM"
    text = str(rows)
    assert text.splitlines()[0].split() == [
        "run",
        "learning_rate",
        "job",
        "outcome",
        "best",
        "step",
        "loss",
        "best",
        "loss",
        "reason",
    ]
    assert "yes" in text.splitlines()[2]
    assert "OOM" in text.splitlines()[3]


async def test_max_mode_and_no_monitor(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    jobs.plan = by_lr({0.1: [0.3], 0.2: [0.7]})
    grid = {"learning_rate": [0.1, 0.2]}
    best = (await sweep(client, grid=grid, monitor="loss", mode="max").wait()).best
    assert best is not None
    assert best.config == {"learning_rate": 0.2}
    plain = await sweep(client, grid=grid).wait()
    assert plain.best is None
    assert "loss" not in plain.table().columns


async def test_a_failing_run_does_not_stop_the_others(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = by_lr({0.1: [1.0], 0.2: [1.0], 0.3: [1.0]}, **{"0.2": "failed"})
    jobs.fail_create = lambda name, config: 400 if config["learningRate"] == 0.3 else None
    result = await sweep(client, grid={"learning_rate": [0.1, 0.2, 0.3]}, max_concurrent=1).wait()
    assert [r.outcome for r in result.runs] == ["completed", "failed", "error"]
    error = result.runs[2].error
    assert isinstance(error, CloudApiError)
    assert error.status == 400
    assert result.runs[2].run.job_id is None
    assert "CloudApiError" in result.table()[2]["reason"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"grid": {"learning_rat": [0.1]}},
            "unknown knob 'learning_rat'; did you mean 'learning_rate'",
        ),
        ({"grid": {"learning_rate": []}}, "grid['learning_rate'] is an empty list"),
        ({"grid": {"learning_rate": 0.1}}, "grid['learning_rate'] must be a list"),
        ({"grid": {}}, "grid must be a non-empty dict"),
        (
            {"grid": {"learning_rate": [0.1, -1.0]}},
            "run 1 (learning_rate=-1.0): invalid job config: learning_rate",
        ),
        ({"grid": {"lora_r": [8, "16"]}}, "run 1 (lora_r=16): invalid job config: lora_r"),
        (
            {"grid": {"max_steps": [5]}, "max_steps": 5},
            "max_steps is also set in the shared config",
        ),
        ({"runs": []}, "runs must be a non-empty list"),
        ({"runs": [{"lr": 1}]}, "runs[0]: unknown knob 'lr'"),
        (
            {"runs": [{}], "grid": {"seed": [1]}},
            "exactly one of grid=, runs= or study= (got grid and runs)",
        ),
        ({}, "exactly one of grid=, runs= or study= (got none)"),
        ({"runs": [{}], "lr": 0.1}, "create_sweep: unknown knob 'lr'"),
        ({"runs": [{}], "max_concurrent": 0}, "max_concurrent must be >= 1"),
        ({"runs": [{}], "monitor": "los"}, "los"),
        ({"runs": [{}], "n_runs": 3}, "space= and n_runs= go with study="),
        ({"runs": [{}], "early_stopping": [1]}, "early_stopping"),
    ],
)
async def test_a_bad_sweep_is_a_config_error_before_anything_is_sent(
    jobs: FakeJobs, client: ax.ArkorClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        sweep(client, **kwargs)
    assert message in str(info.value)
    assert jobs.create_requests == 0


async def test_model_and_dataset_are_required(client: ax.ArkorClient) -> None:
    with pytest.raises(ConfigError, match="run 0: dataset must be set"):
        ax.create_sweep(name="s", model="m", runs=[{}], client=client)
    s = ax.create_sweep(name="s", dataset=DATASET, grid={"model": ["a", "b"]}, client=client)
    assert [r.config for r in s.runs] == [{"model": "a"}, {"model": "b"}]


async def test_a_pruned_run_is_cancelled_once_and_its_stop_is_the_decision(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = by_lr({0.1: [1.0, 0.5, 0.4], 0.2: [1.0, 3.0, 0.2], 0.3: [1.0, 0.6, 0.3]})
    # The run of 0.2 holds after its step-2 log, so the cancel reaches a running job.
    plan = jobs.plan
    jobs.plan = lambda n, c: (
        Script([*plan(n, c).items[:3], HOLD]) if c["learningRate"] == 0.2 else plan(n, c)
    )
    s = sweep(client, grid={"learning_rate": [0.1, 0.2, 0.3]}, pruner=threshold_pruner(2.0, 2))
    assert s.monitor == "loss"
    result = await s.wait()
    pruned = result.runs[1]
    assert pruned.outcome == "pruned"
    assert pruned.result is not None
    assert pruned.result.status == "cancelled"
    assert pruned.stop == ax.StopDecision("prune.fake", "loss 3.0 at step 2 is above 2.0", 2, 3.0)
    assert jobs.cancels() == {pruned.run.job_id: 1}
    assert [r.outcome for r in result.runs] == ["completed", "pruned", "completed"]
    assert result.best is not None
    assert result.best.run.index == 2
    assert result.table()[1]["reason"] == "prune.fake: loss 3.0 at step 2 is above 2.0"


async def test_a_pruner_may_stop_another_run_than_the_one_that_reported(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    """Run 1 holds; run 0's step-2 log makes the pruner name run 1: it is cancelled, once."""
    jobs.plan = lambda name, config: (
        Script([log(1, loss=1.0), HOLD])
        if config["seed"] == 1
        else Script([log(1, loss=1.0), log(2, loss=0.5), completed()])
    )
    started = asyncio.Event()

    def pruner(source: Observable[ax.RunEvent]) -> Observable[ax.PruneDecision]:
        runs: dict[int, ax.Run] = {}

        def see(item: ax.RunEvent) -> list[ax.PruneDecision]:
            runs[item.run.index] = item.run
            if item.run.index == 1:
                started.set()
            e = item.event
            if item.run.index == 0 and isinstance(e, TrainingLog) and e.step == 2 and 1 in runs:
                return [ax.PruneDecision(runs[1], ax.StopDecision("prune.fake", "run 0 says so"))]
            return []

        return source.pipe(ops.flat_map(see))

    # Run 0 must not log step 2 before run 1 reported: gate it on run 1's first event.
    gate = asyncio.Event()
    jobs.plan = (
        lambda plan: (
            lambda n, c: Script([gate, *plan(n, c).items]) if c["seed"] == 0 else plan(n, c)
        )
    )(jobs.plan)
    s = sweep(client, runs=[{"seed": 0}, {"seed": 1}], pruner=pruner)
    task = asyncio.create_task(s.wait())
    await started.wait()
    gate.set()
    result = await task
    assert [r.outcome for r in result.runs] == ["completed", "pruned"]
    assert jobs.cancels() == {result.runs[1].run.job_id: 1}
    assert result.runs[1].stop == ax.StopDecision("prune.fake", "run 0 says so")


async def test_two_decisions_for_one_run_cancel_it_once(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda name, config: Script([log(1, loss=5.0), log(2, loss=5.0), HOLD])

    def pruner(source: Observable[ax.RunEvent]) -> Observable[ax.PruneDecision]:
        def logs(item: ax.RunEvent) -> bool:
            return isinstance(item.event, TrainingLog)

        def twice(item: ax.RunEvent) -> list[ax.PruneDecision]:
            return [
                ax.PruneDecision(item.run, ax.StopDecision("prune.fake", str(n))) for n in (1, 2)
            ]

        return source.pipe(ops.filter(logs), ops.flat_map(twice))

    result = await sweep(client, runs=[{}], pruner=pruner).wait()
    assert result.runs[0].stop == ax.StopDecision("prune.fake", "1")
    assert jobs.cancels() == {result.runs[0].run.job_id: 1}


async def test_a_pruner_error_fails_wait_and_cancels_nothing(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda name, config: Script([log(1, loss=1.0), HOLD])
    boom = ValueError("pruner bug")

    def pruner(source: Observable[ax.RunEvent]) -> Observable[ax.PruneDecision]:
        def fail(item: ax.RunEvent) -> ax.PruneDecision:
            raise boom

        return source.pipe(ops.map(fail))

    with pytest.raises(ValueError, match="pruner bug"):
        await sweep(client, runs=[{}, {}], pruner=pruner).wait()
    assert jobs.cancels() == {}
