"""The Trainer: submit a job, follow it with callbacks, stop it early, get the result.

Rule 1: ``start()`` submits the job once. Concurrent and repeated calls share
the one ``POST /v1/jobs`` and return the same id.

Rule 2: ``wait()`` follows the event stream ([`EventStream`][arkor_rx.stream.EventStream])
and runs the callbacks one at a time, in order, each awaited before the next
event ([`arkor_rx.callbacks`][arkor_rx.callbacks]). A callback that raises fails ``wait()`` with
that same exception at once: no reconnect, and the resume id stays on the
event before it.

Rule 3: operators decide and the Trainer acts. Each early-stopping rule
watches the events; the first [`StopDecision`][arkor_rx.operators.StopDecision] (even
when several rules fire on the same event, or the run ends at that moment)
closes the stream and cancels the job on the backend, once.

Rule 4: cancelling the task that runs ``wait()`` aborts at once, even in a
backoff delay, closes the connection, and does not cancel the backend job.
Only [`Trainer.cancel`][arkor_rx.trainer.Trainer.cancel] (or a stop rule) does.

Rule 5: ``wait()`` returns a [`TrainingResult`][arkor_rx.trainer.TrainingResult] whether the run
completed,
failed or was stopped; it raises for a permanent API error, exhausted
reconnects, a callback's error or a stop rule's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import reactivex

from arkor_rx._closing import AsyncClosing
from arkor_rx._consumers import Consumer, SinkFeed, TerminalSeen, chain, follow_with_sinks
from arkor_rx._create_trainer import create_trainer
from arkor_rx._rule_watch import RuleWatch
from arkor_rx.callbacks import Dispatcher, TrainerCallbacks, drain
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ArkorError, CloudApiError
from arkor_rx.events import TrainingCompleted, TrainingEvent, TrainingFailed
from arkor_rx.jobs import (
    JobConfig,
    TrainingJob,
)
from arkor_rx.results import TrainingResult
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.samples import CheckpointSamples
from arkor_rx.sinks._base import Sink
from arkor_rx.stopping import StopDecision, StopRule
from arkor_rx.stream import EventStream, Sleep, StreamStats, observe_async

if TYPE_CHECKING:
    from arkor_rx.sinks._hub import SinkHub

__all__ = ["Trainer", "TrainingResult", "create_trainer"]

logger = logging.getLogger(__name__)

_ALREADY_TERMINAL = 409
"""The status the cancel route answers for a job that already ended."""


class Trainer(AsyncClosing):
    """One training job: start it, follow it, cancel it. Build it with
    [`create_trainer`][arkor_rx.trainer.create_trainer].

    Examples:
        >>> async def main(client):  # doctest: +SKIP
        ...     trainer = create_trainer(name="demo", model="m",
        ...                              dataset={"type": "huggingface", "name": "a/b"},
        ...                              max_steps=50, client=client)
        ...     result = await trainer.wait()
        ...     print(result.status, result.artifacts)

    Use it as an async context manager to close a client it created itself.
    """

    def __init__(
        self,
        *,
        name: str,
        config: JobConfig,
        client: ArkorClient,
        owns_client: bool = False,
        callbacks: TrainerCallbacks | Mapping[str, Any] | None = None,
        reconnect: ReconnectPolicy | None = None,
        early_stopping: Sequence[StopRule] = (),
        sleep: Sleep = asyncio.sleep,
        sinks: Sequence[Sink] = (),
        samples: CheckpointSamples | None = None,
    ) -> None:
        """Prefer [`create_trainer`][arkor_rx.trainer.create_trainer], which validates its
        arguments.

        ``sleep`` is how backoff delays are waited (a test seam).
        """
        self._name = name
        self._config: JobConfig | None = config
        self._client = client
        self._owns_client = owns_client
        self._callbacks = TrainerCallbacks.coerce(callbacks)
        self._policy = reconnect if reconnect is not None else ReconnectPolicy()
        self._rules = tuple(early_stopping)
        self._sleep = sleep
        self._sinks = tuple(sinks)
        self._samples = samples
        self._consumers: list[Consumer] = []
        self._job: TrainingJob | None = None
        self._job_source: Callable[[], Awaitable[TrainingJob]] = self._submit
        self._start_lock = asyncio.Lock()
        self._cancel_lock = asyncio.Lock()
        self._cancel_sent = False
        self._stream: EventStream | None = None
        self._result: TrainingResult | None = None

    async def _submit(self) -> TrainingJob:
        assert self._config is not None
        return await self._client.create_job(self._name, self._config)

    @property
    def name(self) -> str:
        """The job's display name."""
        return self._name

    @property
    def config(self) -> JobConfig:
        """The validated job config (``config.to_wire()`` is what is sent).

        Raises:
            RuntimeError: a trainer attached to an existing job whose config is
                not known yet (before ``start()``) or is not a valid ``JobConfig``.
        """
        if self._config is None:
            raise RuntimeError("the job's config is not known (attached job not fetched yet)")
        return self._config

    @property
    def client(self) -> ArkorClient:
        """The client the trainer talks through."""
        return self._client

    @property
    def job_id(self) -> str | None:
        """The job id, once started."""
        return None if self._job is None else self._job.id

    @property
    def job(self) -> TrainingJob | None:
        """The job as last known (created, then refreshed by ``wait()``), or None."""
        return self._job

    @property
    def stats(self) -> StreamStats:
        """Counters of the stream ``wait()`` follows (zeros before it runs)."""
        return StreamStats() if self._stream is None else self._stream.stats

    def __repr__(self) -> str:
        return f"Trainer(name={self._name!r}, job_id={self.job_id!r})"

    async def start(self) -> str:
        """Submit the job if it was not yet; return its id.

        Idempotent: a second call, or calls made at the same time, send a
        single ``POST /v1/jobs`` and all return the same id. After a failed
        submission, the next call tries again.

        Raises:
            CloudApiError: the server refused the job.
            TransportError: the server could not be reached.
        """
        if self._job is not None:
            return self._job.id
        async with self._start_lock:
            if self._job is None:
                self._job = await self._job_source()
                logger.debug("job %s started", self._job.id)
        return self._job.id

    async def cancel(self) -> None:
        """Ask the backend to cancel the job (``POST /v1/jobs/{id}/cancel``).

        A no-op before [`start`][arkor_rx.trainer.Trainer.start]. At most one cancel request is sent
        per
        trainer (a second call returns at once); the answer for a job that had
        already ended (409) is not an error. It does not stop a running
        ``wait()`` by itself: the stream ends when the job does.

        Raises:
            CloudApiError: any other non-2xx answer.
            TransportError: the request could not be sent (a later call retries).
        """
        await self._cancel()

    async def _cancel(self) -> bool:
        """Cancel once; True when this call's request cancelled a running job."""
        job = self._job
        if job is None:
            return False
        async with self._cancel_lock:
            if self._cancel_sent:
                return False
            self._cancel_sent = True
            try:
                await self._client.cancel_job(job.id)
            except CloudApiError as exc:
                if exc.status != _ALREADY_TERMINAL:
                    raise
                logger.debug("job %s had already ended when cancelled", job.id)
                return False
            except BaseException:
                self._cancel_sent = False  # never reached the server, or unknown: may retry
                raise
            return True

    def events(self) -> reactivex.Observable[TrainingEvent]:
        """The job's events as a cold Observable.

        Each subscription starts the job if needed and opens its own stream,
        with the trainer's reconnect policy; it emits every event once, in
        order, completes after the terminal event (or the server's ``end``) and
        errors on a permanent failure. Disposing it closes the connection.
        Subscribe inside the running asyncio loop (or pass an ``AsyncIOScheduler``).
        Callbacks and stop rules are not involved: they belong to
        [`wait`][arkor_rx.trainer.Trainer.wait].

        Examples:
            >>> from arkor_rx import operators as aop  # doctest: +SKIP
            >>> trainer.events().pipe(aop.metric("loss")).subscribe(print)  # doctest: +SKIP
        """

        async def open_stream() -> AsyncIterator[TrainingEvent]:
            job_id = await self.start()
            return EventStream(self._client, job_id, self._policy, sleep=self._sleep)

        return observe_async(open_stream)

    async def wait(self) -> TrainingResult:
        """Start the job if needed, run the callbacks on every event, and return the result.

        A stop rule that decides while an async callback is running (say, once
        an evaluation finished) cancels that callback: the run is stopping.

        Once a run has ended, calling ``wait()`` again returns the same result.
        After a ``wait()`` that was cancelled or raised (a callback error, a
        permanent error), a new ``wait()`` resumes after the last event that
        was handled, so the callbacks see every event exactly once, the failed
        one included; stop rules start afresh from there.

        Returns:
            A [`TrainingResult`][arkor_rx.trainer.TrainingResult] for a completed, failed or
            early-stopped run.

        Raises:
            CloudApiError: a permanent error (401, 403, 410, 426 ...).
            ReconnectExhaustedError: more consecutive failures than ``max_attempts``.
            Exception: the very exception a callback or a stop rule raised.
            asyncio.CancelledError: the waiting task was cancelled (the backend
                job keeps running; call [`cancel`][arkor_rx.trainer.Trainer.cancel] to stop it).
        """
        if self._result is not None:
            return self._result  # ended: the same result again
        job_id = await self.start()
        assert self._job is not None  # start() sets it
        if not self._sinks and self._samples is None:
            return await self._follow(job_id, None)
        return await follow_with_sinks(
            lambda hub: self._follow(job_id, hub), self._sinks, self._job
        )

    def add_consumer(self, consumer: Callable[[TrainingEvent], Awaitable[object] | None]) -> None:
        """Feed every event ``wait()`` handles to ``consumer`` as well.

        ``consumer(event)`` is called in stream order, after the callbacks
        and the sinks, before the stop rules; an awaitable it returns is
        awaited before the next event (as for an async callback), and an
        exception it raises fails ``wait()`` as a callback's would. Add it
        before ``wait()``.
        """
        self._consumers.append(consumer)

    async def _follow(self, job_id: str, hub: SinkHub | None) -> TrainingResult:
        """Follow the stream with the consumers, act on a decision, and build the result."""
        stream = self._resume(job_id, hub)
        assert self._job is not None  # start() sets it
        dispatcher = Dispatcher(self._callbacks, self._job, self._client)
        watch = RuleWatch(self._rules, asyncio.get_running_loop())
        ends = TerminalSeen()
        feed = None if hub is None else SinkFeed(hub, self._samples, self._job, self._client)
        consumers = [dispatcher.dispatch, *(feed.before_rules() if feed else ())]
        consumers += [
            *self._consumers,
            ends.see,
            watch.consume,
            *(feed.after_rules() if feed else ()),
        ]
        try:
            await self._drain(stream, chain(consumers), watch)
        finally:
            watch.close()
        if watch.latch.error is not None:
            raise watch.latch.error
        decision = watch.latch.value
        if decision is not None:
            await self._stop_once(job_id, decision)
        # One GET gives the final job and its stored events: when the stream
        # was left before its terminal event (a stop rule met a job ending on
        # its own), that event and its artifacts come from the server.
        self._job, stored_terminal = await self._refresh(dispatcher.job)
        terminal = ends.event if ends.event is not None else stored_terminal
        self._result = TrainingResult(
            job=self._job,
            artifacts=list(terminal.artifacts) if isinstance(terminal, TrainingCompleted) else [],
            stop=decision,
            terminal_event=terminal,
            stats=stream.stats,
        )
        return self._result

    def _resume(self, job_id: str, hub: SinkHub | None = None) -> EventStream:
        """The stream of this wait(): it resumes after the last event a previous one handled.

        Its reconnects reach the sinks of ``hub`` as they happen.
        """
        # A wait() that was cancelled (or failed) left off after the last event
        # it handled: a new wait() resumes there instead of replaying the run
        # through the callbacks again.
        resume = None if self._stream is None else self._stream.last_event_id
        on_reconnect = None if hub is None else partial(hub.reconnected, job_id)
        self._stream = EventStream(
            self._client,
            job_id,
            self._policy,
            last_event_id=resume,
            sleep=self._sleep,
            on_reconnect=on_reconnect,
        )
        return self._stream

    async def _drain(self, stream: EventStream, consume: Consumer, watch: RuleWatch) -> None:
        """Every event to the consumers, in turn, until the end or the first decision.

        A rule that decides (or fails) while the loop waits ends the loop, not this call.
        """

        async def follow() -> None:
            async with contextlib.aclosing(stream):
                await drain(stream, consume, watch.decided)

        await watch.run(follow)

    async def _stop_once(self, job_id: str, decision: StopDecision) -> None:
        """Act on the first decision: cancel the job on the backend, once."""
        logger.info("job %s stopped early by %s: %s", job_id, decision.rule, decision.reason)
        if not await self._cancel():
            # The job ended on its own at the same moment (the cancel answered
            # 409): the result still names the rule that fired, and the job's
            # status says how the backend ended it.
            logger.info("job %s had already ended when rule %s fired", job_id, decision.rule)

    async def _refresh(
        self, known: TrainingJob
    ) -> tuple[TrainingJob, TrainingCompleted | TrainingFailed | None]:
        """The job as the server has it now and its stored terminal event, if any.

        The best local knowledge (and no event) if the request fails.
        """
        try:
            job, events = await self._client.get_job_with_events(known.id)
        except ArkorError as exc:
            logger.warning("could not refresh job %s: %s", known.id, exc)
            return known, None
        for event in reversed(events):
            if isinstance(event, TrainingCompleted | TrainingFailed):
                return job, event
        return job, None

    async def aclose(self) -> None:
        """Close the client if the trainer created it (``create_trainer`` without ``client=``)."""
        if self._owns_client:
            await self._client.aclose()
