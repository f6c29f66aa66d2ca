"""What ``Trainer.wait()`` does for sinks and checkpoint samples: one `RunFeed` per wait.

Rule 1: every handled event goes to every sink, after its callback and before
the stop rules see it (so the event that made a rule fire is written).

Rule 2: checkpoint samples are asked after the checkpoint's own callback,
through that checkpoint's ``infer``, serialized like a callback (the next event
waits). An answer that fails is recorded as the sample's ``error``; it never
fails the run. The answers travel as one ``SamplesAnswered``, right after the
checkpoint event.

Rule 3: events reach the sinks a loop turn at a time (a
[`Gather`][arkor_rx.sinks._runner.Gather]). When an ``overflow="block"`` sink
was full at a hand-off, the next event's dispatch first waits for room: the
stream waits, the callbacks keep their order.

Rule 4: every ending closes the run in every sink with the matching
[`Outcome`][arkor_rx.sinks.Outcome]; ``wait()`` returns once all of them have
flushed. A cancelled ``wait()`` queues the close and returns at once (the
sinks flush in the background), so aborting stays prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from arkor_rx.callbacks import CheckpointContext
from arkor_rx.events import CheckpointSaved, TrainingEvent
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import CheckpointSamples, Sample, SamplesAnswered
from arkor_rx.sinks._base import Outcome, OutcomeKind, Sink
from arkor_rx.sinks._runner import Gather, SinkHub
from arkor_rx.stopping import StopDecision

__all__ = ["RunFeed", "ask_samples", "ending", "follow_fed"]

logger = logging.getLogger("arkor_rx.sinks")

DispatchFn = Callable[[TrainingEvent], Awaitable[object] | None]

if TYPE_CHECKING:
    from arkor_rx.results import TrainingResult

_BACKGROUND: set[asyncio.Task[None]] = set()


async def ask_samples(ctx: CheckpointContext, samples: CheckpointSamples) -> SamplesAnswered:
    """Ask each prompt of ``samples`` at the checkpoint of ``ctx``, one after the other.

    Returns:
        One [`Sample`][arkor_rx.samples.Sample] per prompt, in order; a prompt
        that failed carries the error's message instead of an answer.
    """
    answers = []
    for prompt in samples.prompts:
        messages: list[dict[str, str]] = []
        if samples.system:
            messages.append({"role": "system", "content": samples.system})
        messages.append({"role": "user", "content": prompt})
        try:
            response = await ctx.infer(
                messages, max_tokens=samples.max_tokens, temperature=samples.temperature
            )
            answers.append(Sample(prompt, answer=await response.text()))
        except Exception as exc:
            answers.append(Sample(prompt, error=f"{type(exc).__name__}: {exc}"))
    return SamplesAnswered(
        job_id=ctx.event.job_id or ctx.job.id, step=ctx.step, samples=tuple(answers)
    )


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


class RunFeed:
    """The sinks and samples of one ``wait()``: built only when the Trainer has either.

    Args:
        sinks: the Trainer's sinks (may be empty when only samples are asked).
        samples: the prompts to ask at each checkpoint, or None.
        job: the job, handed to every sink's ``open``.
        client: what the checkpoint's ``infer`` talks through.
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        samples: CheckpointSamples | None,
        job: TrainingJob,
        client: Any,
    ) -> None:
        self._hub = SinkHub(sinks)
        self._samples = samples
        self._job = job
        self._client = client
        self._gather = Gather(self._hub, asyncio.get_running_loop())
        self._answers: SamplesAnswered | None = None
        self._closed = False
        self._hub.open(job)

    def wrap(self, dispatch: DispatchFn) -> DispatchFn:
        """``dispatch`` plus the samples of a checkpoint and the wait for a full ``block`` sink."""
        samples = self._samples
        gather = self._gather

        def feed_dispatch(event: TrainingEvent) -> Awaitable[object] | None:
            if gather.room is None and (samples is None or type(event) is not CheckpointSaved):
                return dispatch(event)  # the common case: nothing more to do
            return self._slow(dispatch, event)

        return feed_dispatch

    async def _slow(self, dispatch: DispatchFn, event: TrainingEvent) -> None:
        room, self._gather.room = self._gather.room, None
        if room is not None:
            await room
        pending = dispatch(event)
        if pending is not None:
            await pending
        if self._samples is not None and isinstance(event, CheckpointSaved):
            ctx = CheckpointContext(event, self._job, self._client)
            self._answers = await ask_samples(ctx, self._samples)

    def handled(self, event: TrainingEvent) -> None:
        """The event was handled: hand it (and its checkpoint's answers) to every sink."""
        self._gather.add(event)
        answers, self._answers = self._answers, None
        if answers is not None:
            self._gather.add(answers)

    async def close(self, outcome: Outcome) -> None:
        """Close the run in every sink and wait for all of them to flush.

        Raises:
            Exception: the first error of a sink with ``fail_on_error=True``.
        """
        if self._closed:
            return
        self._closed = True
        self._gather.flush()
        self._hub.close(outcome)
        await self._hub.finish()

    def abandon(self, outcome: Outcome) -> None:
        """Close the run in every sink without waiting (a cancelled ``wait()``)."""
        if self._closed:
            return
        self._closed = True
        self._gather.flush()
        self._hub.close(outcome)
        task = asyncio.get_running_loop().create_task(self._finish_quietly())
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def _finish_quietly(self) -> None:
        try:
            await self._hub.finish()
        except Exception as exc:
            logger.warning("a sink failed while closing a cancelled run: %s", exc)


async def follow_fed(
    follow: Callable[[RunFeed], Awaitable[TrainingResult]],
    *,
    sinks: Sequence[Sink],
    samples: CheckpointSamples | None,
    job: TrainingJob,
    client: Any,
) -> TrainingResult:
    """One ``wait()`` of a Trainer with sinks or samples: ``follow(feed)``, then close the run.

    Every ending closes the run in every sink (Rule 4): the result's outcome
    once all have flushed, ``cancelled`` without waiting when the waiting task
    is cancelled, ``error`` when ``follow`` raised (the run's own error wins
    over a sink's).

    Raises:
        Exception: what ``follow`` raised, or the first error of a
            ``fail_on_error`` sink.
    """
    feed = RunFeed(sinks, samples, job, client)
    try:
        result = await follow(feed)
    except asyncio.CancelledError:
        why = "wait() was cancelled; the job goes on on the backend"
        feed.abandon(Outcome("cancelled", job_id=job.id, job=job, error=why))
        raise
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            await feed.close(Outcome("error", job_id=job.id, job=job, error=error))
        raise
    await feed.close(  # every sink flushed (a fail_on_error sink's error raises here)
        ending(
            job=result.job,
            terminal=result.terminal_event,
            decision=result.stop,
            reconnects=result.reconnects,
        )
    )
    return result
