"""Serialized callbacks: the Trainer's callbacks, their contexts, and ``concat_map_async``.

Rule 1: the semantics of a serialized ``concat_map``, at the cost of a plain
loop. Each callback is called when its event's turn comes, never before, and
an awaitable it returns is awaited inline before the next event is looked at:
no Task and no Rx subscription per event. A sync callback costs a function
call; an async one, its own coroutine and nothing more.

Rule 2: a callback's exception is not caught here. It reaches the caller
(``Trainer.wait()``) as the very same exception object.

Rule 3: contexts are thin views over the event: building one is one small
object, its attributes read the event's fields.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

import reactivex
from reactivex import abc
from reactivex.disposable import CompositeDisposable, Disposable

from arkor_rx.errors import ConfigError
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingEvent,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
)
from arkor_rx.inference import InferenceResponse
from arkor_rx.jobs import TrainingJob
from arkor_rx.stream import loop_of

__all__ = [
    "CheckpointAdapter",
    "CheckpointContext",
    "CompletedContext",
    "Dispatcher",
    "FailedContext",
    "InferClient",
    "LogContext",
    "StartedContext",
    "TrainerCallbacks",
    "bench_dispatch",
    "concat_map_async",
    "drain",
]

_T = TypeVar("_T")
_R = TypeVar("_R")
_C = TypeVar("_C")

CallbackResult: TypeAlias = Awaitable[None] | None
"""A callback returns None (sync) or an awaitable (async), which is awaited in turn."""


class InferClient(Protocol):
    """The part of :class:`~arkor_rx.client.ArkorClient` a checkpoint context uses."""

    async def infer(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        adapter: Mapping[str, Any] | None = None,
        stream: bool = False,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        structured_outputs: Mapping[str, Any] | None = None,
    ) -> InferenceResponse:
        """Chat with a model or adapter."""
        ...


@dataclass(frozen=True, slots=True)
class CheckpointAdapter:
    """The adapter saved at one checkpoint of a job.

    Examples:
        >>> CheckpointAdapter(job_id="j1", step=50).to_wire()
        {'kind': 'checkpoint', 'jobId': 'j1', 'step': 50}
    """

    job_id: str
    """The job the checkpoint belongs to."""
    step: int
    """The step it was saved at."""
    kind: str = "checkpoint"
    """Always ``"checkpoint"``."""

    def to_wire(self) -> dict[str, Any]:
        """The ``adapter`` object of an inference request."""
        return {"kind": self.kind, "jobId": self.job_id, "step": self.step}


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
        max_tokens: int | None = 80,
        temperature: float | None = None,
        top_p: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        structured_outputs: Mapping[str, Any] | None = None,
    ) -> InferenceResponse:
        """Chat with this checkpoint's adapter (``POST /v1/inference/chat``).

        Returns:
            The response: ``await r.text()``, ``await r.json()``, or ``async for``
            over its deltas when ``stream=True``.

        Raises:
            CloudApiError: a non-2xx answer.
            TransportError: no answer could be had.
        """
        if self._client is None:
            raise RuntimeError("this checkpoint context has no client to run inference with")
        return await self._client.infer(
            messages,
            adapter=self.adapter.to_wire(),
            stream=stream,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            structured_outputs=structured_outputs,
        )


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

    :meth:`dispatch` is a plain function: it calls the callback right away and
    returns the awaitable an async callback gave (await it before dispatching
    the next event), or None.

    Examples:
        >>> seen = []
        >>> d = Dispatcher({"on_log": lambda ctx: seen.append(ctx.step)}, TrainingJob(id="j1"))
        >>> d.dispatch(TrainingLog(step=3)) is None, seen
        (True, [3])

    Args:
        callbacks: the callbacks (or a dict of them).
        job: the job the contexts show; update :attr:`job` as it changes.
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
        Whatever a callback, ``after`` or the iterator raises, unchanged.
    """
    count = 0
    async for event in events:
        pending = dispatch(event)
        if pending is not None:
            await pending
        count += 1
        if after is not None and after(event):
            break
    return count


async def _iterate(items: Sequence[TrainingEvent]) -> AsyncIterator[TrainingEvent]:
    for item in items:
        yield item


