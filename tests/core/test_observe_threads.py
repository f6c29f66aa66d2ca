"""observe_async from another thread: subscribe with the loop's AsyncIOScheduler."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from reactivex.abc import DisposableBase
from reactivex.scheduler.eventloop import AsyncIOScheduler

from arkor_rx.stream import observe_async


async def _numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def test_subscribing_from_another_thread_runs_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    items: list[int] = []
    threads: set[int] = set()

    async def make() -> AsyncIterator[int]:
        return _numbers(5)

    def on_next(value: int) -> None:
        threads.add(threading.get_ident())
        items.append(value)

    def on_completed() -> None:
        loop.call_soon_threadsafe(done.set)

    def subscribe_elsewhere() -> None:
        observe_async(make).subscribe(
            on_next,
            on_completed=on_completed,
            scheduler=AsyncIOScheduler(loop),
        )

    worker = threading.Thread(target=subscribe_elsewhere)
    worker.start()
    worker.join()
    await asyncio.wait_for(done.wait(), 5)
    assert items == [0, 1, 2, 3, 4]
    assert threads == {threading.get_ident()}  # delivered on the loop's thread


async def test_disposing_from_another_thread_stops_the_iterator() -> None:
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            started.set()
            while True:
                await asyncio.sleep(0)
                yield 1
        finally:
            closed.set()

    async def make() -> AsyncIterator[int]:
        return endless()

    holder: list[DisposableBase] = []

    def subscribe_elsewhere() -> None:
        holder.append(
            observe_async(make).subscribe(lambda _: None, scheduler=AsyncIOScheduler(loop))
        )

    worker = threading.Thread(target=subscribe_elsewhere)
    worker.start()
    worker.join()
    await asyncio.wait_for(started.wait(), 5)
    subscription = holder[0]
    disposer = threading.Thread(target=subscription.dispose)
    disposer.start()
    disposer.join()
    await asyncio.wait_for(closed.wait(), 5)
    assert closed.is_set()
