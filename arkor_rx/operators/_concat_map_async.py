"""``concat_map_async(fn)``: map each item through an async function, one at a time, in order."""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import reactivex
from reactivex import abc
from reactivex.disposable import CompositeDisposable, Disposable

from arkor_rx._loop import loop_of

__all__ = ["concat_map_async"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def concat_map_async(
    fn: Callable[[_T], Awaitable[_R]],
) -> Callable[[reactivex.Observable[_T]], reactivex.Observable[_R]]:
    """Map each item through an async function, one at a time, in order: a serialized concat_map.

    ``fn(item)`` is called only when the previous result has been emitted, so
    item ``k+1``'s coroutine is not even created before item ``k``'s is done.
    Items that arrive meanwhile wait in a buffer. One task per subscription
    drains it, on the asyncio loop, instead of a Task and an inner
    subscription per item. A sync ``fn`` works too: its result is emitted as is.

    ::

        source:  --a--b--c------|
        fn:        [=a=][=b=][=c=]
        result:  -------A----B----C|

    Examples:
        >>> async def double(x: int) -> int:
        ...     await asyncio.sleep(0)
        ...     return 2 * x
        >>> async def demo() -> list[int]:
        ...     done, out = asyncio.Event(), []
        ...     reactivex.of(1, 2, 3).pipe(concat_map_async(double)).subscribe(
        ...         out.append, on_completed=done.set)
        ...     await done.wait()
        ...     return out
        >>> asyncio.run(demo())
        [2, 4, 6]

    Subscribe on the loop's thread (or pass ``scheduler=AsyncIOScheduler(loop)``)
    and emit from it: the buffer is not thread-safe.

    Args:
        fn: the mapper; an exception it raises (or its awaitable raises) ends
            the stream with that error and unsubscribes from the source.

    Returns:
        An operator for ``.pipe()``. A source error is passed on at once; a
        source completion, once the buffer is drained.
    """

    def operator(source: reactivex.Observable[_T]) -> reactivex.Observable[_R]:
        def subscribe(
            observer: abc.ObserverBase[_R], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            loop = loop_of(scheduler)
            if loop is None:
                observer.on_error(
                    RuntimeError(
                        "concat_map_async needs a running asyncio loop or an AsyncIOScheduler"
                    )
                )
                return Disposable()
            buffer: deque[_T] = deque()
            task: asyncio.Task[None] | None = None
            waiter: asyncio.Future[None] | None = None
            source_done = False
            stopped = False
            upstream = CompositeDisposable()

            def wake() -> None:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

            async def run() -> None:
                nonlocal waiter
                try:
                    while True:
                        while buffer:
                            result: Any = fn(buffer.popleft())  # created only now: its turn
                            if inspect.isawaitable(result):
                                result = await result
                            if stopped:
                                return
                            observer.on_next(result)
                        if source_done:
                            stop()
                            observer.on_completed()
                            return
                        waiter = loop.create_future()
                        await waiter
                        waiter = None
                except Exception as exc:
                    if not stopped:
                        stop()
                        observer.on_error(exc)

            def on_next(value: _T) -> None:
                nonlocal task
                if stopped:
                    return
                buffer.append(value)
                if task is None:
                    task = loop.create_task(run())
                else:
                    wake()

            def on_error(exc: Exception) -> None:
                if stopped:
                    return
                stop()
                observer.on_error(exc)

            def on_completed() -> None:
                nonlocal source_done
                if stopped:
                    return
                source_done = True
                if task is None:
                    stop()
                    observer.on_completed()
                else:
                    wake()

            def stop() -> None:
                nonlocal stopped
                stopped = True
                buffer.clear()
                upstream.dispose()
                current = asyncio.current_task(loop) if loop.is_running() else None
                if task is not None and task is not current:
                    task.cancel()

            upstream.add(source.subscribe(on_next, on_error, on_completed, scheduler=scheduler))
            if stopped:
                upstream.dispose()
            return Disposable(stop)

        return reactivex.create(subscribe)

    return operator
