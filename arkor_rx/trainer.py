"""The Trainer: submit a job, follow it with callbacks, stop it early, get the result.

Rule 1: ``start()`` submits the job once. Concurrent and repeated calls share
the one ``POST /v1/jobs`` and return the same id.

Rule 2: ``wait()`` follows the event stream (:class:`~arkor_rx.stream.EventStream`)
and runs the callbacks one at a time, in order, each awaited before the next
event (:mod:`arkor_rx.callbacks`). A callback that raises fails ``wait()`` with
that same exception at once: no reconnect, and the resume id stays on the
event before it.

Rule 3: operators decide and the Trainer acts. Each early-stopping rule
watches the events; the first :class:`~arkor_rx.operators.StopDecision` (even
when several rules fire on the same event, or the run ends at that moment)
closes the stream and cancels the job on the backend, once.

Rule 4: cancelling the task that runs ``wait()`` aborts at once, even in a
backoff delay, closes the connection, and does not cancel the backend job.
Only :meth:`Trainer.cancel` (or a stop rule) does.

Rule 5: ``wait()`` returns a :class:`TrainingResult` whether the run completed,
failed or was stopped; it raises for a permanent API error, exhausted
reconnects, a callback's error or a stop rule's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import reactivex
from pydantic import ValidationError

from arkor_rx._rule_watch import RuleWatch
from arkor_rx.callbacks import Dispatcher, TrainerCallbacks, drain
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ArkorError, CloudApiError, ConfigError
from arkor_rx.events import TrainingCompleted, TrainingEvent, TrainingFailed
from arkor_rx.jobs import (
    BlobDataset,
    HuggingFaceDataset,
    JobConfig,
    TrainingJob,
    parse_dataset,
)
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stopping import StopDecision, StopRule
from arkor_rx.stream import EventStream, Sleep, StreamStats, observe_async

__all__ = ["Trainer", "TrainingResult", "create_trainer"]

logger = logging.getLogger(__name__)

_ALREADY_TERMINAL = 409
"""The status the cancel route answers for a job that already ended."""


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """How a run ended: the final job, its artifacts, and the stop decision if one was taken.

    Returned for completed, failed and early-stopped runs alike; look at
    :attr:`status` (or ``job.status``) and :attr:`early_stopped`.
    """

    job: TrainingJob
    """The job as fetched from the server once the stream ended."""
    artifacts: list[Any] = field(default_factory=list)
    """The artifacts of ``training.completed`` (empty for failed or stopped runs)."""
    stop: StopDecision | None = None
    """The decision of the rule that stopped the run early, else None.

    When the job ended on its own at the same moment (the cancel answered
    409), it is still set; :attr:`status`, :attr:`terminal_event` and
    :attr:`artifacts` then describe the job's own ending."""
    terminal_event: TrainingCompleted | TrainingFailed | None = None
    """The event that ended the run, when the stream delivered one."""
    stats: StreamStats = field(default_factory=StreamStats)
    """Counters of the event stream (reconnects, duplicates skipped, ...)."""

    @property
    def status(self) -> str:
        """The job's final status: ``completed``, ``failed``, ``cancelled`` (or still running)."""
        return self.job.status

    @property
    def early_stopped(self) -> bool:
        """True when a stop rule fired (and the job was cancelled for it, unless it
        ended on its own at that same moment: see :attr:`status`)."""
        return self.stop is not None

    @property
    def reconnects(self) -> int:
        """How many times the event stream was reopened."""
        return self.stats.reconnects


