"""Sweeps on the real local backend: real training, real cancels counted at the transport."""

from __future__ import annotations

import arkor_rx as ax
from arkor_rx import operators as aop
from tests.e2e.e2e_helpers import DEMO, DIVERGING, LONG_RUN, MODEL, Backend


def sweep(backend: Backend, **kwargs: object) -> ax.Sweep:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("dataset", DEMO)
    kwargs.setdefault("reconnect", ax.ReconnectPolicy.immediate(max_attempts=5))
    return ax.create_sweep(client=backend.client, **kwargs)  # type: ignore[arg-type]


async def test_a_grid_trains_every_run_and_a_per_run_rule_stops_one_once(
    local: Backend,
) -> None:
    backend = local
    s = sweep(
        backend,
        name="e2e-grid",
        max_steps=6,
        eval_steps=3,
        logging_steps=1,
        seed=0,
        runs=[
            {"learning_rate": 2e-4},
            {"learning_rate": 1e-3},
            {**DIVERGING, "max_steps": LONG_RUN},
        ],
        max_concurrent=2,
        monitor="eval_loss",
        early_stopping=[aop.divergence("loss", threshold=10.0)],
    )
    result = await s.wait()
    assert [r.outcome for r in result.runs] == ["completed", "completed", "stopped"]
    stopped = result.runs[2]
    assert stopped.stop is not None
    assert stopped.stop.rule == "divergence"
    cancels = backend.transport.cancels()
    assert [c.path for c in cancels] == [f"/v1/jobs/{stopped.run.job_id}/cancel"]
    for item in result.runs:
        job, _events = await backend.server_log(item.run.job_id or "")
        assert job.name == item.run.name
        assert job.config["learningRate"] == item.config["learning_rate"]
    best = result.best
    assert best is not None
    assert best.outcome == "completed"
    assert best.value == min(r.value for r in result.runs[:2] if r.value is not None)
    assert result.runs[0].value_step == 6


async def test_sweep_cancel_on_the_local_backend_cancels_each_unfinished_run_once(
    local: Backend,
) -> None:
    backend = local
    s = sweep(
        backend,
        name="e2e-cancel",
        max_steps=LONG_RUN,
        logging_steps=1,
        runs=[{}, {}, {}],
        max_concurrent=2,
    )
    started: list[str] = []

    async def on_log(ctx: ax.LogContext) -> None:
        if ctx.job.id not in started:
            started.append(ctx.job.id)
            if len(started) == 2:
                await s.cancel()  # from inside a run's callback, while both run

    s = sweep(
        backend,
        name="e2e-cancel",
        max_steps=LONG_RUN,
        logging_steps=1,
        runs=[{}, {}, {}],
        max_concurrent=2,
        callbacks={"on_log": on_log},
    )
    result = await s.wait()
    assert [r.outcome for r in result.runs] == ["cancelled", "cancelled", "not started"]
    assert sorted(c.path for c in backend.transport.cancels()) == sorted(
        f"/v1/jobs/{job_id}/cancel" for job_id in started
    )


async def test_a_median_pruner_stops_the_run_worse_than_the_completed_ones_once(
    local: Backend,
) -> None:
    """One run at a time, seeded: which run is pruned, and where, does not depend on timing."""
    s = sweep(
        local,
        name="e2e-median",
        max_steps=10,
        eval_steps=5,
        seed=0,
        # The run to prune is long: the backend holds it before step LONG_RUN until
        # it is cancelled, so it ends cancelled however late the pruner's cancel is.
        runs=[
            {"learning_rate": 2e-4},
            {"learning_rate": 1e-3},
            {"learning_rate": 4e-3, "max_steps": LONG_RUN},
        ],
        max_concurrent=1,
        pruner=aop.median_pruner("eval_loss", n_startup_runs=2),
    )
    assert s.monitor == "eval_loss"
    result = await s.wait()
    assert [r.outcome for r in result.runs] == ["completed", "completed", "pruned"]
    pruned = result.runs[2]
    assert pruned.stop is not None
    assert pruned.stop.rule == "prune.median"
    assert pruned.stop.step == 5
    assert "median" in pruned.stop.reason
    assert "2 completed runs at step 5" in pruned.stop.reason
    cancels = local.transport.cancels()
    assert [(c.path, c.status) for c in cancels] == [(f"/v1/jobs/{pruned.run.job_id}/cancel", 200)]
    job, events = await local.server_log(pruned.run.job_id or "")
    assert job.status == "cancelled"
    assert not any(isinstance(e, ax.TrainingCompleted) for e in events)
    assert result.best is not None
    assert result.best.config == {"learning_rate": 2e-4}
