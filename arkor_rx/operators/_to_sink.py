"""``to_sink(sink, ...)``: pass events through and run the sinks on them, off the hot path.

Rule 1: ``open(job)`` happens at the first item of a job id; ``close`` at that
job's terminal event (``completed`` / ``failed``), at a ``StopDecision``
(every open job, ``stopped``) or a ``PruneDecision`` (its run, ``stopped``),
else when the source ends: completion closes the jobs still open as
``cancelled`` (the stream ended before the run did: a ``take``, a truncated
recording), an error as ``error``, a dispose as ``cancelled``.

Rule 2: ``RunEvent`` values (a sweep's merged stream) are unwrapped for the
sinks and labelled by their run (job id, name, config); the output still
carries the ``RunEvent``.

Rule 3 (fusion): applied right on ``trainer.events()`` (an
[`observe_async`][arkor_rx.stream.observe_async] Observable over an
``EventStream``), ``to_sink`` takes the stream's batches whole: each piece of
a network read (up to 32 KiB) goes to the sinks as one list once the
observer has had every event of it, with the frames' columns for a sink that
encodes from them (``sinks.JSONL``); no Python code runs per event. Anywhere
else it gathers the events of a loop turn. The sinks are handed the same
events either way: where the stream stops inside a piece, the events that
went through ``to_sink``.

Rule 4: the output's ``on_completed`` / ``on_error`` wait until every sink
has closed the run, so awaiting the output means the sinks have flushed. A
sink with ``fail_on_error=True`` that failed turns a completion into that
error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from operator import attrgetter, length_hint
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from arkor_rx._loop import loop_of
from arkor_rx._observe import Pumped
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
    UnknownEvent,
)
from arkor_rx.jobs import TrainingJob
from arkor_rx.runs import PruneDecision, RunEvent
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import Outcome, OutcomeKind, Sink, SinkItem, WireBatch
from arkor_rx.sinks._runner import GATHER_LIMIT, Gather, SinkHub
from arkor_rx.stopping import StopDecision

__all__ = ["to_sink"]

_T = TypeVar("_T")

_PLAIN: frozenset[type[Any]] = frozenset(
    {
        TrainingStarted,
        TrainingLog,
        CheckpointSaved,
        TrainingCompleted,
        TrainingFailed,
        UnknownEvent,
        SamplesAnswered,
    }
)
_TERMINAL: frozenset[type[Any]] = frozenset({TrainingCompleted, TrainingFailed})
_job_id_of = attrgetter("job_id")
_KEEP: set[asyncio.Task[None]] = set()  # finishing tasks of disposed subscriptions


def to_sink(
    sink: Sink, *more: Sink, name: str | None = None
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Pass every item through and run the sinks on the events (see the module rules)."""
    sinks = (sink, *more)

    def operator(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            loop = loop_of(scheduler)
            if loop is None:
                observer.on_error(
                    RuntimeError("to_sink runs its sinks on asyncio: subscribe in a running loop")
                )
                return Disposable()
            try:
                hub = SinkHub(sinks, loop)
            except Exception as exc:
                observer.on_error(exc)
                return Disposable()
            jobs: dict[str, TrainingJob] = {}
            ended = False

            def begin(job_id: str, run: Any) -> None:
                if run is not None:
                    job = TrainingJob(
                        id=job_id, name=run.name, config=dict(run.config), status="running"
                    )
                else:
                    job = TrainingJob(id=job_id, name=name or "", status="running")
                jobs[job_id] = job
                hub.open(job)

            def end(job_id: str, kind: OutcomeKind, **extra: Any) -> None:
                job = jobs.pop(job_id, None)
                if job is None:
                    return
                status = {"completed": "completed", "failed": "failed"}.get(kind, "cancelled")
                job = job.model_copy(update={"status": status})
                hub.close(Outcome(kind, job_id=job_id, job=job, **extra))

            def hand(job_id: str, items: list[SinkItem]) -> None:
                if job_id not in jobs:
                    begin(job_id, None)
                hub.put_batch(items, tail_only=True)  # split cuts a run after its end
                last = items[-1]
                if type(last) is TrainingCompleted:
                    end(job_id, "completed")
                elif type(last) is TrainingFailed:
                    end(job_id, "failed", error=last.error)

            def split(batch: list[SinkItem]) -> None:
                # Runs and ends are found here, for the whole turn, by C-level passes,
                # not per item: the hot path touches nothing but the item's type.
                ids = list(map(_job_id_of, batch))
                kinds = list(map(type, batch))
                if ids.count(ids[0]) == len(ids) and _TERMINAL.isdisjoint(kinds):
                    hand(ids[0] or "", batch)  # one run, going on: the common case
                    return
                start = 0
                for i, (job_id, kind) in enumerate(zip(ids, kinds, strict=True)):
                    if kind in _TERMINAL or i + 1 == len(ids) or ids[i + 1] != job_id:
                        hand(job_id or "", batch[start : i + 1])
                        start = i + 1

            tap: _Tap | None = None  # set below when fused with the stream (Rule 3)
            gather = Gather(hub, loop, hand=split)  # a loop turn's items at once

            def flush() -> None:
                if tap is not None:
                    tap.partial()  # a fused stream's batch, as far as it went
                gather.flush()

            pending = gather.items  # the same list for the whole subscription
            append = pending.append

            def on_next(item: _T) -> None:
                if type(item) in _PLAIN and not ended:
                    if pending and len(pending) < GATHER_LIMIT:
                        append(item)  # type: ignore[arg-type]  # the hot path: one append
                    else:
                        gather.add(item)  # type: ignore[arg-type]  # the first of a loop turn
                    observer.on_next(item)
                    return
                if ended:
                    return
                flush()  # what came before, before what this item does
                if isinstance(item, RunEvent):
                    event = item.event
                    job_id = event.job_id or item.run.job_id or ""
                    if job_id not in jobs:
                        begin(job_id, item.run)
                    if event.job_id:
                        gather.add(event)
                    else:  # an event without its job id: handed over alone, labelled by the run
                        hand(job_id, [event])
                elif isinstance(item, PruneDecision):
                    if item.run.job_id is not None:
                        end(item.run.job_id, "stopped", stop=item.decision)
                elif isinstance(item, StopDecision):
                    for job_id in list(jobs):
                        end(job_id, "stopped", stop=item)
                observer.on_next(item)

            def end_all(kind: OutcomeKind, error: str | None = None) -> None:
                flush()
                for job_id in list(jobs):
                    end(job_id, kind, error=error)

            def after_flush(then: Callable[[BaseException | None], None]) -> None:
                async def run() -> None:
                    error: BaseException | None = None
                    try:
                        await hub.finish()
                    except Exception as exc:
                        error = exc
                    try:
                        then(error)
                    except Exception as unhandled:  # an observer without on_error re-raises
                        loop.call_exception_handler(
                            {"message": "unhandled error after to_sink", "exception": unhandled}
                        )

                task = loop.create_task(run())
                _KEEP.add(task)
                task.add_done_callback(_KEEP.discard)

            def on_completed() -> None:
                nonlocal ended
                if ended:
                    return
                ended = True
                end_all("cancelled")

                def then(exc: BaseException | None) -> None:
                    if exc is None:
                        observer.on_completed()
                    else:
                        observer.on_error(exc)  # type: ignore[arg-type]

                after_flush(then)

            def on_error(error: Exception) -> None:
                nonlocal ended
                if ended:
                    return
                ended = True
                end_all("error", f"{type(error).__name__}: {error}")
                after_flush(lambda _exc: observer.on_error(error))

            if isinstance(source, Pumped):  # Rule 3
                tap = _Tap(split, hand, on_next)
                upstream = source.subscribe_tapped(
                    observer.on_next, on_error, on_completed, tap, scheduler
                )
            else:
                upstream = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)

            def dispose() -> None:
                nonlocal ended
                upstream.dispose()
                if not ended:
                    ended = True
                    end_all("cancelled")
                    after_flush(lambda _exc: None)

            return Disposable(dispose)

        return Observable(subscribe)

    return operator