class Trainer:
    """One training job: start it, follow it, cancel it. Build it with :func:`create_trainer`.

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
    ) -> None:
        """Prefer :func:`create_trainer`, which validates its arguments.

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
        self._job: TrainingJob | None = None
        self._job_source: Callable[[], Awaitable[TrainingJob]] = self._submit
        self._start_lock = asyncio.Lock()
        self._cancel_lock = asyncio.Lock()
        self._cancel_sent = False
        self._stream: EventStream | None = None
        self._result: TrainingResult | None = None

    @classmethod
    def _of_job(
        cls,
        job_id: str,
        *,
        client: ArkorClient,
        owns_client: bool = False,
        callbacks: TrainerCallbacks | Mapping[str, Any] | None = None,
        reconnect: ReconnectPolicy | None = None,
        early_stopping: Sequence[StopRule] = (),
        sleep: Sleep = asyncio.sleep,
    ) -> Trainer:
        """A Trainer following the existing job ``job_id`` (the path under ``attach``).

        Nothing is sent here: :meth:`start` fetches the job (``GET``) instead of
        submitting one, once, so an unknown id is a ``CloudApiError(404)`` from
        ``start()``/``wait()``; the name and config then come from the job.
        """
        trainer = cls(
            name="",
            config=None,  # type: ignore[arg-type]  # known once the job is fetched
            client=client,
            owns_client=owns_client,
            callbacks=callbacks,
            reconnect=reconnect,
            early_stopping=early_stopping,
            sleep=sleep,
        )

        async def fetch() -> TrainingJob:
            job = await client.get_job(job_id)
            trainer._name = job.name
            with contextlib.suppress(ValidationError):
                trainer._config = JobConfig.model_validate(job.config)
            return job

        trainer._job_source = fetch
        return trainer

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

        A no-op before :meth:`start`. At most one cancel request is sent per
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
        Callbacks and stop rules are not involved: they belong to :meth:`wait`.

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
            A :class:`TrainingResult` for a completed, failed or early-stopped run.

        Raises:
            CloudApiError: a permanent error (401, 403, 410, 426 ...).
            ReconnectExhaustedError: more consecutive failures than ``max_attempts``.
            Exception: the very exception a callback or a stop rule raised.
            asyncio.CancelledError: the waiting task was cancelled (the backend
                job keeps running; call :meth:`cancel` to stop it).
        """
        # Hook points (for extensions such as sinks): every event handled in
        # order passes `handled` in _dispatch (after its callback); a step that
        # must be serialized like a callback wraps `dispatcher.dispatch`; every
        # ending (a result, or an exception) leaves through this method.
        if self._result is not None:
            return self._result  # ended: the same result again
        job_id = await self.start()
        stream = self._resume(job_id)
        dispatcher = Dispatcher(self._callbacks, self._known_job(), self._client)
        watch = RuleWatch(self._rules, asyncio.get_running_loop())
        try:
            terminal = await self._dispatch(stream, dispatcher, watch)
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
        terminal = terminal if terminal is not None else stored_terminal
        self._result = TrainingResult(
            job=self._job,
            artifacts=list(terminal.artifacts) if isinstance(terminal, TrainingCompleted) else [],
            stop=decision,
            terminal_event=terminal,
            stats=stream.stats,
        )
        return self._result

    def _known_job(self) -> TrainingJob:
        assert self._job is not None, "start() sets the job"
        return self._job

    def _resume(self, job_id: str) -> EventStream:
        """The stream of this wait(): it resumes after the last event a previous one handled."""
        # A wait() that was cancelled (or failed) left off after the last event
        # it handled: a new wait() resumes there instead of replaying the run
        # through the callbacks again.
        resume = None if self._stream is None else self._stream.last_event_id
        self._stream = EventStream(
            self._client, job_id, self._policy, last_event_id=resume, sleep=self._sleep
        )
        return self._stream

    async def _dispatch(
        self, stream: EventStream, dispatcher: Dispatcher, watch: RuleWatch
    ) -> TrainingCompleted | TrainingFailed | None:
        """Each event's callback in turn, then the rules; until the end or the first decision.

        Returns the terminal event the stream delivered, if any. A rule that
        decides (or fails) while the loop waits cancels the loop, not this call.
        """
        terminal: TrainingCompleted | TrainingFailed | None = None

        def handled(event: TrainingEvent) -> bool:
            nonlocal terminal
            if isinstance(event, TrainingCompleted | TrainingFailed):
                terminal = event
            return watch.feed(event)  # True: a rule decided, leave the loop

        async def run() -> int:
            async with contextlib.aclosing(stream):
                return await drain(stream, dispatcher.dispatch, handled)

        if not watch.latch.done:  # a rule may decide on subscribe
            runner = asyncio.get_running_loop().create_task(run())
            watch.interrupts(runner)
            try:
                await runner
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not watch.latch.done or (task is not None and task.cancelling()):
                    raise  # this wait() was cancelled, not the loop by a rule
        watch.end()  # decisions after the run ended on its own are moot
        return terminal

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

    async def __aenter__(self) -> Trainer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _rules(value: StopRule | Sequence[StopRule] | None) -> tuple[StopRule, ...]:
    if value is None:
        return ()
    items: list[Any] = [value] if callable(value) else list(value)
    flat: list[StopRule] = []
    for item in items:
        if isinstance(item, list | tuple):
            flat.extend(item)
        else:
            flat.append(item)
    for rule in flat:
        if not callable(rule):
            raise ConfigError(f"early_stopping: a stop rule must be callable, got {rule!r}")
    return tuple(flat)


def _lora(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"lora must be a dict such as {{'r': 16, 'alpha': 16}}, got {value!r}")
    unknown = sorted(str(k) for k in value if k not in ("r", "alpha"))
    if unknown:
        raise ConfigError(f"lora: unknown key {', '.join(unknown)}; expected 'r' and/or 'alpha'")
    out: dict[str, Any] = {}
    if "r" in value:
        out["lora_r"] = value["r"]
    if "alpha" in value:
        out["lora_alpha"] = value["alpha"]
    return out


def create_trainer(
    *,
    name: str,
    model: str,
    dataset: Mapping[str, Any] | HuggingFaceDataset | BlobDataset,
    max_steps: int | None = None,
    num_train_epochs: float | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    optim: str | None = None,
    lr_scheduler_type: str | None = None,
    weight_decay: float | None = None,
    warmup_steps: int | None = None,
    logging_steps: int | None = None,
    save_steps: int | None = None,
    eval_steps: int | None = None,
    lora: Mapping[str, Any] | None = None,
    lora_r: int | None = None,
    lora_alpha: float | None = None,
    max_length: int | None = None,
    load_in_4bit: bool | None = None,
    train_on_responses_only: bool | None = None,
    dataset_format: str | None = None,
    dataset_split: str | None = None,
    dry_run: bool | None = None,
    seed: int | None = None,
    callbacks: TrainerCallbacks | Mapping[str, Any] | None = None,
    client: ArkorClient | None = None,
    reconnect: ReconnectPolicy | None = None,
    early_stopping: StopRule | Sequence[StopRule] | None = None,
) -> Trainer:
    """Build a :class:`Trainer` for one fine-tuning job. Nothing is sent until ``start()``.

    Only the knobs you set are sent, in camelCase (``max_steps`` goes out as
    ``maxSteps``); the server's defaults apply to the rest.

    Examples:
        >>> trainer = create_trainer(  # doctest: +SKIP
        ...     name="support-bot-v1", model="unsloth/gemma-4-E4B-it",
        ...     dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
        ...     max_steps=200, learning_rate=2e-4, lora={"r": 16, "alpha": 16},
        ...     callbacks=TrainerCallbacks(on_log=print))

    Args:
        name: the job's display name.
        model: the base model, e.g. ``unsloth/gemma-4-E4B-it``.
        dataset: ``{"type": "huggingface", "name", "split"?, "subset"?}`` or
            ``{"type": "blob", "url", "token"?}`` (or the model classes).
        max_steps: stop after this many optimizer steps (``maxSteps``).
        num_train_epochs: passes over the data, when ``max_steps`` is not set.
        learning_rate: peak learning rate (``learningRate``).
        batch_size: examples per step.
        optim: optimizer name, e.g. ``adamw``.
        lr_scheduler_type: ``linear``, ``cosine`` or ``constant``.
        weight_decay: decoupled weight decay.
        warmup_steps: steps of linear warm-up.
        logging_steps: send a ``training.log`` every this many steps.
        save_steps: save a checkpoint every this many steps.
        eval_steps: evaluate on held-out data every this many steps.
        lora: ``{"r": int, "alpha": number}``, sent as ``loraR``/``loraAlpha``
            (or pass ``lora_r``/``lora_alpha``).
        lora_r: adapter rank, the same as ``lora={'r': ...}``.
        lora_alpha: adapter scale, the same as ``lora={'alpha': ...}``.
        max_length: longest tokenized example.
        load_in_4bit: load the base model in 4 bit (``loadIn4bit``).
        train_on_responses_only: compute the loss on assistant turns only.
        dataset_format: the dataset's format, when the server cannot guess it.
        dataset_split: which split to train on.
        dry_run: validate everything but train nothing.
        seed: random seed.
        callbacks: a :class:`~arkor_rx.callbacks.TrainerCallbacks` or a dict of them.
        client: the client to use; by default ``ArkorClient.from_env()``, which
            the trainer then closes in ``aclose()``.
        reconnect: the stream's :class:`~arkor_rx.retry.ReconnectPolicy`.
        early_stopping: one stop rule or several (``arkor_rx.operators``); the
            first decision cancels the job.

    Raises:
        ConfigError: a bad config value or dataset (the message names the field),
            bad callbacks or rules, or no client configuration in the environment.
    """
    knobs: dict[str, Any] = {
        "max_steps": max_steps,
        "num_train_epochs": num_train_epochs,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "optim": optim,
        "lr_scheduler_type": lr_scheduler_type,
        "weight_decay": weight_decay,
        "warmup_steps": warmup_steps,
        "logging_steps": logging_steps,
        "save_steps": save_steps,
        "eval_steps": eval_steps,
        "lora_r": lora_r,
        "lora_alpha": lora_alpha,
        "max_length": max_length,
        "load_in_4bit": load_in_4bit,
        "train_on_responses_only": train_on_responses_only,
        "dataset_format": dataset_format,
        "dataset_split": dataset_split,
        "dry_run": dry_run,
        "seed": seed,
    }
    for key, value in _lora(lora).items():
        if knobs[key] is not None and knobs[key] != value:
            raise ConfigError(f"{key} is given twice (as {key}= and in lora=) with two values")
        knobs[key] = value
    config = JobConfig.build(
        model=model,
        dataset_source=parse_dataset(dataset),
        **{k: v for k, v in knobs.items() if v is not None},
    )
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"name must be a non-empty string, got {name!r}")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise ConfigError(f"reconnect must be a ReconnectPolicy, got {reconnect!r}")
    callbacks_ = TrainerCallbacks.coerce(callbacks)
    rules = _rules(early_stopping)
    owns = client is None
    return Trainer(
        name=name.strip(),
        config=config,
        client=ArkorClient.from_env() if client is None else client,
        owns_client=owns,
        callbacks=callbacks_,
        reconnect=reconnect,
        early_stopping=rules,
    )
