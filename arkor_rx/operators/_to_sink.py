"""``to_sink(sink, ...)``: pass events through and run the sinks on them, off the hot path.

Rule 1: ``open(job)`` happens at the first item of a job id; ``close`` at that
job's terminal event (``completed`` / ``failed``), at a ``StopDecision``
(every open job, ``stopped``) or a ``PruneDecision`` (its run, ``stopped``),
else when the source ends: completion closes the jobs still open as
``cancelled`` (the stream ended before the run did: a ``take``, a truncated
recording), an error as ``error``, a dispose as ``cancelled``. The
bookkeeping is [`SinkHub`][arkor_rx.sinks.SinkHub]'s, as for the Trainer and the CLI.

Rule 2: ``RunEvent`` values (a sweep's merged stream) are unwrapped for the
sinks and labelled by their run (job id, name, config); the output still
carries the ``RunEvent``.

Rule 3: the source cannot be made to wait, so a full ``"block"`` sink's
queue grows rather than lose anything; every item reaches every sink.

Rule 4: the output's ``on_completed`` / ``on_error`` wait until every sink
has closed the run, so awaiting the output means the sinks have flushed. A
sink with ``fail_on_error=True`` that failed turns a completion into that
error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from arkor_rx._loop import loop_of
from arkor_rx.events import EVENT_CLASSES
from arkor_rx.jobs import TrainingJob
from arkor_rx.runs import PruneDecision, RunEvent
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import OutcomeKind, Sink
from arkor_rx.sinks._hub import SinkHub
from arkor_rx.stopping import StopDecision

__all__ = ["to_sink"]

_T = TypeVar("_T")

_PLAIN: frozenset[type[Any]] = frozenset({*EVENT_CLASSES, SamplesAnswered})
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
            try:
                if loop is None:
                    raise RuntimeError(
                        "to_sink runs its sinks on asyncio: subscribe in a running loop"
                    )
                hub = SinkHub(sinks, loop, name=name or "", close_at_end=True)
            except Exception as exc:  # no loop, or a sink's bad policy attributes
                observer.on_error(exc)
                return Disposable()
            feed = _Feed(hub, observer, loop)
            upstream = source.subscribe(
                feed.on_next, feed.on_error, feed.on_completed, scheduler=scheduler
            )

            def dispose() -> None:
                upstream.dispose()
                feed.end("cancelled", lambda _exc: None)

            return Disposable(dispose)

        return Observable(subscribe)

    return operator


class _Feed(Generic[_T]):
    """One subscription's items to the sinks, and its end (Rules 1 and 4)."""

    def __init__(
        self, hub: SinkHub, observer: abc.ObserverBase[_T], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._hub = hub
        self._observer = observer
        self._loop = loop
        self._ended = False

    def on_next(self, item: _T) -> None:
        if not self._ended:
            if type(item) in _PLAIN:
                self._hub.put(item)  # type: ignore[arg-type]  # an event or samples
            else:
                _other(self._hub, item)
        self._observer.on_next(item)

    def on_completed(self) -> None:
        observer = self._observer
        self.end(
            "cancelled",
            lambda exc: observer.on_completed() if exc is None else observer.on_error(exc),
        )

    def on_error(self, error: Exception) -> None:
        observer = self._observer
        why = f"{type(error).__name__}: {error}"
        self.end("error", lambda _exc: observer.on_error(error), error=why)

    def end(
        self, kind: OutcomeKind, then: Callable[[Exception | None], None], **extra: Any
    ) -> None:
        """Close the runs still open as ``kind``; ``then(error)`` once every sink closed."""
        if self._ended:
            return
        self._ended = True
        self._hub.end_all(kind, **extra)
        task = self._loop.create_task(_finish(self._hub, then, self._loop))
        _KEEP.add(task)
        task.add_done_callback(_KEEP.discard)


def _other(hub: SinkHub, item: object) -> None:
    """What a run's event in a sweep, or a decision, does to the sinks' runs."""
    if isinstance(item, RunEvent):
        event, run = item.event, item.run
        job_id = event.job_id or run.job_id or ""
        if not event.job_id:  # labelled by its run: every item a sink gets has its job id
            event = event.model_copy(update={"job_id": job_id})
        if job_id in hub:
            hub.put(event)
        else:
            config = dict(run.config)
            hub.put(event, TrainingJob(id=job_id, name=run.name, config=config, status="running"))
    elif isinstance(item, PruneDecision):
        if item.run.job_id is not None:
            hub.end(item.run.job_id, "stopped", stop=item.decision)
    elif isinstance(item, StopDecision):
        hub.end_all("stopped", stop=item)


async def _finish(
    hub: SinkHub, then: Callable[[Exception | None], None], loop: asyncio.AbstractEventLoop
) -> None:
    error: Exception | None = None
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
