"""``concat_map_async(fn)``: map each item through an async function, one at a time, in order."""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import reactivex
from reactivex import abc
from reactivex.disposable import CompositeDisposable, Disposable

from arkor_rx._loop import loop_or_error

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
            message = "concat_map_async needs a running asyncio loop or an AsyncIOScheduler"
            loop = loop_or_error(scheduler, observer, message)
            if loop is None:
                return Disposable()
            return _Drain(fn, observer, loop).follow(source, scheduler)

        return reactivex.create(subscribe)

    return operator


class _Drain(Generic[_T, _R]):
    """One subscription of ``concat_map_async``: its buffer and the one task that drains it."""

    def __init__(
        self,
        fn: Callable[[_T], Awaitable[_R]],
        observer: abc.ObserverBase[_R],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._fn = fn
        self._observer = observer
        self._loop = loop
        self._buffer: deque[_T] = deque()
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._source_done = False
        self._stopped = False
        self._upstream = CompositeDisposable()

    def follow(
        self, source: reactivex.Observable[_T], scheduler: abc.SchedulerBase | None
    ) -> abc.DisposableBase:
        """Subscribe to ``source``; the disposable that stops everything."""
        self._upstream.add(
            source.subscribe(self.on_next, self.on_error, self.on_completed, scheduler=scheduler)
        )
        if self._stopped:
            self._upstream.dispose()
        return Disposable(self.stop)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _run(self) -> None:
        buffer, observer = self._buffer, self._observer
        try:
            while True:
                while buffer:
                    result: Any = self._fn(buffer.popleft())  # created only now: its turn
                    if inspect.isawaitable(result):
                        result = await result
                    if self._stopped:
                        return
                    observer.on_next(result)
                if self._source_done:
                    self.stop()
                    observer.on_completed()
                    return
                self._waiter = self._loop.create_future()
                await self._waiter
                self._waiter = None
        except Exception as exc:
            if not self._stopped:
                self.stop()
                observer.on_error(exc)

    def on_next(self, value: _T) -> None:
        if self._stopped:
            return
        self._buffer.append(value)
        if self._task is None:
            self._task = self._loop.create_task(self._run())
        else:
            self._wake()

    def on_error(self, exc: Exception) -> None:
        if self._stopped:
            return
        self.stop()
        self._observer.on_error(exc)

    def on_completed(self) -> None:
        if self._stopped:
            return
        self._source_done = True
        if self._task is None:
            self.stop()
            self._observer.on_completed()
        else:
            self._wake()

    def stop(self) -> None:
        self._stopped = True
        self._buffer.clear()
        self._upstream.dispose()
        loop = self._loop
        current = asyncio.current_task(loop) if loop.is_running() else None
        if self._task is not None and self._task is not current:
            self._task.cancel()
