"""The Trainer's callbacks, the contexts they receive, and the serialized dispatch loop.

Rule 1: the semantics of a serialized ``concat_map``, at the cost of a plain
loop. Each callback is called when its event's turn comes, never before, and
an awaitable it returns is awaited inline before the next event is looked at:
no Task and no Rx subscription per event. A sync callback costs a function
call; an async one, its own coroutine and nothing more.

Rule 2: a callback's exception is not caught here. It reaches the caller
(``Trainer.wait()``) as the very same exception object.

Rule 3: contexts are thin views over the event: building one is one small
object, its attributes read the event's fields.

Rule 4: ``CheckpointContext.infer`` sends one
[`InferenceRequest`][arkor_rx.inference.InferenceRequest] bound to the
checkpoint's adapter; its only default of its own is
``max_tokens=`` [`CHECKPOINT_MAX_TOKENS`][arkor_rx.callbacks.CHECKPOINT_MAX_TOKENS].
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from arkor_rx._observe import Batched
from arkor_rx.errors import ConfigError
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingEvent,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
)
from arkor_rx.inference import CheckpointAdapter, InferenceRequest, InferenceResponse
from arkor_rx.jobs import TrainingJob

__all__ = [
    "CHECKPOINT_MAX_TOKENS",
    "CallbackResult",
    "CheckpointAdapter",
    "CheckpointContext",
    "CompletedContext",
    "DispatchFn",
    "Dispatcher",
    "FailedContext",
    "InferClient",
    "LogContext",
    "StartedContext",
    "TrainerCallbacks",
    "drain",
]

_C = TypeVar("_C")

CallbackResult: TypeAlias = Awaitable[None] | None
"""A callback returns None (sync) or an awaitable (async), which is awaited in turn."""

CHECKPOINT_MAX_TOKENS = 80
"""The ``max_tokens`` of ``CheckpointContext.infer`` when none is given (API.md's
documented default). ``ArkorClient.infer`` itself sends no ``maxTokens`` unless
given one: the server decides."""


class InferClient(Protocol):
    """The part of [`ArkorClient`][arkor_rx.client.ArkorClient] a checkpoint context uses."""

    async def send_inference(
        self, request: InferenceRequest, *, request_timeout: float | None = None
    ) -> InferenceResponse:
        """Send one inference request."""
        ...


class _Context(Generic[_C]):
    __slots__ = ("event", "job")

    def __init__(self, event: _C, job: TrainingJob) -> None:
        self.event: _C = event
        """The event the callback is called for."""
        self.job: TrainingJob = job
        """The job, as last fetched by the trainer."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(job={self.job.id!r}, event={self.event!r})"


class StartedContext(_Context[TrainingStarted]):
    """What ``on_started`` receives: ``job`` and the ``event``."""

    __slots__ = ()


class LogContext(_Context[TrainingLog]):
    """What ``on_log`` receives: the step's metrics (each may be None), ``job``, ``event``."""

    __slots__ = ()

    @property
    def step(self) -> int:
        """The optimizer step."""
        return self.event.step

    @property
    def loss(self) -> float | None:
        """Training loss."""
        return self.event.loss

    @property
    def eval_loss(self) -> float | None:
        """Held-out loss (evaluation steps only)."""
        return self.event.eval_loss

    @property
    def learning_rate(self) -> float | None:
        """The learning rate at this step."""
        return self.event.learning_rate

    @property
    def epoch(self) -> float | None:
        """Fractional epoch."""
        return self.event.epoch

    @property
    def samples_per_second(self) -> float | None:
        """Training throughput."""
        return self.event.samples_per_second


