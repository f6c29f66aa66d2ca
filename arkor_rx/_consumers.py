"""The consumers of a Trainer's handled events: callbacks, sinks, samples, stop rules.

Rule 1: a consumer is a function of one event that returns None or an
awaitable. ``Trainer.wait()`` calls every consumer on every event, in a fixed
order, awaiting what one returns before the next is called
([`chain`][arkor_rx._consumers.chain]): the callbacks, the sinks, the
checkpoint samples, the consumers added with ``Trainer.add_consumer``, the
stop rules, and last the wait for a full ``"block"`` sink. So the event that
made a rule fire is written, and a full sink holds the stream (not the rules).

Rule 2: checkpoint samples are asked after the checkpoint's callback,
through that checkpoint's ``infer``; their answers go to the sinks as one
``SamplesAnswered``, right after the checkpoint event.

Rule 3: a run with sinks is opened in them before its first event and closed
with its [`Outcome`][arkor_rx.sinks.Outcome] whatever the ending
([`follow_with_sinks`][arkor_rx._consumers.follow_with_sinks]); ``wait()``
returns once every sink flushed. A cancelled ``wait()`` queues the close and
returns at once (the sinks flush in the background).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from arkor_rx.callbacks import CheckpointContext
from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingEvent, TrainingFailed
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import CheckpointSamples, ask_samples
from arkor_rx.sinks._base import Outcome, OutcomeKind, Sink
from arkor_rx.sinks._hub import SinkHub
from arkor_rx.stopping import StopDecision

if TYPE_CHECKING:
    from arkor_rx.results import TrainingResult

__all__ = ["Consumer", "SinkFeed", "TerminalSeen", "chain", "ending", "follow_with_sinks"]

logger = logging.getLogger("arkor_rx.sinks")

Consumer: TypeAlias = Callable[[TrainingEvent], Awaitable[object] | None]
"""Takes one handled event; returns what is left to await, if anything."""

_BACKGROUND: set[asyncio.Task[None]] = set()


def chain(consumers: Sequence[Consumer]) -> Consumer:
    """One consumer calling ``consumers`` in turn (Rule 1).

    Examples:
        >>> seen = []
        >>> both = chain([lambda e: seen.append(("a", e)), lambda e: seen.append(("b", e))])
        >>> both(1) is None, seen
        (True, [('a', 1), ('b', 1)])
    """
    steps = tuple(consumers)
    if len(steps) == 1:
        return steps[0]

    def consume(event: TrainingEvent) -> Awaitable[object] | None:
        for index, step in enumerate(steps):
            pending = step(event)
            if pending is not None:
                return _rest(pending, steps[index + 1 :], event)
        return None

    return consume


async def _rest(
    pending: Awaitable[object], steps: Sequence[Consumer], event: TrainingEvent
) -> None:
    await pending
    for step in steps:
        more = step(event)
        if more is not None:
            await more


class SinkFeed:
    """The sinks and checkpoint samples of one ``wait()``, as consumers (Rules 1 and 2)."""

    def __init__(
        self, hub: SinkHub, samples: CheckpointSamples | None, job: TrainingJob, client: Any
    ) -> None:
        self._hub = hub
        self._samples = samples
        self._job = job
        self._client = client
        self._room: Awaitable[None] | None = None

    def before_rules(self) -> list[Consumer]:
        """The sinks' consumer, and the samples' when there are prompts to ask."""
        if self._samples is None:
            return [self.put]
        return [self.put, self.ask]

    def put(self, item: Any) -> None:
        """Hand ``item`` to every sink; a full ``"block"`` sink's wait is kept for `room`."""
        room = self._hub.put(item)
        if room is not None and self._room is None:
            self._room = room

    def ask(self, event: TrainingEvent) -> Awaitable[None] | None:
        """At a checkpoint, ask the samples and hand their answers to the sinks."""
        if type(event) is not CheckpointSaved or self._samples is None:
            return None
        return self._ask(event, self._samples)

    async def _ask(self, event: CheckpointSaved, samples: CheckpointSamples) -> None:
        ctx = CheckpointContext(event, self._job, self._client)
        self.put(await ask_samples(ctx, samples))

    def after_rules(self) -> list[Consumer]:
        """The wait for a full ``"block"`` sink, once the rules saw the event."""
        return [self.room]

    def room(self, _event: TrainingEvent) -> Awaitable[None] | None:
        """What a full ``"block"`` sink asks the stream to wait for (after the rules)."""
        room, self._room = self._room, None
        return room


class TerminalSeen:
    """The consumer that keeps the run's terminal event, if the stream delivers one."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event: TrainingCompleted | TrainingFailed | None = None

    def see(self, event: TrainingEvent) -> None:
        """Keep ``event`` if it ends the run."""
        if isinstance(event, TrainingCompleted | TrainingFailed):
            self.event = event


def ending(
    *,
    job: TrainingJob,
    terminal: TrainingEvent | None,
    decision: StopDecision | None,
    reconnects: int,
) -> Outcome:
    """The outcome of a ``wait()`` that returned: stopped, completed, failed or cancelled."""
    kind: OutcomeKind
    error = None
    if decision is not None:
        kind = "stopped"
    elif terminal is not None and terminal.type == "training.completed":
        kind = "completed"
    elif terminal is not None and terminal.type == "training.failed":
        kind = "failed"
        error = getattr(terminal, "error", None)
    elif job.status == "completed":
        kind = "completed"
    elif job.status == "failed":
        kind, error = "failed", job.error
    else:
        kind = "cancelled"
    return Outcome(kind, job_id=job.id, job=job, stop=decision, error=error, reconnects=reconnects)


async def follow_with_sinks(
    follow: Callable[[SinkHub], Awaitable[TrainingResult]],
    sinks: Sequence[Sink],
    job: TrainingJob,
) -> TrainingResult:
    """``follow(hub)`` with the run open in every sink, then closed (Rule 3).

    Raises:
        Exception: what ``follow`` raised (the run's own error wins over a
            sink's), or the first error of a ``fail_on_error`` sink.
    """
    hub = SinkHub(sinks)
    hub.open(job)
    try:
        result = await follow(hub)
    except asyncio.CancelledError:
        why = "wait() was cancelled; the job goes on on the backend"
        hub.close(Outcome("cancelled", job_id=job.id, job=job, error=why))
        task = asyncio.get_running_loop().create_task(_finish_quietly(hub))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
        raise
    except BaseException as exc:
        hub.close(Outcome("error", job_id=job.id, job=job, error=f"{type(exc).__name__}: {exc}"))
        with contextlib.suppress(Exception):
            await hub.finish()
        raise
    hub.close(
        ending(
            job=result.job,
            terminal=result.terminal_event,
            decision=result.stop,
            reconnects=result.reconnects,
        )
    )
    await hub.finish()  # every sink flushed (a fail_on_error sink's error raises here)
    return result


async def _finish_quietly(hub: SinkHub) -> None:
    try:
        await hub.finish()
    except Exception as exc:
        logger.warning("a sink failed while closing a cancelled run: %s", exc)
