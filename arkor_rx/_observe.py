"""``observe_async``: a cold Observable that drains an async iterator, a chunk at a time.

Rule 1: one task per subscription, on the asyncio loop, pushes the items to
the observer; disposing cancels it, which closes the iterator.

Rule 2: an iterator that offers ``batches()`` (an
[`EventStream`][arkor_rx.stream.EventStream]) is drained a batch at a time: one
await per network read, and the batch's items go to the observer in a plain
loop, with no await (and no async-generator step) per item.

Rule 3 (fusion): the Observable is a ``Pumped``. An operator applied right on
it (``aop.to_sink``) may subscribe with a ``Tap``: over an
[`EventStream`][arkor_rx.stream.EventStream], the items still go to the
observer one by one, and the tap is told where each batch begins and ends,
so that it can take the batch whole (the list, and the frames' columns)
rather than item by item; over any other iterator, each item goes to the
tap's ``each`` (the operator's own ``on_next``). Same task, same order; an
error the tap raises ends the stream with ``on_error``, as an error in
``on_next`` does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from arkor_rx._loop import loop_of

__all__ = ["Batched", "Pumped", "Tap", "observe_async"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


@runtime_checkable
class Batched(Protocol[_T_co]):
    """An async iterator that can also hand out its items a chunk at a time."""

    def batches(self) -> AsyncIterator[Iterator[_T_co]]:
        """The items, one plain iterator per chunk (see ``EventStream.batches``)."""
        ...


class Tap(Protocol):
    """What a fused operator is told about the batches of a ``Pumped`` (see Rule 3)."""

    def begin(self, batch: Any) -> None:
        """``batch`` (``EventStream._delivering()``: its ``events``, ``iterator`` and
        ``columns()``) is about to go to the observer."""
        ...

    def end(self) -> None:
        """Every item of the batch went to the observer."""
        ...

    def each(self, item: Any) -> None:
        """One item of an iterator that has no such batches: the operator's own ``on_next``."""
        ...


def observe_async(
    open_iterator: Callable[[], Awaitable[AsyncIterator[_T]]],
) -> reactivex.Observable[_T]:
    """A cold Observable that drains a fresh async iterator for each subscription.

    On subscribe, one task is started on the asyncio loop (the running one, or
    the loop of an ``AsyncIOScheduler`` passed to ``subscribe``, which may be
    called from another thread then). The task awaits ``open_iterator()`` and
    pushes each item to the observer; ``on_completed`` when the iterator ends,
    ``on_error`` when it raises (or when the observer's ``on_next`` raises).
    Disposing cancels the task, which closes the iterator (and its connection).

    Examples:
        >>> async def numbers():
        ...     for i in range(3):
        ...         yield i
        >>> async def demo():
        ...     done = asyncio.Event()
        ...     async def make():
        ...         return numbers()
        ...     observe_async(make).subscribe(print, on_completed=done.set)
        ...     await done.wait()
        >>> asyncio.run(demo())
        0
        1
        2

    Args:
        open_iterator: called once per subscription, on the loop.

    Returns:
        The Observable. Subscribing with no running loop and no
        ``AsyncIOScheduler`` sends a ``RuntimeError`` to ``on_error``.
    """

    return Pumped(open_iterator)


class Pumped(reactivex.Observable[_T]):
    """The Observable of [`observe_async`][arkor_rx._observe.observe_async] (see Rule 3)."""

    def __init__(self, open_iterator: Callable[[], Awaitable[AsyncIterator[_T]]]) -> None:
        self._open_iterator = open_iterator
        super().__init__(self._subscribe_plain)

    def _subscribe_plain(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self.subscribe_tapped(
            observer.on_next, observer.on_error, observer.on_completed, None, scheduler
        )

    def subscribe_tapped(
        self,
        on_next: Callable[[_T], None],
        on_error: Callable[[Exception], None],
        on_completed: Callable[[], None],
        tap: Tap | None,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """Subscribe the three callbacks (as they are, not wrapped), telling ``tap`` of every batch.

        An iterator without batches is taken as batches of one item.
        """
        open_iterator = self._open_iterator
        message = (
            "subscribe inside a running asyncio loop, or pass scheduler=AsyncIOScheduler(loop)"
        )
        loop = loop_of(scheduler)
        if loop is None:
            on_error(RuntimeError(message))
            return Disposable()
        disposed = False

        def fail(exc: Exception) -> None:
            try:
                on_error(exc)
            except Exception as unhandled:  # an observer without on_error re-raises
                loop.call_exception_handler(
                    {"message": "unhandled error in an arkor_rx observable", "exception": unhandled}
                )

        async def pump() -> None:
            try:
                iterator = await open_iterator()
            except Exception as exc:
                fail(exc)
                return
            try:
                # Fused (Rule 3) only with an EventStream's batches; any other
                # iterator's items go through the operator's own on_next.
                delivering = getattr(iterator, "_delivering", None) if tap is not None else None
                fused = tap if delivering is not None else None
                each = on_next if tap is None or fused is not None else tap.each
                if isinstance(iterator, Batched):
                    async for batch in iterator.batches():
                        if fused is not None and delivering is not None:
                            fused.begin(delivering())
                        for item in batch:
                            each(item)
                            if disposed:
                                return
                        if fused is not None:
                            fused.end()
                else:
                    async for item in iterator:
                        each(item)
                        if disposed:
                            return
            except Exception as exc:
                if not disposed:
                    fail(exc)
                return
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            if not disposed:
                on_completed()

        handle: asyncio.Task[None] | concurrent.futures.Future[None]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            handle = loop.create_task(pump())
        else:
            handle = asyncio.run_coroutine_threadsafe(pump(), loop)

        def dispose() -> None:
            nonlocal disposed
            disposed = True
            handle.cancel()

        return Disposable(dispose)