class CheckpointContext(_Context[CheckpointSaved]):
    """What ``on_checkpoint`` receives: ``step``, ``adapter``, ``artifacts``, ``infer``, ``job``.

    Examples:
        >>> async def on_checkpoint(ctx: CheckpointContext) -> None:  # doctest: +SKIP
        ...     answer = await ctx.infer(messages=[{"role": "user", "content": "Hi"}])
        ...     print(ctx.step, await answer.text())
    """

    __slots__ = ("_client",)

    def __init__(self, event: CheckpointSaved, job: TrainingJob, client: InferClient | None):
        super().__init__(event, job)
        self._client = client

    @property
    def step(self) -> int:
        """The step the checkpoint was saved at."""
        return self.event.step

    @property
    def artifacts(self) -> list[Any]:
        """What the backend stored."""
        return self.event.artifacts

    @property
    def adapter(self) -> CheckpointAdapter:
        """The checkpoint's adapter, as inference requests name it."""
        return CheckpointAdapter(job_id=self.event.job_id or self.job.id, step=self.event.step)

    async def infer(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        stream: bool = False,
        max_tokens: int | None = CHECKPOINT_MAX_TOKENS,
        temperature: float | None = None,
        top_p: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        structured_outputs: Mapping[str, Any] | None = None,
    ) -> InferenceResponse:
        """Chat with this checkpoint's adapter (``POST /v1/inference/chat``).

        The arguments are the fields of
        [`InferenceRequest`][arkor_rx.inference.InferenceRequest] (``adapter``
        is this checkpoint's); ``max_tokens`` defaults to
        [`CHECKPOINT_MAX_TOKENS`][arkor_rx.callbacks.CHECKPOINT_MAX_TOKENS].

        Returns:
            The response: ``await r.text()``, ``await r.json()``, or ``async for``
            over its deltas when ``stream=True``.

        Raises:
            ConfigError: a bad argument (no messages, a wrong type).
            CloudApiError: a non-2xx answer.
            TransportError: no answer could be had.
        """
        if self._client is None:
            raise RuntimeError("this checkpoint context has no client to run inference with")
        given = locals()  # the arguments are the fields of InferenceRequest, by name
        options = {name: given[name] for name in InferenceRequest.model_fields if name in given}
        request = InferenceRequest.build(
            **{**options, "adapter": self.adapter, "stream": bool(stream)}
        )
        return await self._client.send_inference(request)


class CompletedContext(_Context[TrainingCompleted]):
    """What ``on_completed`` receives: ``job``, ``artifacts``, ``metrics``, ``event``."""

    __slots__ = ()

    @property
    def artifacts(self) -> list[Any]:
        """The final artifacts."""
        return self.event.artifacts

    @property
    def metrics(self) -> dict[str, Any] | None:
        """Final metrics, when the backend sent them."""
        return self.event.metrics


class FailedContext(_Context[TrainingFailed]):
    """What ``on_failed`` receives: ``job``, ``error`` (a string), ``step``, ``event``."""

    __slots__ = ()

    @property
    def error(self) -> str:
        """What went wrong, as the backend said it."""
        return self.event.error

    @property
    def step(self) -> int | None:
        """The step it failed at, when known."""
        return self.event.step


@dataclass(frozen=True, slots=True)
class TrainerCallbacks:
    """The Trainer's callbacks: each optional, each sync or async.

    They run one at a time, in stream order; an async one is awaited before
    the next event is dispatched. A callback that raises fails
    ``Trainer.wait()`` with that exception at once (no reconnect, no skipped
    event). A plain dict with the same keys is accepted wherever this is.

    Examples:
        >>> async def on_log(ctx: LogContext) -> None:
        ...     print(ctx.step, ctx.loss)
        >>> callbacks = TrainerCallbacks(on_log=on_log)
    """

    on_started: Callable[[StartedContext], CallbackResult] | None = None
    """Called once the job runs (``training.started``)."""
    on_log: Callable[[LogContext], CallbackResult] | None = None
    """Called for every metrics frame (``training.log``)."""
    on_checkpoint: Callable[[CheckpointContext], CallbackResult] | None = None
    """Called for every checkpoint; ``ctx.infer`` talks to that checkpoint."""
    on_completed: Callable[[CompletedContext], CallbackResult] | None = None
    """Called when the run completes."""
    on_failed: Callable[[FailedContext], CallbackResult] | None = None
    """Called when the run fails on the backend."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not callable(value):
                raise ConfigError(f"callbacks.{f.name} must be callable, got {value!r}")

    @classmethod
    def coerce(cls, value: TrainerCallbacks | Mapping[str, Any] | None) -> TrainerCallbacks:
        """A ``TrainerCallbacks`` from itself, a dict of the same keys, or None (no callbacks).

        Raises:
            ConfigError: an unknown key, a value that is not callable, or another type.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            names = {f.name for f in fields(cls)}
            unknown = sorted(str(k) for k in value if k not in names)
            if unknown:
                raise ConfigError(
                    f"unknown callback {', '.join(unknown)}; expected some of {sorted(names)}"
                )
            return cls(**value)
        raise ConfigError(
            f"callbacks must be a TrainerCallbacks or a dict, not {type(value).__name__}"
        )