async def bench_dispatch(
    events: Sequence[TrainingEvent], callback: Callable[[Any], CallbackResult]
) -> int:
    """Run ``callback`` as ``on_log`` over ``events`` through :func:`drain`; for the benchmarks.

    The events come from an async iterator, as from the event stream, so the
    figure is the per-event cost ``Trainer.wait()`` adds to a callback.
    """
    dispatcher = Dispatcher(TrainerCallbacks(on_log=callback), TrainingJob(id="bench"))
    return await drain(_iterate(events), dispatcher.dispatch)


def concat_map_async(
    fn: Callable[[_T], Awaitable[_R]],
) -> Callable[[reactivex.Observable[_T]], reactivex.Observable[_R]]:
    """Map each item through an async function, one at a time, in order: a serialized concat_map.

    ``fn(item)`` is called only when the previous result has been emitted, so
    item ``k+1``'s coroutine is not even created before item ``k``'s is done.
    Items that arrive meanwhile wait in a buffer. One task per subscription
    drains it, on the asyncio loop, instead of a Task and an inner
    subscription per item. A sync ``fn`` works too: its result is emitted as is.

    ::

        source:  --a--b--c------|
        fn:        [=a=][=b=][=c=]
        result:  -------A----B----C|

    Examples:
        >>> async def double(x: int) -> int:
        ...     await asyncio.sleep(0)
        ...     return 2 * x
        >>> async def demo() -> list[int]:
        ...     done, out = asyncio.Event(), []
        ...     reactivex.of(1, 2, 3).pipe(concat_map_async(double)).subscribe(
        ...         out.append, on_completed=done.set)
        ...     await done.wait()
        ...     return out
        >>> asyncio.run(demo())
        [2, 4, 6]

    Subscribe on the loop's thread (or pass ``scheduler=AsyncIOScheduler(loop)``)
    and emit from it: the buffer is not thread-safe.

    Args:
        fn: the mapper; an exception it raises (or its awaitable raises) ends
            the stream with that error and unsubscribes from the source.

    Returns:
        An operator for ``.pipe()``. A source error is passed on at once; a
        source completion, once the buffer is drained.
    """

    def operator(source: reactivex.Observable[_T]) -> reactivex.Observable[_R]:
        def subscribe(
            observer: abc.ObserverBase[_R], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            loop = loop_of(scheduler)
            if loop is None:
                observer.on_error(
                    RuntimeError(
                        "concat_map_async needs a running asyncio loop or an AsyncIOScheduler"
                    )
                )
                return Disposable()
            buffer: deque[_T] = deque()
            task: asyncio.Task[None] | None = None
            waiter: asyncio.Future[None] | None = None
            source_done = False
            stopped = False
            upstream = CompositeDisposable()

            def wake() -> None:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

            async def run() -> None:
                nonlocal waiter
                try:
                    while True:
                        while buffer:
                            result: Any = fn(buffer.popleft())  # created only now: its turn
                            if inspect.isawaitable(result):
                                result = await result
                            if stopped:
                                return
                            observer.on_next(result)
                        if source_done:
                            stop()
                            observer.on_completed()
                            return
                        waiter = loop.create_future()
                        await waiter
                        waiter = None
                except Exception as exc:
                    if not stopped:
                        stop()
                        observer.on_error(exc)

            def on_next(value: _T) -> None:
                nonlocal task
                if stopped:
                    return
                buffer.append(value)
                if task is None:
                    task = loop.create_task(run())
                else:
                    wake()

            def on_error(exc: Exception) -> None:
                if stopped:
                    return
                stop()
                observer.on_error(exc)

            def on_completed() -> None:
                nonlocal source_done
                if stopped:
                    return
                source_done = True
                if task is None:
                    stop()
                    observer.on_completed()
                else:
                    wake()

            def stop() -> None:
                nonlocal stopped
                stopped = True
                buffer.clear()
                upstream.dispose()
                current = asyncio.current_task(loop) if loop.is_running() else None
                if task is not None and task is not current:
                    task.cancel()

            upstream.add(source.subscribe(on_next, on_error, on_completed, scheduler=scheduler))
            if stopped:
                upstream.dispose()
            return Disposable(stop)

        return reactivex.create(subscribe)

    return operator
