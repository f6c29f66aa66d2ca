"""The serialized dispatcher, the contexts, and the ``concat_map_async`` operator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx.dispatch import (
    CheckpointAdapter,
    Dispatcher,
    LogContext,
    TrainerCallbacks,
    bench_dispatch,
    concat_map_async,
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


# --- concat_map_async ----------------------------------------------------------


async def run_pipeline(source: reactivex.Observable[Any]) -> list[Any]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[list[Any]] = loop.create_future()
    items: list[Any] = []

    def on_error(exc: Exception) -> None:
        if not done.done():
            done.set_exception(exc)

    def on_completed() -> None:
        if not done.done():
            done.set_result(items)

    source.subscribe(items.append, on_error, on_completed, scheduler=AsyncIOScheduler(loop))
    return await asyncio.wait_for(done, 5)


async def test_concat_map_async_is_serialized_ordered_and_lazy() -> None:
    active = 0
    most = 0
    created: list[tuple[int, int]] = []  # (item, callbacks in flight at creation)

    async def work(x: int) -> int:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        active -= 1
        return x * 10

    def mapper(x: int) -> Any:
        created.append((x, active))
        return work(x)

    result = await run_pipeline(reactivex.from_iterable(range(6)).pipe(concat_map_async(mapper)))
    assert result == [0, 10, 20, 30, 40, 50]
    assert most == 1
    assert created == [(i, 0) for i in range(6)]


async def test_concat_map_async_buffers_items_that_arrive_while_busy() -> None:
    subject: Subject[int] = Subject()
    release = asyncio.Event()
    out: list[int] = []
    done = asyncio.Event()

    async def work(x: int) -> int:
        if x == 0:
            await release.wait()
        return x

    subject.pipe(concat_map_async(work)).subscribe(out.append, on_completed=done.set)
    for i in range(3):
        subject.on_next(i)
    subject.on_completed()
    await asyncio.sleep(0)
    assert out == []
    release.set()
    await asyncio.wait_for(done.wait(), 2)
    assert out == [0, 1, 2]


async def test_concat_map_async_waits_for_late_items() -> None:
    subject: Subject[int] = Subject()
    out: list[int] = []
    done = asyncio.Event()

    async def work(x: int) -> int:
        return x + 1

    subject.pipe(concat_map_async(work)).subscribe(out.append, on_completed=done.set)
    subject.on_next(1)
    for _ in range(3):
        await asyncio.sleep(0)  # the drain task runs dry and waits
    subject.on_next(2)
    subject.on_completed()
    await asyncio.wait_for(done.wait(), 2)
    assert out == [2, 3]


async def test_concat_map_async_passes_on_the_mapper_error_and_unsubscribes() -> None:
    boom = RuntimeError("boom")
    subject: Subject[int] = Subject()

    async def work(x: int) -> int:
        if x == 1:
            raise boom
        return x

    pipeline = subject.pipe(concat_map_async(work))
    task = asyncio.ensure_future(run_pipeline(pipeline))
    await asyncio.sleep(0)
    subject.on_next(0)
    subject.on_next(1)
    subject.on_next(2)
    with pytest.raises(RuntimeError) as info:
        await task
    assert info.value is boom
    assert not subject.observers  # the source subscription was disposed


async def test_concat_map_async_passes_on_a_source_error_at_once() -> None:
    boom = RuntimeError("source")
    source = reactivex.concat(reactivex.of(1), reactivex.throw(boom))

    async def never_done(x: int) -> int:
        await asyncio.Event().wait()
        return x

    with pytest.raises(RuntimeError) as info:
        await run_pipeline(source.pipe(concat_map_async(never_done)))
    assert info.value is boom


async def test_concat_map_async_completes_at_once_for_an_empty_source() -> None:
    async def work(x: int) -> int:
        return x

    assert await run_pipeline(reactivex.empty().pipe(concat_map_async(work))) == []


async def test_disposing_concat_map_async_cancels_the_work_in_flight() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work(x: int) -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x

    subscription = reactivex.of(1).pipe(concat_map_async(work)).subscribe(lambda _: None)
    await asyncio.wait_for(started.wait(), 2)
    subscription.dispose()
    await asyncio.wait_for(cancelled.wait(), 2)


async def test_concat_map_async_accepts_a_sync_mapper() -> None:
    mapper: Any = lambda x: x * 2  # noqa: E731  (typed for async mappers; sync ones work too)
    source: reactivex.Observable[Any] = reactivex.of(1, 2).pipe(
        concat_map_async(mapper), ops.to_list()
    )
    assert await run_pipeline(source) == [[2, 4]]


def test_concat_map_async_without_a_loop_reports_an_error() -> None:
    errors: list[Exception] = []

    async def work(x: int) -> int:
        return x

    reactivex.of(1).pipe(concat_map_async(work)).subscribe(on_error=errors.append)
    assert isinstance(errors[0], RuntimeError)
