"""``observe_async``: a cold Observable that drains an async iterator, a chunk at a time.

Rule 1: one task per subscription, on the asyncio loop, pushes the items to
the observer; disposing cancels it, which closes the iterator.

Rule 2: an iterator that offers ``batches()`` (an
[`EventStream`][arkor_rx.stream.EventStream]) is drained a batch at a time: one
await per network read, and the batch's items go to the observer in a plain
loop, with no await (and no async-generator step) per item.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from arkor_rx._loop import loop_of

__all__ = ["Batched", "observe_async"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


@runtime_checkable
class Batched(Protocol[_T_co]):
    """An async iterator that can also hand out its items a chunk at a time."""

    def batches(self) -> AsyncIterator[Iterator[_T_co]]:
        """The items, one plain iterator per chunk (see ``EventStream.batches``)."""
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

    return reactivex.create(functools.partial(_subscribe, open_iterator))


def _subscribe(
    open_iterator: Callable[[], Awaitable[AsyncIterator[_T]]],
    observer: abc.ObserverBase[_T],
    scheduler: abc.SchedulerBase | None = None,
) -> abc.DisposableBase:
    """One subscription: a task pumping a fresh iterator into ``observer`` (Rule 1)."""
    loop = loop_of(scheduler)
    if loop is None:
        message = (
            "subscribe inside a running asyncio loop, or pass scheduler=AsyncIOScheduler(loop)"
        )
        observer.on_error(RuntimeError(message))
        return Disposable()
    state = _State()
    pump = _pump(open_iterator, observer, loop, state)
    handle: asyncio.Task[None] | concurrent.futures.Future[None]
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        handle = loop.create_task(pump)
    else:
        handle = asyncio.run_coroutine_threadsafe(pump, loop)

    def dispose() -> None:
        state.disposed = True
        handle.cancel()

    return Disposable(dispose)


async def _pump(
    open_iterator: Callable[[], Awaitable[AsyncIterator[_T]]],
    observer: abc.ObserverBase[_T],
    loop: asyncio.AbstractEventLoop,
    state: _State,
) -> None:
    def fail(exc: Exception) -> None:
        try:
            observer.on_error(exc)
        except Exception as unhandled:  # an observer without on_error re-raises
            loop.call_exception_handler(
                {"message": "unhandled error in an arkor_rx observable", "exception": unhandled}
            )

    try:
        iterator = await open_iterator()
    except Exception as exc:
        fail(exc)
        return
    try:
        if await _push(iterator, observer.on_next, state):
            return
    except Exception as exc:
        if not state.disposed:
            fail(exc)
        return
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    if not state.disposed:
        observer.on_completed()


class _State:
    """Whether a subscription was disposed (read once per item: an attribute, not a call)."""

    __slots__ = ("disposed",)

    def __init__(self) -> None:
        self.disposed = False


async def _push(iterator: AsyncIterator[_T], on_next: Callable[[_T], None], state: _State) -> bool:
    """Every item to ``on_next`` (a batch at a time when it can: Rule 2); True when disposed."""
    if isinstance(iterator, Batched):
        async for batch in iterator.batches():
            for item in batch:
                on_next(item)
                if state.disposed:
                    return True
        return False
    async for item in iterator:
        on_next(item)
        if state.disposed:
            return True
    return False