DispatchFn: TypeAlias = Callable[[TrainingEvent], Awaitable[object] | None]
"""Calls the callback of one event; returns what is left to await, if anything."""


class Dispatcher:
    """Calls the right callback for each event, with its context (the fast path).

    [`dispatch`][arkor_rx.callbacks.Dispatcher.dispatch] is a plain function: it calls the callback
    right away and
    returns the awaitable an async callback gave (await it before dispatching
    the next event), or None.

    Examples:
        >>> seen = []
        >>> d = Dispatcher({"on_log": lambda ctx: seen.append(ctx.step)}, TrainingJob(id="j1"))
        >>> d.dispatch(TrainingLog(step=3)) is None, seen
        (True, [3])

    Args:
        callbacks: the callbacks (or a dict of them).
        job: the job the contexts show; update [`job`][arkor_rx.callbacks.Dispatcher.job] as it
            changes.
        client: what ``CheckpointContext.infer`` uses.
    """

    __slots__ = ("_table", "client", "job")

    def __init__(
        self,
        callbacks: TrainerCallbacks | Mapping[str, Any] | None,
        job: TrainingJob,
        client: InferClient | None = None,
    ) -> None:
        cbs = TrainerCallbacks.coerce(callbacks)
        self.job = job
        """The job given to the contexts."""
        self.client = client
        """The client ``CheckpointContext.infer`` uses."""
        table: dict[type[Any], Callable[[Any], Any]] = {
            TrainingStarted: self._caller(cbs.on_started, StartedContext, "running"),
            TrainingCompleted: self._caller(cbs.on_completed, CompletedContext, "completed"),
            TrainingFailed: self._caller(cbs.on_failed, FailedContext, "failed"),
        }
        if cbs.on_log is not None:
            table[TrainingLog] = self._caller(cbs.on_log, LogContext)
        if cbs.on_checkpoint is not None:
            on_checkpoint = cbs.on_checkpoint

            def checkpoint(event: CheckpointSaved) -> Any:
                return on_checkpoint(CheckpointContext(event, self.job, self.client))

            table[CheckpointSaved] = checkpoint
        self._table = table

    def _caller(
        self,
        callback: Callable[[Any], Any] | None,
        context: Callable[[Any, TrainingJob], Any],
        status: str | None = None,
    ) -> Callable[[Any], Any]:
        if status is None and callback is not None:

            def call(event: Any) -> Any:
                return callback(context(event, self.job))

            return call

        def call_with_status(event: Any) -> Any:
            # Rare events (start, end): keep the job's status in step with the stream.
            if self.job.status != status:
                self.job = self.job.model_copy(update={"status": status})
            return None if callback is None else callback(context(event, self.job))

        return call_with_status

    def dispatch(self, event: TrainingEvent) -> Awaitable[object] | None:
        """Call ``event``'s callback now; return its awaitable result, else None."""
        call = self._table.get(event.__class__)
        if call is None:
            return None
        result = call(event)
        if result is None or not inspect.isawaitable(result):
            return None
        return result


async def drain(
    events: AsyncIterable[TrainingEvent],
    dispatch: DispatchFn,
    after: Callable[[TrainingEvent], bool] | None = None,
) -> int:
    """Dispatch every event of ``events`` in order, each awaited before the next.

    The loop ``Trainer.wait()`` runs. ``after(event)`` (when given) runs once
    the event's callback is done; returning True stops the loop early.

    Returns:
        How many events were dispatched.

    Raises:
        Exception: whatever a callback, ``after`` or the iterator raises, unchanged.
    """
    count = 0
    if isinstance(events, Batched):
        # A chunk at a time (an EventStream): one await per network read, and
        # an await per event only for a callback that returns an awaitable.
        async for batch in events.batches():
            for event in batch:
                pending = dispatch(event)
                if pending is not None:
                    await pending
                count += 1
                if after is not None and after(event):
                    return count
        return count
    async for event in events:
        pending = dispatch(event)
        if pending is not None:
            await pending
        count += 1
        if after is not None and after(event):
            break
    return count