class _Tap:
    """The batches of a fused stream, handed over whole (Rule 3)."""

    __slots__ = ("_batch", "_hand", "_split", "each")

    def __init__(
        self,
        split: Callable[[list[SinkItem]], None],
        hand: Callable[[str, list[SinkItem]], None],
        each: Callable[[Any], None],
    ) -> None:
        self._split = split  # a batch that may hold several runs
        self._hand = hand  # one run's items (ending it when the last is terminal)
        self._batch: Any = None
        self.each = each  # to_sink's own on_next, for an iterator without batches

    def begin(self, batch: Any) -> None:
        self._batch = batch

    def end(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None or not batch.events:
            return
        events = batch.events
        columns = batch.columns()
        if columns is None:  # planned frame by frame
            self._split(events)
            return
        # A chunk planned whole stops at its first terminal event: only the last
        # can end the run, so one pass over the job ids is left to do.
        ids = list(map(_job_id_of, events))
        if ids.count(ids[0]) == len(ids):
            self._hand(ids[0] or "", WireBatch(events, columns))
        else:
            self._split(events)

    def partial(self) -> None:
        """Hand what the observer had of the current batch (the stream ended inside it)."""
        batch, self._batch = self._batch, None
        if batch is not None:
            taken = len(batch.events) - length_hint(batch.iterator)
            if taken > 0:
                self._split(batch.events[:taken])
