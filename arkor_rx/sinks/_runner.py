"""Run sinks off the hot path: one bounded buffer and one asyncio task per sink.

Rule 1: the producer's cost per item is an append to a list: a
[`Gather`][arkor_rx.sinks._runner.Gather] (or ``to_sink``) hands a loop turn's
items of one run to every runner at once (``put_many``: one buffer entry and,
when the sink's task is asleep, one wake-up). No Task, no coroutine and no
await per item. A sink with an ``encode(items)`` method has each hand-off
encoded right there, and its buffer holds what ``encode`` made (text, small
tuples) rather than the events; its ``write`` gets those, concatenated in
stream order. A sink with ``isolation = "process"`` is driven through its
proxy in the sink worker process (``arkor_rx.sinks._process``).

Before each batch the task lingers up to ``batch_interval`` seconds (default
0.05; a sink attribute) so that the batch gathers, unless something is
urgent: a queued close, or a full ``"block"`` buffer. So a fast stream is
written in big batches (one thread hop or request per batch, not per event),
a sink's share of the CPU stays bounded, and a live run with a few events
per second is written within 50 ms. A ``"drop"`` sink thus takes at most
``buffer_size`` items per interval (about 20,000 per second by default) and
drops, and counts, the rest.

Rule 2: one [`SinkRunner`][arkor_rx.sinks._runner.SinkRunner] per sink instance and event loop,
shared by
every owner (Trainers, ``to_sink`` subscriptions) while any of them holds it.
So many runs can share one sink, and its calls never overlap: the runner's
task calls ``open``, ``write`` and ``close`` one at a time, in buffer order.
A batch holds consecutive items of one run.

Rule 3: overflow. ``"drop"`` (the default): an item that finds the buffer
full is dropped and counted in ``sink.stats.dropped``; a warning is logged
at the first drop of a run and a summary when it closes. Terminal events are
never dropped. ``"block"``: the item is kept anyway and
[`SinkRunner.put`][arkor_rx.sinks._runner.SinkRunner.put]
returns an awaitable that resolves when the buffer has room again. A producer
that can wait (the Trainer's pull loop) awaits it before it reads the next
frame, so the stream waits, the callbacks' order stays intact, and the other
sinks keep draining their own buffers. A push source that cannot wait (an
Observable behind ``to_sink``) does not await it: nothing is lost and the
buffer grows past its bound (a warning is logged once).

Rule 4: ``open`` and ``close`` markers are never dropped, so a run's close is
always delivered, even after errors.

Rule 5: an error from ``open``/``write``/``close`` is logged (the first one of
a run as a warning), counted in ``sink.stats``, and the sink keeps receiving
the run. With ``fail_on_error=True`` the run's close future resolves to that
error, and the owner raises it once every sink has closed the run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import Any, TypeAlias

from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import (
    Outcome,
    Sink,
    SinkItem,
    SinkStats,
    sink_name,
    sink_policy,
)
from arkor_rx.sinks._process import isolated

__all__ = ["GATHER_LIMIT", "Gather", "SinkHub", "SinkRunner", "runner_for", "sink_name"]

logger = logging.getLogger("arkor_rx.sinks")


class _Open:
    __slots__ = ("job",)

    def __init__(self, job: TrainingJob) -> None:
        self.job = job


class _Close:
    __slots__ = ("future", "outcome")

    def __init__(self, outcome: Outcome, future: asyncio.Future[BaseException | None]) -> None:
        self.outcome = outcome
        self.future = future


class _Chunk:
    """Consecutive items of one run, as the sink's ``encode`` made them (or as they came)."""

    __slots__ = ("count", "items", "job_id")

    def __init__(self, job_id: str, items: list[Any], count: int) -> None:
        self.job_id = job_id
        self.items = items  # never mutated: a list handed to many runners is shared
        self.count = count  # the items it stands for (an encoded list may be shorter)


_Entry: TypeAlias = "_Chunk | _Open | _Close"


def _is_terminal(kind: type) -> bool:
    """Whether items of this class end a run (``completed``, ``failed``)."""
    known = _TERMINAL_KINDS.get(kind)
    if known is None:
        known = _TERMINAL_KINDS[kind] = bool(getattr(kind, "terminal", False))
    return known


_TERMINAL_KINDS: dict[type, bool] = {}


DEFAULT_BATCH_INTERVAL = 0.05
"""Seconds a woken sink task waits for a batch to gather (``batch_interval``)."""


