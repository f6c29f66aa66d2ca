"""An iterator run on a daemon thread, a bounded number of items ahead of an asyncio loop.

Rule 1: opening and reading a file are blocking calls. A FIFO without a
writer, a slow network disk or a terminal would stall the whole loop (every
stream, callback and sink) if read on it, so a recording is read here, off the
loop. The loop side never blocks: it takes what is ready, or leaves a callback
that the reader calls (through ``call_soon_threadsafe``) when more is.

Rule 2: memory is bounded: the thread waits while the items ready and not
taken cost ``budget`` or more (by default each costs 1 and the budget is
``AHEAD``; lines of a file cost their length in bytes).

Rule 3: the iterator is created, advanced and closed on the thread only (a
generator cannot be closed from another thread while it runs). ``close()``
asks the thread to stop at its next item; a thread blocked in a read that never
returns (a FIFO nobody writes to) is a daemon, so it never holds the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["AHEAD", "ReadAhead"]

T = TypeVar("T")

AHEAD = 1024
"""Items read and not yet taken, at most."""


class ReadAhead(Generic[T]):
    """The items of ``source()``, read on a daemon thread for a loop that never waits on them."""

    def __init__(
        self,
        source: Callable[[], Iterator[T]],
        loop: asyncio.AbstractEventLoop,
        name: str,
        *,
        cost: Callable[[T], int] = lambda _item: 1,
        budget: int = AHEAD,
    ) -> None:
        self._loop = loop
        self._cost = cost
        self._budget = budget
        self._load = 0
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._waiter: Callable[[], None] | None = None
        self._closed = False
        self._ended = False
        self.error: Exception | None = None
        """How the source ended, once it did (None: it was exhausted)."""
        thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        thread.start()

    def _run(self, source: Callable[[], Iterator[T]]) -> None:
        error: Exception | None = None
        try:
            iterator = source()
            try:
                for item in iterator:
                    if not self._put(item):
                        return
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # handed to the loop side, which reports it
            error = exc
        with self._cond:
            self._ended, self.error = True, error
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)

    def _put(self, item: T) -> bool:
        with self._cond:
            while self._items and self._load >= self._budget and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._load += self._cost(item)
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)
        return True

    def _wake(self, waiter: Callable[[], None] | None) -> None:
        if waiter is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(waiter)

    def take(self, limit: int, on_ready: Callable[[], None]) -> list[T] | None:
        """Up to ``limit`` items ready now (on the loop; never blocks).

        Returns:
            The items; ``[]`` when none is ready yet (``on_ready`` is then
            called on the loop once one is, or the source ended); None once the
            source ended and every item was taken (``error`` says how).
        """
        with self._cond:
            if self._items:
                count = min(limit, len(self._items))
                out = [self._items.popleft() for _ in range(count)]
                self._load -= sum(self._cost(item) for item in out)
                self._cond.notify()
                return out
            if self._ended:
                return None
            self._waiter = on_ready
            return []

    async def next(self) -> T | None:
        """The next item (None at the end), waiting on the loop without blocking it.

        Raises:
            Exception: the error the source ended with, after its items.
        """
        while True:
            ready: asyncio.Future[None] = self._loop.create_future()

            def wake(ready: asyncio.Future[None] = ready) -> None:
                if not ready.done():
                    ready.set_result(None)

            got = self.take(1, wake)
            if got is None:
                if self.error is not None:
                    raise self.error
                return None
            if got:
                return got[0]
            await ready

    def close(self) -> None:
        """Stop reading (the thread ends at its next item) and drop what was read."""
        with self._cond:
            self._closed = True
            self._waiter = None
            self._items.clear()
            self._load = 0
            self._cond.notify_all()
