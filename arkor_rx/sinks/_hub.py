"""``SinkHub``: one owner's sinks, and the runs it opened in them.

The one place that opens a run at its first item and closes it at its end,
used by the Trainer, ``aop.to_sink`` and the CLI alike.

Rule 1: ``put(item)`` opens the item's run in every sink first if this hub
has not opened it yet (with the job given, or one named by the hub), then
hands the item to every sink's runner.

Rule 2: with ``close_at_end=True`` (``to_sink``, the CLI) a run is closed at
its terminal event, as ``completed`` or ``failed``. A Trainer closes its run
itself, with the outcome it knows (a stop decision, the reconnects).
``end(job_id, kind)`` and ``end_all(kind)`` close runs that ended otherwise;
closing a run that is not open does nothing.

Rule 3: ``reconnected(job_id, n)`` hands a run's reconnect count, as it
grows, to the sinks that take it (``reconnected``, optional: see
[`Sink`][arkor_rx.sinks.Sink]); a count given
before the run opened is handed on when it opens. The run's ``Outcome``
carries the last count (or the owner's, if larger).

Rule 4: ``finish()`` waits until every sink closed every run closed so far,
then releases the runners; a ``fail_on_error`` sink's error is raised then,
once every sink has closed. A sink whose call has not returned within its
deadline is not waited for (see [`arkor_rx.sinks._runner`][arkor_rx.sinks._runner],
Rule 5): its error is counted, and the others' outcome stands.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Generator, Iterable, Sequence
from typing import Any

from arkor_rx.events import TrainingCompleted, TrainingFailed
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import Outcome, OutcomeKind, Sink, SinkItem
from arkor_rx.sinks._runner import SinkRunner, runner_for
from arkor_rx.sinks._scrub import scrub_item, scrub_job, scrub_outcome

__all__ = ["SinkHub"]

_STATUS = {"completed": "completed", "failed": "failed"}


class SinkHub:
    """One owner's handle on several sinks: open runs, fan items out, close runs, flush.

    Examples:
        >>> async def main(sinks, events):  # doctest: +SKIP
        ...     hub = SinkHub(sinks, close_at_end=True)
        ...     for event in events:
        ...         if (wait := hub.put(event)) is not None:
        ...             await wait                 # a "block" sink is full
        ...     hub.end_all("cancelled")           # runs the stream left unfinished
        ...     await hub.finish()                 # every sink closed every run

    Args:
        sinks: the sinks (one runner each; a sink given twice is used once).
        loop: the loop the sinks run on (the running one by default).
        name: the name of a run opened by its first item without a job.
        close_at_end: close a run at its terminal event (Rule 2).
    """

    def __init__(
        self,
        sinks: Iterable[Sink],
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        name: str = "",
        close_at_end: bool = False,
    ) -> None:
        runners: list[SinkRunner] = []
        for sink in sinks:
            runner = runner_for(sink, loop)
            if runner not in runners:
                runners.append(runner)
        for runner in runners:
            runner.acquire()
        self._runners = tuple(runners)
        self._puts = tuple(runner.put for runner in runners)
        self._name = name
        self._close_at_end = close_at_end
        self._open: dict[str, TrainingJob] = {}
        self._reconnects: dict[str, int] = {}  # the count of each run, open or about to be
        self._pending: dict[asyncio.Future[BaseException | None], tuple[SinkRunner, str]] = {}
        self._finished = False

    @property
    def runners(self) -> Sequence[SinkRunner]:
        """The runners, one per distinct sink."""
        return self._runners

    def __bool__(self) -> bool:
        return bool(self._runners)

    def __contains__(self, job_id: object) -> bool:
        """Whether the run of ``job_id`` is open in this hub."""
        return job_id in self._open

    def open(self, job: TrainingJob) -> None:
        """Every sink opens ``job`` (once: a run already open is left as it is)."""
        if job.id in self._open:
            return
        job = scrub_job(job)  # no secret a server echoed reaches a sink (_scrub, Rule 1)
        self._open[job.id] = job
        reconnects = self._reconnects.get(job.id, 0)
        for runner in self._runners:
            runner.open(job)
            if reconnects:
                runner.reconnected(job.id, reconnects)

    def reconnected(self, job_id: str, reconnects: int) -> None:
        """The event stream of ``job_id`` was opened again: its count is now ``reconnects``
        (Rule 3). A count that does not grow is ignored."""
        if reconnects <= self._reconnects.get(job_id, 0):
            return
        self._reconnects[job_id] = reconnects
        if job_id in self._open:
            for runner in self._runners:
                runner.reconnected(job_id, reconnects)

    def put(self, item: SinkItem, job: TrainingJob | None = None) -> Awaitable[None] | None:
        """Hand ``item`` to every sink, opening its run first (Rule 1).

        Args:
            item: an event (or checkpoint samples' answers) with its ``job_id``.
            job: the job to open the run with, when this is its first item.

        Returns:
            None, or an awaitable when a ``"block"`` sink is full: a producer
            that can wait awaits it before its next item.
        """
        item = scrub_item(item)
        job_id = item.job_id
        if job_id not in self._open:
            self.open(job if job is not None else self._job(job_id))
        wait: Awaitable[None] | None = None
        for put in self._puts:
            room = put(item)
            if room is not None:
                wait = room if wait is None else _Both(wait, room)
        if self._close_at_end and isinstance(item, TrainingCompleted | TrainingFailed):
            if isinstance(item, TrainingFailed):
                self.end(job_id, "failed", error=item.error)
            else:
                self.end(job_id, "completed")
        return wait

    def put_batch(self, items: Iterable[SinkItem]) -> Awaitable[None] | None:
        """[`put`][arkor_rx.sinks.SinkHub.put] each item in turn; the awaitables joined."""
        wait: Awaitable[None] | None = None
        for item in items:
            room = self.put(item)
            if room is not None:
                wait = room if wait is None else _Both(wait, room)
        return wait

    async def feed(self, item: SinkItem, job: TrainingJob | None = None) -> None:
        """[`put`][arkor_rx.sinks.SinkHub.put] ``item``, then wait while a ``"block"`` sink
        is full."""
        wait = self.put(item, job)
        if wait is not None:
            await wait

    def close(self, outcome: Outcome) -> None:
        """Every sink closes the run of ``outcome.job_id`` (queued behind its items)."""
        if self._open.pop(outcome.job_id or "", None) is None:
            return
        seen = self._reconnects.pop(outcome.job_id or "", 0)
        if seen > outcome.reconnects:
            outcome = dataclasses.replace(outcome, reconnects=seen)
        outcome = scrub_outcome(outcome)
        for runner in self._runners:
            self._pending[runner.close(outcome)] = (runner, outcome.job_id or "")

    def end(self, job_id: str, kind: OutcomeKind, **extra: Any) -> None:
        """Close one open run as ``kind`` (``stop=``, ``error=`` go into the outcome)."""
        job = self._open.get(job_id)
        if job is not None:
            job = job.model_copy(update={"status": _STATUS.get(kind, "cancelled")})
            self.close(Outcome(kind, job_id=job_id, job=job, **extra))

    def end_all(self, kind: OutcomeKind, **extra: Any) -> None:
        """Close every run still open as ``kind``."""
        for job_id in list(self._open):
            self.end(job_id, kind, **extra)

    async def flush(self) -> None:
        """Wait until every close queued so far was delivered; raise a ``fail_on_error`` error.

        Raises:
            Exception: the first error of a sink with ``fail_on_error=True``,
                once every sink has closed (the others are not cut short).
        """
        pending, self._pending = self._pending, {}
        first: BaseException | None = None
        while pending:
            deadline = min(runner.deadline for runner, _ in pending.values())
            done, _ = await asyncio.wait(pending, timeout=deadline)
            for future in done:
                pending.pop(future)
                first = first or future.result()
            for future, (runner, job_id) in list(pending.items()):
                if runner.stuck():  # Rule 4: not waited for any longer
                    pending.pop(future)
                    what = f"a call did not return within {runner.deadline:g} s"
                    runner.failed("close", (job_id,), TimeoutError(what))
        if first is not None:
            raise first

    async def finish(self) -> None:
        """[`flush`][arkor_rx.sinks.SinkHub.flush], then release the runners (idempotent)."""
        try:
            await self.flush()
        finally:
            if not self._finished:
                self._finished = True
                for runner in self._runners:
                    runner.release()

    def _job(self, job_id: str) -> TrainingJob:
        return TrainingJob(id=job_id, name=self._name, status="running")


class _Both:
    """Two awaitables awaited in turn; nothing happens (and nothing warns) if never awaited."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Awaitable[None], second: Awaitable[None]) -> None:
        self._first = first
        self._second = second

    def __await__(self) -> Generator[Any, None, None]:
        yield from self._first.__await__()
        yield from self._second.__await__()