class SinkRunner:
    """Drive one sink from its own bounded buffer in its own task.

    Get one with [`runner_for`][arkor_rx.sinks._runner.runner_for] (shared per sink and loop) rather
    than
    building it: two runners on one sink would call it concurrently.

    Args:
        sink: the sink; its ``overflow``, ``fail_on_error`` and ``buffer_size``
            attributes are read here, with the defaults ``"drop"``, False, 1024.
        loop: the loop its task runs on.
    """

    def __init__(self, sink: Sink, loop: asyncio.AbstractEventLoop) -> None:
        self.sink = sink
        self.name = sink_name(sink)
        self.overflow, self.fail_on_error, self.buffer_size = sink_policy(sink)
        stats = getattr(sink, "stats", None)
        if not isinstance(stats, SinkStats):
            stats = SinkStats()
            # A sink without room for it keeps no counters: they stay on the runner.
            with contextlib.suppress(AttributeError, TypeError):
                sink.stats = stats  # type: ignore[attr-defined]
        self.stats: SinkStats = stats
        self._loop = loop
        # What open/write/close are called on: the sink, or (isolation "process")
        # its proxy to the sink worker process.
        self._target: Sink = isolated(sink)
        encode = getattr(self._target, "encode", None)
        self._encode: Callable[[list[SinkItem]], list[Any]] | None = (
            encode if callable(encode) else None
        )
        self._buf: collections.deque[_Entry] = collections.deque()
        self._count = 0  # items in the buffer (lists count their length; markers none)
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()  # a close or a full buffer: write without lingering
        interval = getattr(sink, "batch_interval", DEFAULT_BATCH_INTERVAL)
        self._linger = float(interval) if isinstance(interval, int | float) else 0.0
        self._idle = True
        self._closes = 0  # close markers queued: flush them without lingering
        self._room: asyncio.Future[None] | None = None
        self._room_waiter: _Room | None = None
        self._refs = 0
        self._errors: dict[str, BaseException] = {}
        self._drops: dict[str, int] = {}
        self._grew = False
        self._task: asyncio.Task[None] | None = None
        self._done = False

    @property
    def done(self) -> bool:
        """True once the task has drained everything and ended."""
        return self._done

    def acquire(self) -> None:
        """An owner starts using the runner (starts the task if needed)."""
        self._refs += 1
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name=f"arkor-sink-{self.name}")

    def release(self) -> None:
        """An owner is done; the task ends once nobody holds it and the buffer is empty."""
        self._refs -= 1
        if self._refs <= 0:
            self._urgent.set()
            self._wakeup()

    def _wakeup(self) -> None:
        if self._idle:
            self._idle = False
            self._wake.set()

    def open(self, job: TrainingJob) -> None:
        """Queue ``open(job)``: never dropped."""
        self._buf.append(_Open(job))
        self._wakeup()

    def put(self, item: SinkItem) -> Awaitable[None] | None:
        """Queue one item: [`put_many`][arkor_rx.sinks._runner.SinkRunner.put_many] of one."""
        return self.put_many([item])

    def put_many(self, items: list[SinkItem], *, tail_only: bool = False) -> Awaitable[None] | None:
        """Queue consecutive items of one run at once: one buffer entry for the whole list.

        The list is kept as it is (not copied), so the caller must not change
        it afterwards; many runners may share it. Items past the buffer's room
        follow the overflow policy. A sink with an ``encode`` method has the
        kept items encoded here, right away (see the module rules).
        ``tail_only=True`` says that no item but the last can end the run (the
        caller cut the run there), so a full ``"drop"`` buffer looks at the
        last item only for a terminal event to keep.

        Returns:
            None, or (overflow ``"block"`` with a full buffer) an awaitable
            that resolves when there is room; the items are kept either way.
        """
        room = self.buffer_size - self._count
        if len(items) <= room:
            if items:
                self._keep(items)
            return None
        return self._overflow(items, room, tail_only)

    def _overflow(
        self, items: list[SinkItem], room: int, tail_only: bool
    ) -> Awaitable[None] | None:
        if self.overflow == "block":
            self._urgent.set()  # past its bound: drain without lingering
            if not self._keep(items):
                return None  # nothing was kept (encode failed): nothing to wait for
            room_waiter = self._room_waiter
            if room_waiter is None:
                self._room = self._loop.create_future()
                room_waiter = self._room_waiter = _Room(self._room, self._urgent)
            return room_waiter
        if room > 0:
            kept, rest = items[:room], items[room:]
        else:
            kept, rest = [], items
        terminals: list[SinkItem] = []
        if tail_only:
            if _is_terminal(type(rest[-1])):
                terminals = rest[-1:]
        elif any(map(_is_terminal, set(map(type, rest)))):
            terminals = [item for item in rest if getattr(item, "terminal", False)]
        kept += terminals  # a run's end is never dropped
        if kept:
            self._keep(kept)
        dropped = len(rest) - len(terminals)
        if dropped:
            self._dropped(rest[0].job_id, dropped)
        return None

    def _keep(self, items: list[SinkItem]) -> bool:
        """Buffer ``items`` (encoded, for a sink with ``encode``); False when encode failed."""
        job_id = items[0].job_id
        encode = self._encode
        if encode is None:
            chunk = _Chunk(job_id, items, len(items))
        else:
            try:
                chunk = _Chunk(job_id, encode(items), len(items))
            except Exception as exc:  # counted like a failed write: the items are lost
                self._failed("encode", job_id, exc)
                return False
        self._buf.append(chunk)
        self._count += chunk.count
        if self._idle:
            self._idle = False
            self._wake.set()
        return True

    def _dropped(self, job_id: str, count: int) -> None:
        self.stats.dropped += count
        before = self._drops.get(job_id, 0)
        if before == 0:
            logger.warning(
                "sink %s is behind: its buffer of %d items is full, dropping items of job %s",
                self.name,
                self.buffer_size,
                job_id,
            )
        self._drops[job_id] = before + count

    def close(self, outcome: Outcome) -> asyncio.Future[BaseException | None]:
        """Queue ``close(outcome)``: never dropped.

        Returns:
            A future resolved once the sink's ``close`` returned, with the
            run's first error when the sink has ``fail_on_error`` (else None).
        """
        future: asyncio.Future[BaseException | None] = self._loop.create_future()
        self._buf.append(_Close(outcome, future))
        self._closes += 1
        self._urgent.set()
        self._wakeup()
        return future

    async def _run(self) -> None:
        buf = self._buf
        try:
            while True:
                if not buf:
                    self._free_room()
                    if self._refs <= 0:
                        return
                    self._idle = True
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                head = buf[0]
                if isinstance(head, _Open):
                    buf.popleft()
                    await self._call("open", head.job.id, self._target.open, head.job)
                elif isinstance(head, _Close):
                    buf.popleft()
                    self._closes -= 1
                    await self._closed(head)
                else:
                    await self._gather()
                    await self._write(buf)
        finally:
            self._done = True
            self._free_room()
            _RUNNERS.pop((id(self.sink), self._loop), None)
            for entry in buf:  # cancelled with work left: owners must not hang
                if isinstance(entry, _Close) and not entry.future.done():
                    entry.future.set_result(None)

    async def _gather(self) -> None:
        """Let a batch gather, up to the interval, unless something is urgent."""
        if self._linger > 0 and not self._urgent.is_set() and not self._closes and self._refs > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._linger):
                    await self._urgent.wait()
        self._urgent.clear()

    async def _write(self, buf: collections.deque[_Entry]) -> None:
        stats = self.stats
        stats.high_water = max(stats.high_water, self._count)
        # A batch takes up to a buffer's worth; a buffer past its bound (a push
        # source that cannot wait) is taken whole, so that it cannot grow for long.
        limit = self.buffer_size
        if self._count > limit:
            limit = self._count
            if not self._grew:
                self._grew = True
                logger.warning(
                    "sink %s (overflow %r) holds %d items, past its bound of %d: "
                    "the source cannot wait, so the buffer grows rather than lose items",
                    self.name,
                    self.overflow,
                    self._count,
                    self.buffer_size,
                )
        first = buf.popleft()
        assert isinstance(first, _Chunk)  # the task checked the head
        job_id = first.job_id
        batch = first.items
        count = first.count
        if buf and type(buf[0]) is _Chunk:
            batch = list(batch)  # more chunks join it: a copy, as the lists are shared
            while buf and count < limit:
                entry = buf[0]
                if type(entry) is not _Chunk or entry.job_id != job_id:
                    break
                buf.popleft()
                batch.extend(entry.items)
                count += entry.count
        self._count -= count
        if self._count < self.buffer_size:
            self._free_room()
        stats.batches += 1
        stats.written += count
        await self._call("write", job_id, self._target.write, batch)

    async def _closed(self, entry: _Close) -> None:
        outcome = entry.outcome
        job_id = outcome.job_id or ""
        await self._call("close", job_id, self._target.close, outcome)
        dropped = self._drops.pop(job_id, 0)
        if dropped:
            logger.warning(
                "sink %s dropped %d items of job %s (buffer %d full; overflow 'drop')",
                self.name,
                dropped,
                job_id,
                self.buffer_size,
            )
        error = self._errors.pop(job_id, None)
        if not entry.future.done():
            entry.future.set_result(error if self.fail_on_error else None)

    async def _call(self, what: str, job_id: str, fn: Any, arg: Any) -> None:
        try:
            await fn(arg)
        except Exception as exc:
            self._failed(what, job_id, exc)

    def _failed(self, what: str, job_id: str, exc: Exception) -> None:
        stats = self.stats
        stats.errors += 1
        stats.last_error = f"{type(exc).__name__}: {exc}"
        if job_id not in self._errors:
            self._errors[job_id] = exc
            logger.warning(
                "sink %s: %s for job %s failed: %s", self.name, what, job_id, stats.last_error
            )
        else:
            logger.debug("sink %s: %s for job %s failed again: %s", self.name, what, job_id, exc)

    def _free_room(self) -> None:
        room = self._room
        if room is not None:
            self._room = None
            self._room_waiter = None
            if not room.done():
                room.set_result(None)


