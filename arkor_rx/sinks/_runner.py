"""The sink runner: one bounded queue and one asyncio task per sink.

Rule 1: a producer's cost per item is an append to each sink's queue. The
sink's task takes whatever is queued as its next batch: what arrived while
the previous ``write`` was in flight. No timer, no linger: an idle sink
writes an item at once, a busy one writes what piled up in one call. A sink
that calls a blocking library hops to a thread once per batch, inside its
``write`` (``asyncio.to_thread``).

Rule 2: one [`SinkRunner`][arkor_rx.sinks._runner.SinkRunner] per sink
instance and event loop, shared by every owner (Trainers, ``to_sink``
subscriptions, the CLI) while any of them holds it. So many runs share one
sink, and its calls never overlap: the task calls ``open``, ``write`` and
``close`` one at a time, in queue order.

Rule 3: overflow. The queue holds ``buffer_size`` items. ``"block"`` (the
default): an item that finds it full is kept anyway, and ``put`` returns an
awaitable that resolves once the task took the queue; a producer that can
wait (the Trainer's loop, the CLI) awaits it before its next item, so the
stream waits and nothing is lost. A push source that cannot wait (an
Observable behind ``to_sink``) does not await it: the queue grows past its
bound (logged once) and still nothing is lost. ``"drop"``: the item is
dropped and counted in ``sink.stats.dropped`` (a warning at the first drop
of a run, a summary at its close); a run's terminal event is never dropped.

Rule 4: ``open`` and ``close`` markers are never dropped, so a run's close
is always delivered, even after errors. Nor is a ``reconnected`` marker,
queued only for a sink that has the optional ``reconnected`` method (see
[`Sink`][arkor_rx.sinks.Sink]).

Rule 5: a deadline. A call of the sink (``open``, ``write``, ``close``)
that has not returned after ``close_deadline`` seconds (a sink attribute,
[`CLOSE_DEADLINE`][arkor_rx.sinks._runner.CLOSE_DEADLINE] by default) no
longer holds up its owner's flush: the owner returns the run's outcome, and
the sink's error is counted and logged (the call goes on in the background).
A sink that makes progress, batch after batch, is waited for however long
its queue takes.

Rule 6: an error from ``open``/``write``/``close`` is logged (the first of a
run as a warning), counted in ``sink.stats``, and the sink keeps receiving
the run. It is charged to the runs it hurt: the run of an ``open`` or
``close``; for a ``write``, the runs a [`RunErrors`][arkor_rx.sinks.RunErrors]
names, else every run of the batch. With ``fail_on_error=True`` a run's close
future resolves to its first error, and the owner raises it once every sink
has closed the run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from arkor_rx.events import TrainingCompleted, TrainingFailed
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import (
    Outcome,
    RunErrors,
    Sink,
    SinkItem,
    SinkStats,
    sink_name,
    sink_policy,
)
from arkor_rx.sinks._scrub import scrub_text

__all__ = ["CLOSE_DEADLINE", "SinkRunner", "runner_for"]

logger = logging.getLogger("arkor_rx.sinks")

_TERMINAL = (TrainingCompleted, TrainingFailed)

CLOSE_DEADLINE = 30.0
"""Seconds one call of a sink may take before a flush stops waiting for it (Rule 5)."""


class _Open:
    __slots__ = ("job",)

    def __init__(self, job: TrainingJob) -> None:
        self.job = job


class _Close:
    __slots__ = ("future", "outcome")

    def __init__(self, outcome: Outcome, future: asyncio.Future[BaseException | None]) -> None:
        self.outcome = outcome
        self.future = future


class _Reconnected:
    __slots__ = ("job_id", "reconnects")

    def __init__(self, job_id: str, reconnects: int) -> None:
        self.job_id = job_id
        self.reconnects = reconnects


_MARKERS = (_Open, _Close, _Reconnected)

_Entry: TypeAlias = "SinkItem | _Open | _Close | _Reconnected"


class SinkRunner:
    """Drive one sink from its own bounded queue in its own task (see the module rules).

    Get one with [`runner_for`][arkor_rx.sinks._runner.runner_for] rather than
    building it: two runners on one sink would call it concurrently.

    Args:
        sink: the sink; its ``overflow``, ``fail_on_error`` and ``buffer_size``
            attributes are read here, with the defaults ``"block"``, False, 1024.
        loop: the loop its task runs on.
    """

    def __init__(self, sink: Sink, loop: asyncio.AbstractEventLoop) -> None:
        self.sink = sink
        self.name = sink_name(sink)
        self.overflow, self.fail_on_error, self.buffer_size = sink_policy(sink)
        stats = getattr(sink, "stats", None)
        if not isinstance(stats, SinkStats):
            stats = SinkStats()
            with contextlib.suppress(AttributeError, TypeError):  # else kept here only
                sink.stats = stats  # type: ignore[attr-defined]
        self.stats: SinkStats = stats
        self._loop = loop
        self._queue: collections.deque[_Entry] = collections.deque()
        self._count = 0  # items queued (markers not counted)
        self._wake = asyncio.Event()
        self._room: asyncio.Future[None] | None = None
        self._refs = 0
        self._errors: dict[str, BaseException] = {}
        self._open: collections.Counter[str] = collections.Counter()  # opened, close not done
        self._drops: dict[str, int] = {}
        self._grew = False
        self._task: asyncio.Task[None] | None = None
        self._since: float | None = None  # when the call in flight started
        deadline = getattr(sink, "close_deadline", CLOSE_DEADLINE)
        self.deadline = float(deadline) if isinstance(deadline, int | float) else CLOSE_DEADLINE
        """Seconds one call may take before a flush stops waiting for it (Rule 5)."""
        self.done = False
        """True once the task drained everything and ended."""

    def acquire(self) -> None:
        """An owner starts using the runner (starts the task if needed)."""
        self._refs += 1
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name=f"arkor-sink-{self.name}")

    def release(self) -> None:
        """An owner is done; the task ends once nobody holds it and the queue is empty."""
        self._refs -= 1
        self._wake.set()

    def open(self, job: TrainingJob) -> None:
        """Queue ``open(job)``: never dropped."""
        self._open[job.id] += 1  # until its close is done
        self._queue.append(_Open(job))
        self._wake.set()

    def put(self, item: SinkItem) -> Awaitable[None] | None:
        """Queue one item (the hot path).

        Returns:
            None, or (overflow ``"block"``, queue full) an awaitable that
            resolves once the task took the queue; the item is kept either way.
        """
        if self._count >= self.buffer_size:
            return self._full(item)
        self._queue.append(item)
        self._count += 1
        self._wake.set()
        return None

    def _full(self, item: SinkItem) -> Awaitable[None] | None:
        if self.overflow == "drop" and not isinstance(item, _TERMINAL):
            self._dropped(item.job_id)
            return None
        self._queue.append(item)  # "block", or a run's end: kept past the bound
        self._count += 1
        self._wake.set()
        if self.overflow == "drop":
            return None
        if self._count > self.buffer_size + 1 and not self._grew:
            self._grew = True
            logger.info(
                "sink %s holds %d items, past its bound of %d: the source does not wait, "
                "so the queue grows rather than lose items",
                self.name,
                self._count,
                self.buffer_size,
            )
        if self._room is None:
            self._room = self._loop.create_future()
        return self._room

    def _dropped(self, job_id: str) -> None:
        self.stats.dropped += 1
        before = self._drops.get(job_id, 0)
        if before == 0:
            logger.warning(
                "sink %s is behind: its queue of %d items is full, dropping items of job %s",
                self.name,
                self.buffer_size,
                job_id,
            )
        self._drops[job_id] = before + 1

    def reconnected(self, job_id: str, reconnects: int) -> None:
        """Queue ``reconnected(job_id, reconnects)`` for a sink that has it: never dropped."""
        if callable(getattr(self.sink, "reconnected", None)):
            self._queue.append(_Reconnected(job_id, reconnects))
            self._wake.set()

    def close(self, outcome: Outcome) -> asyncio.Future[BaseException | None]:
        """Queue ``close(outcome)``: never dropped.

        Returns:
            A future resolved once the sink's ``close`` returned, with the
            run's first error when the sink has ``fail_on_error`` (else None).
        """
        future: asyncio.Future[BaseException | None] = self._loop.create_future()
        self._queue.append(_Close(outcome, future))
        self._wake.set()
        return future

    async def _run(self) -> None:
        queue = self._queue
        try:
            while True:
                if not queue:
                    if self._refs <= 0:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                head = queue[0]
                if isinstance(head, _Open):
                    queue.popleft()
                    await self._call("open", head.job.id, self.sink.open, head.job)
                elif isinstance(head, _Close):
                    queue.popleft()
                    await self._closed(head)
                elif isinstance(head, _Reconnected):
                    queue.popleft()
                    await self._call("reconnected", head.job_id, self._reconnected, head)
                else:
                    await self._write(self._take())
        finally:
            self.done = True
            self._free_room()
            _RUNNERS.pop((id(self.sink), self._loop), None)
            for entry in queue:  # cancelled with work left: owners must not hang
                if isinstance(entry, _Close) and not entry.future.done():
                    entry.future.set_result(None)

    def _take(self) -> list[SinkItem]:
        """The items at the head of the queue, up to the next marker: the next batch."""
        queue = self._queue
        batch: list[SinkItem] = []
        append = batch.append
        popleft = queue.popleft
        while queue and not isinstance(queue[0], _MARKERS):
            append(popleft())  # type: ignore[arg-type]  # not a marker: checked above
        self._count -= len(batch)
        self._free_room()
        return batch

    async def _write(self, batch: list[SinkItem]) -> None:
        stats = self.stats
        stats.high_water = max(stats.high_water, len(batch))
        stats.batches += 1
        stats.written += len(batch)
        await self._call("write", None, self.sink.write, batch)

    async def _reconnected(self, entry: _Reconnected) -> None:
        await self.sink.reconnected(entry.job_id, entry.reconnects)  # type: ignore[attr-defined]

    async def _closed(self, entry: _Close) -> None:
        job_id = entry.outcome.job_id or ""
        await self._call("close", job_id, self.sink.close, entry.outcome)
        dropped = self._drops.pop(job_id, 0)
        if dropped:
            logger.warning(
                "sink %s dropped %d items of job %s (queue of %d full; overflow 'drop')",
                self.name,
                dropped,
                job_id,
                self.buffer_size,
            )
        error = self._errors.pop(job_id, None)
        self._open[job_id] -= 1
        if self._open[job_id] <= 0:
            del self._open[job_id]
        if not entry.future.done():
            entry.future.set_result(error if self.fail_on_error else None)

    async def _call(
        self, what: str, job_id: str | None, method: Callable[[Any], Awaitable[None]], arg: Any
    ) -> None:
        """Call the sink; an error is charged to ``job_id``, or (None) to the runs of the batch
        ``arg``, found only then."""
        self._since = self._loop.time()
        try:
            await method(arg)
        except Exception as exc:
            if job_id is not None:
                self.failed(what, (job_id,), exc)
            else:  # a write: the runs of its batch, in order
                self.failed(what, list(dict.fromkeys(item.job_id for item in arg)), exc)
        finally:
            self._since = None

    def failed(self, what: str, job_ids: Sequence[str], exc: Exception) -> None:
        """Count a failed call of the sink and charge its error to the runs it hurt.

        ``job_ids`` are the call's runs: the run of an ``open`` or ``close``, the
        runs of a ``write``'s batch. A write's [`RunErrors`][arkor_rx.sinks.RunErrors]
        names the runs it failed for, each with its own error; any other error is
        charged to every one of the call's runs.
        """
        assert not isinstance(job_ids, str), "job_ids is a sequence of job ids"
        self.stats.errors += 1
        if what == "write" and isinstance(exc, RunErrors):
            for job_id, error in exc.errors.items():
                self._charge(what, job_id, error)
        else:
            for job_id in job_ids:
                self._charge(what, job_id, exc)

    def _charge(self, what: str, job_id: str, exc: Exception) -> None:
        """Log a run's error (its first as a warning); keep the first for its close."""
        stats = self.stats
        stats.last_error = scrub_text(f"{type(exc).__name__}: {exc}")
        if job_id not in self._open:  # not a run of this sink: nothing would ever pop it
            logger.warning(
                "sink %s: %s failed for job %s, which is not open here: %s",
                self.name,
                what,
                job_id,
                stats.last_error,
            )
        elif job_id not in self._errors:
            self._errors[job_id] = exc
            logger.warning(
                "sink %s: %s for job %s failed: %s", self.name, what, job_id, stats.last_error
            )
        else:
            again = scrub_text(str(exc))
            logger.debug("sink %s: %s for job %s failed again: %s", self.name, what, job_id, again)

    def stuck(self) -> bool:
        """Whether the call in flight has run past the deadline (Rule 5)."""
        since = self._since
        return since is not None and self._loop.time() - since >= self.deadline

    def _free_room(self) -> None:
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)


_RUNNERS: dict[tuple[int, asyncio.AbstractEventLoop], SinkRunner] = {}
# Keyed by id(sink): a live runner holds its sink, so the id cannot be reused
# while the entry exists; the task removes the entry when it ends.


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
