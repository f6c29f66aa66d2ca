"""The ``concat_map_async`` operator: a serialized, lazy, ordered async map."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx.dispatch import concat_map_async
from tests.operators.ops_helpers import Blocker


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
    work = Blocker()
    subscription = reactivex.of(1).pipe(concat_map_async(work.run)).subscribe(lambda _: None)
    await asyncio.wait_for(work.started.wait(), 2)
    subscription.dispose()
    await asyncio.wait_for(work.cancelled.wait(), 2)


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