_RUNNERS: dict[tuple[int, asyncio.AbstractEventLoop], SinkRunner] = {}
# Keyed by id(sink): a live runner holds a reference to its sink, so the id
# cannot be reused while the entry exists; the task removes it when it ends.


def runner_for(sink: Sink, loop: asyncio.AbstractEventLoop | None = None) -> SinkRunner:
    """The runner of ``sink`` on ``loop`` (the running one by default), created on first use.

    Raises:
        ConfigError: the sink's policy attributes are invalid.
        RuntimeError: no loop was given and none is running.
    """
    loop = loop if loop is not None else asyncio.get_running_loop()
    key = (id(sink), loop)
    runner = _RUNNERS.get(key)
    if runner is None or runner.done:
        runner = SinkRunner(sink, loop)
        _RUNNERS[key] = runner
    return runner


class SinkHub:
    """One owner's handle on several sinks: fan items out, close runs, wait for the flush.

    A Trainer holds one for its run; ``to_sink`` holds one per subscription
    (which may open many runs). ``put`` is the hot path.

    Examples:
        >>> async def main(sinks, job, events, outcome):  # doctest: +SKIP
        ...     hub = SinkHub(sinks)
        ...     hub.open(job)
        ...     for event in events:
        ...         if (wait := hub.put(event)) is not None:
        ...             await wait                  # a "block" sink is full
        ...     hub.close(outcome)
        ...     await hub.finish()                  # every sink closed the run
    """

    def __init__(self, sinks: Iterable[Sink], loop: asyncio.AbstractEventLoop | None = None):
        runners: list[SinkRunner] = []
        for sink in sinks:
            runner = runner_for(sink, loop)
            if runner not in runners:
                runners.append(runner)
        for runner in runners:
            runner.acquire()
        self._runners = tuple(runners)
        self._puts = tuple(r.put for r in runners)
        if len(runners) == 1:
            self.put = runners[0].put  # type: ignore[method-assign]  # one sink: no fan-out loop
        self._pending: list[asyncio.Future[BaseException | None]] = []
        self._finished = False

    @property
    def runners(self) -> Sequence[SinkRunner]:
        """The runners, one per distinct sink."""
        return self._runners

    def __bool__(self) -> bool:
        return bool(self._runners)

    def open(self, job: TrainingJob) -> None:
        """Every sink opens ``job``."""
        for runner in self._runners:
            runner.open(job)

    def put(self, item: SinkItem) -> Awaitable[None] | None:
        """Hand one item to every sink; an awaitable when a ``block`` sink is full."""
        waits: Awaitable[None] | None = None
        for put in self._puts:
            wait = put(item)
            if wait is not None:
                waits = wait if waits is None else _both(waits, wait)
        return waits

    def rooms_after(
        self, items: list[SinkItem], *, tail_only: bool = False
    ) -> list[Awaitable[None]]:
        """[`put_batch`][arkor_rx.sinks._runner.SinkHub.put_batch], with the full sinks' waiters
        as a list (empty when every sink had room)."""
        rooms = []
        for runner in self._runners:
            wait = runner.put_many(items, tail_only=tail_only)
            if wait is not None:
                rooms.append(wait)
        return rooms

    def put_batch(
        self, items: list[SinkItem], *, tail_only: bool = False
    ) -> Awaitable[None] | None:
        """Hand consecutive items of one run to every sink at once (the list is not copied).

        ``tail_only``: as for [`SinkRunner.put_many`][arkor_rx.sinks._runner.SinkRunner.put_many].

        Returns:
            As for ``put``: an awaitable when a ``block`` sink is full, else None.
        """
        waits: Awaitable[None] | None = None
        for wait in self.rooms_after(items, tail_only=tail_only):
            waits = wait if waits is None else _both(waits, wait)
        return waits

    def close(self, outcome: Outcome) -> None:
        """Every sink closes the run (queued behind its items)."""
        for runner in self._runners:
            self._pending.append(runner.close(outcome))

    async def flush(self) -> None:
        """Wait until every close queued so far was delivered; raise a ``fail_on_error`` error.

        Raises:
            Exception: the first error of a sink with ``fail_on_error=True``,
                once every sink has closed (the others are not cut short).
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        results = await asyncio.gather(*pending)
        for error in results:
            if error is not None:
                raise error

    async def finish(self) -> None:
        """[`flush`][arkor_rx.sinks._runner.SinkHub.flush], then release the runners
        (idempotent)."""
        try:
            await self.flush()
        finally:
            if not self._finished:
                self._finished = True
                for runner in self._runners:
                    runner.release()


GATHER_LIMIT = 256
"""Items a [`Gather`][arkor_rx.sinks._runner.Gather] holds before it hands them on at once."""


class Gather:
    """Items of a loop turn, handed to a [`SinkHub`][arkor_rx.sinks._runner.SinkHub] as one batch.

    The hot path of a producer that feeds sinks item by item: ``add`` is a
    list append (plus, for the first item of a turn, one ``call_soon``), so
    the cost per item does not grow with the number of sinks. The batch goes
    to every sink at the end of the loop turn, when it reaches
    [`GATHER_LIMIT`][arkor_rx.sinks._runner.GATHER_LIMIT] items, and before
    anything the producer queues itself (call ``flush`` before
    ``hub.open``/``hub.close``: markers stay in stream order).

    Args:
        hub: where the batches go.
        loop: the loop whose turn ends a batch.
        hand: what a batch is handed to instead (``to_sink``, whose batches may
            hold several runs, splits them there); by default every sink
            gets it, as one run's items, and a full ``block`` sink's waiter is
            kept in ``room``.
    """

    __slots__ = ("_hand", "_hub", "_loop", "_room", "_waiting", "items")

    def __init__(
        self,
        hub: SinkHub,
        loop: asyncio.AbstractEventLoop,
        hand: Callable[[list[SinkItem]], None] | None = None,
    ) -> None:
        self._hub = hub
        self._loop = loop
        self._hand = hand if hand is not None else self._to_every_sink
        self.items: list[SinkItem] = []
        """What was gathered so far, this turn. The same list for the Gather's
        life (a hand-off copies it), so a producer may append to it directly
        while it holds some items and fewer than
        [`GATHER_LIMIT`][arkor_rx.sinks._runner.GATHER_LIMIT]."""
        self._room: Awaitable[None] | None = None
        self._waiting: set[Awaitable[None]] = set()

    @property
    def room(self) -> Awaitable[None] | None:
        """Set when a ``block`` sink was full at a hand-off: a producer that can wait
        awaits it before its next item (after taking it with ``room = None``)."""
        return self._room

    @room.setter
    def room(self, value: Awaitable[None] | None) -> None:
        self._room = value
        if value is None:
            self._waiting.clear()

    def add(self, item: SinkItem) -> None:
        """Add one item (the hot path)."""
        items = self.items
        if not items:
            self._loop.call_soon(self.flush)  # the end of this loop turn
        elif len(items) >= GATHER_LIMIT:
            self.flush()  # a full turn's worth: hand it over now
            self._loop.call_soon(self.flush)
        items.append(item)

    def flush(self) -> None:
        """Hand what was gathered over now."""
        items = self.items
        if items:
            batch = items.copy()
            items.clear()
            self._hand(batch)

    def _to_every_sink(self, batch: list[SinkItem]) -> None:
        for room in self._hub.rooms_after(batch):
            # A full sink's waiter stays the same until it has room: keep each once.
            if self.room is None:
                self.room = room
            elif room is not self.room and room not in self._waiting:
                self.room = _both(self.room, room)
            self._waiting.add(room)


class _Room:
    """The awaitable of a full ``block`` buffer: awaiting it makes the sink write at once."""

    __slots__ = ("_future", "_urgent")

    def __init__(self, future: asyncio.Future[None], urgent: asyncio.Event) -> None:
        self._future = future
        self._urgent = urgent

    def __await__(self) -> Generator[Any, None, None]:
        self._urgent.set()  # a producer waits: no lingering (a push source never awaits)
        return self._future.__await__()


class _Both:
    """Two awaitables awaited in turn; nothing happens (and nothing warns) if never awaited."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Awaitable[None], second: Awaitable[None]) -> None:
        self._first = first
        self._second = second

    def __await__(self) -> Generator[Any, None, None]:
        yield from self._first.__await__()
        yield from self._second.__await__()


_both = _Both
