"""The serialized dispatcher and the contexts (imported from the old ``arkor_rx.dispatch`` path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from arkor_rx.dispatch import (
    CheckpointAdapter,
    Dispatcher,
    LogContext,
    TrainerCallbacks,
    bench_dispatch,
    drain,
)
from arkor_rx.errors import ConfigError
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingEvent,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
)
from arkor_rx.jobs import TrainingJob

JOB = TrainingJob(id="j1")


async def aiter_of(events: list[TrainingEvent]) -> AsyncIterator[TrainingEvent]:
    for event in events:
        yield event


def test_callbacks_accept_a_dict_and_reject_unknown_keys() -> None:
    def cb(ctx: Any) -> None:
        return None

    assert TrainerCallbacks.coerce({"on_log": cb}) == TrainerCallbacks(on_log=cb)
    assert TrainerCallbacks.coerce(None) == TrainerCallbacks()
    with pytest.raises(ConfigError, match="on_lgo"):
        TrainerCallbacks.coerce({"on_lgo": cb})
    with pytest.raises(ConfigError, match="on_log"):
        TrainerCallbacks(on_log=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        TrainerCallbacks.coerce([cb])  # type: ignore[arg-type]


def test_contexts_expose_the_fields_of_the_api_table() -> None:
    seen: dict[str, Any] = {}
    d = Dispatcher(
        {
            "on_started": lambda c: seen.update(started=(c.job.id, c.job.status)),
            "on_log": lambda c: seen.update(
                log=(c.step, c.loss, c.eval_loss, c.learning_rate, c.epoch, c.samples_per_second)
            ),
            "on_checkpoint": lambda c: seen.update(ckpt=(c.step, c.adapter, c.artifacts)),
            "on_completed": lambda c: seen.update(completed=(c.job.status, c.artifacts)),
            "on_failed": lambda c: seen.update(failed=(c.job.status, c.error)),
        },
        JOB,
    )
    for event in (
        TrainingStarted(),
        TrainingLog(
            step=3, loss=1.5, eval_loss=1.7, learning_rate=1e-4, epoch=0.5, samples_per_second=9.0
        ),
        CheckpointSaved(step=3, artifacts=["a"], job_id="j1"),
        TrainingCompleted(artifacts=["final"]),
        TrainingFailed(error="bad"),
    ):
        assert d.dispatch(event) is None
    assert seen == {
        "started": ("j1", "running"),
        "log": (3, 1.5, 1.7, 1e-4, 0.5, 9.0),
        "ckpt": (3, CheckpointAdapter(job_id="j1", step=3), ["a"]),
        "completed": ("completed", ["final"]),
        "failed": ("failed", "bad"),
    }


def test_checkpoint_adapter_wire_shape() -> None:
    adapter = CheckpointAdapter(job_id="j1", step=50)
    assert adapter.kind == "checkpoint"
    assert adapter.to_wire() == {"kind": "checkpoint", "jobId": "j1", "step": 50}


async def test_async_callbacks_are_returned_to_await_and_sync_ones_are_not() -> None:
    calls: list[int] = []

    async def on_log(ctx: LogContext) -> None:
        calls.append(ctx.step)

    d = Dispatcher({"on_log": on_log}, JOB)
    pending = d.dispatch(TrainingLog(step=1))
    assert pending is not None
    assert calls == []  # created, not yet run
    await pending
    assert calls == [1]
    assert Dispatcher({"on_log": lambda c: 42}, JOB).dispatch(TrainingLog(step=1)) is None
    assert Dispatcher(None, JOB).dispatch(TrainingLog(step=1)) is None


async def test_drain_awaits_each_callback_before_the_next_and_stops_on_request() -> None:
    order: list[str] = []

    async def on_log(ctx: LogContext) -> None:
        order.append(f"start {ctx.step}")
        await asyncio.sleep(0)
        order.append(f"end {ctx.step}")

    events: list[TrainingEvent] = [TrainingLog(step=i) for i in range(4)]
    d = Dispatcher({"on_log": on_log}, JOB)
    count = await drain(aiter_of(events), d.dispatch, lambda e: getattr(e, "step", 0) == 2)
    assert count == 3
    assert order == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]


async def test_drain_propagates_the_callback_exception_object() -> None:
    boom = ValueError("boom")

    def on_log(ctx: LogContext) -> None:
        raise boom

    with pytest.raises(ValueError) as info:
        await drain(aiter_of([TrainingLog(step=1)]), Dispatcher({"on_log": on_log}, JOB).dispatch)
    assert info.value is boom


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_bench_dispatch_counts_every_event(kind: str) -> None:
    seen: list[Any] = []

    async def async_cb(ctx: Any) -> None:
        seen.append(ctx)

    events: list[TrainingEvent] = [TrainingLog(step=1), TrainingStarted(), TrainingLog(step=2)]
    callback = seen.append if kind == "sync" else async_cb
    assert await bench_dispatch(events, callback) == 3
    assert len(seen) == 2
