"""The [`Sweep`][arkor_rx.sweep.Sweep]: many Trainers, one merged stream, a pruner over it.

See [`arkor_rx.sweep`][arkor_rx.sweep] for the rules; build a sweep with
[`arkor_rx.sweep.create_sweep`][arkor_rx.sweep.create_sweep].
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx._sweep_parts import FixedSource, Mode, Pruner, RunSource, Slot, knob_text
from arkor_rx.callbacks import TrainerCallbacks
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ArkorError, ConfigError
from arkor_rx.events import TrainingEvent
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.runs import PruneDecision, Run, RunEvent, RunResult, SweepResult
from arkor_rx.stopping import StopDecision, StopRule
from arkor_rx.trainer import create_trainer

__all__ = ["Sweep"]

logger = logging.getLogger("arkor_rx.sweep")


class Sweep:
    """Many runs of one config: follow them as one stream, prune across them, pick the best.

    Build it with [`create_sweep`][arkor_rx.sweep.create_sweep]; nothing is sent before
    [`wait`][arkor_rx.sweep.Sweep.wait] or
    [`events`][arkor_rx.sweep.Sweep.events]. Use it as an async context manager to close a client it
    created itself.
    """

    def __init__(
        self,
        *,
        name: str,
        shared: Mapping[str, Any],
        client: ArkorClient,
        owns_client: bool,
        max_concurrent: int,
        pruner: Pruner | None,
        monitor: str | None,
        mode: Mode,
        early_stopping: Sequence[StopRule],
        callbacks: TrainerCallbacks | Mapping[str, Any] | None,
        sinks: Sequence[Any] | None,
        reconnect: ReconnectPolicy | None,
    ) -> None:
        """Prefer [`create_sweep`][arkor_rx.sweep.create_sweep], which validates its arguments."""
        self._name = name
        self._shared = dict(shared)
        self._client = client
        self._owns_client = owns_client
        self._max_concurrent = max_concurrent
        self._pruner = pruner
        self._monitor = monitor
        self._mode: Mode = mode
        self._rules = tuple(early_stopping)
        self._callbacks = callbacks
        self._sinks = None if sinks is None else list(sinks)
        self._reconnect = reconnect
        self._source: RunSource = FixedSource([], max_concurrent)
        self._bus: Subject[RunEvent] | None = None
        self._progress: Subject[RunEvent | PruneDecision] = Subject()
        self._decisions: Subject[PruneDecision] | None = None
        self._waiting = False
        self._cancel_requested = False
        self._result: SweepResult | None = None

    # --- building runs ---------------------------------------------------------

    def make_slot(
        self, index: int, knobs: Mapping[str, Any], *, extra_rules: Sequence[StopRule] = ()
    ) -> Slot:
        """The run ``index`` with ``knobs`` over the shared config, and its Trainer.

        Raises:
            ConfigError: the config is refused; the message names the run and its knobs.
        """
        knobs = dict(knobs)
        text = knob_text(knobs)
        label = f"run {index}" + (f" ({text})" if text else "")
        config = {**self._shared, **knobs}
        missing = [k for k in ("model", "dataset") if k not in config]
        if missing:
            raise ConfigError(f"{label}: {' and '.join(missing)} must be set (shared or per run)")
        name = f"{self._name}-{index}" + (f" ({text})" if text else "")
        slot = Slot(Run(index, None, knobs, name))
        extra: dict[str, Any] = {} if self._sinks is None else {"sinks": self._sinks}
        try:
            slot.trainer = create_trainer(
                name=name,
                client=self._client,
                callbacks=self._callbacks,
                reconnect=self._reconnect,
                early_stopping=[*self._rules, self._tap(slot), *extra_rules],
                **extra,
                **config,
            )
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None
        return slot

    def _use(self, source: RunSource) -> None:
        self._source = source

    def _tap(self, slot: Slot) -> StopRule:
        """The run's own stop rule: it feeds the merged stream and relays the pruner's verdicts."""

        def rule(events: Observable[TrainingEvent]) -> Observable[StopDecision]:
            def subscribe(
                observer: abc.ObserverBase[StopDecision], scheduler: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                bus, decisions = self._bus, self._decisions

                def on_next(event: TrainingEvent) -> None:
                    slot.track.see(event, self._monitor, self._mode)
                    item = RunEvent(self._run_of(slot), event)
                    self._show(item)
                    if bus is not None:
                        bus.on_next(item)

                seen = events.subscribe(on_next, scheduler=scheduler)
                if decisions is None:
                    return seen

                def mine(decision: PruneDecision) -> bool:
                    return decision.run.index == slot.run.index

                def verdict_of(decision: PruneDecision) -> StopDecision:
                    self._show(decision)
                    return decision.decision

                verdict = decisions.pipe(
                    ops.filter(mine), ops.map(verdict_of), ops.take(1)
                ).subscribe(observer, scheduler=scheduler)
                return CompositeDisposable(seen, verdict)

            return Observable(subscribe)

        return rule

    def _show(self, item: RunEvent | PruneDecision) -> None:
        # A live view that breaks must not stop the runs it shows: log it, go on.
        try:
            self._progress.on_next(item)
        except Exception:
            logger.exception("sweep %s: a progress() observer raised", self._name)

    def _run_of(self, slot: Slot) -> Run:
        if slot.run.job_id is None and slot.trainer is not None and slot.trainer.job_id:
            slot.run = replace(slot.run, job_id=slot.trainer.job_id)
        return slot.run

    # --- public surface --------------------------------------------------------

    @property
    def name(self) -> str:
        """The sweep's name; run ``i`` is the job ``"<name>-<i> (<knobs>)"``."""
        return self._name

    @property
    def runs(self) -> tuple[Run, ...]:
        """The runs known so far (all of them for a grid or ``runs=``), with their job ids."""
        return tuple(self._run_of(s) for s in self._source.known())

    @property
    def monitor(self) -> str | None:
        """The metric the best run is chosen by (None: no best run)."""
        return self._monitor

    @property
    def mode(self) -> Mode:
        """``"min"`` or ``"max"``: which way the monitored metric is better."""
        return self._mode

    @property
    def client(self) -> ArkorClient:
        """The client every run talks through."""
        return self._client

    def __repr__(self) -> str:
        return f"Sweep(name={self._name!r}, runs={len(self._source.known())})"

    def progress(self) -> Observable[RunEvent | PruneDecision]:
        """What [`wait`][arkor_rx.sweep.Sweep.wait] follows, as it happens: a hot Observable for
        live views.

        Each run's [`RunEvent`][arkor_rx.runs.RunEvent] is emitted as its Trainer
        handles it (after the run's callbacks), and each
        [`PruneDecision`][arkor_rx.runs.PruneDecision] that stops a run right after the
        event that led to it. Nothing is replayed: subscribe before
        [`wait`][arkor_rx.sweep.Sweep.wait]. Unlike [`events`][arkor_rx.sweep.Sweep.events], it
        opens no connection of its own.

        Examples:
            >>> sweep.progress().subscribe(view.dispatch)  # doctest: +SKIP
        """
        return self._progress

    def events(self) -> Observable[RunEvent]:
        """Every run's events, merged: a cold Observable of [`RunEvent`][arkor_rx.runs.RunEvent].

        Each subscription follows the runs with ``reactivex.merge``, at most
        ``max_concurrent`` at a time (for a grid or ``runs=``), starting each
        job that is not started yet and opening its own stream of it, from the
        run's first event. It completes when every run's stream did and errors
        when one run's stream fails permanently (use [`wait`][arkor_rx.sweep.Sweep.wait] for runs
        that
        must not affect each other). The pruner, the per-run rules and the
        callbacks belong to [`wait`][arkor_rx.sweep.Sweep.wait]; pipe a pruner here yourself to see
        its decisions (``sweep.events().pipe(aop.median_pruner(...))``).
        After [`cancel`][arkor_rx.sweep.Sweep.cancel], runs not yet started are skipped. In a sweep
        driven by an Optuna study, the runs are the trials [`wait`][arkor_rx.sweep.Sweep.wait] asks
        for, followed as they come. Subscribe inside the running asyncio loop.

        Examples:
            >>> sweep.events().subscribe(  # doctest: +SKIP
            ...     lambda e: print(e.run.index, e.event.type))
        """

        def follow(slot: Slot) -> Observable[RunEvent]:
            def factory(scheduler: abc.SchedulerBase | None = None) -> Observable[RunEvent]:
                trainer = slot.trainer
                if trainer is None or (self._cancel_requested and trainer.job_id is None):
                    return reactivex.empty()

                def wrap(event: TrainingEvent) -> RunEvent:
                    return RunEvent(self._run_of(slot), event)

                return trainer.events().pipe(ops.map(wrap))

            return reactivex.defer(factory)

        limit = self._source.merge_limit
        # ops.merge(max_concurrent=None) would merge the outer stream with nothing:
        # without a limit, merge_all() is the operator that flattens.
        flatten = ops.merge_all() if limit is None else ops.merge(max_concurrent=limit)
        return self._source.slots().pipe(ops.map(follow), flatten)

    async def wait(self) -> SweepResult:
        """Run the sweep, ``max_concurrent`` runs at a time; return its result.

        Each run is its Trainer's ``wait()``: callbacks, sinks, per-run stop
        rules and the pruner's decisions apply, and a pruned or stopped run is
        cancelled on the backend once. A run that fails, is refused or raises
        is recorded (its [`error`][arkor_rx.runs.RunResult.error]) and the
        others go on. Once it returned, calling it again returns the same result.

        Cancelling the task that runs it stops following every run and cancels
        none of them on the backend; a new ``wait()`` then resumes the runs
        that were being followed (their Trainers resume after the last event
        they handled; the pruner starts afresh) and starts the rest.

        Returns:
            A [`SweepResult`][arkor_rx.runs.SweepResult] with one result per run, the best
            run and a table.

        Raises:
            Exception: the error of the pruner (the sweep stops following its runs).
            RuntimeError: ``wait()`` is already running.
            asyncio.CancelledError: the waiting task was cancelled.
        """
        if self._result is not None:
            return self._result
        if self._waiting:
            raise RuntimeError("Sweep.wait() is already running")
        self._waiting = True
        loop = asyncio.get_running_loop()
        bus: Subject[RunEvent] = Subject()
        decisions: Subject[PruneDecision] = Subject()
        workers: list[asyncio.Task[None]] = []
        failure: list[Exception] = []

        def on_pruner_error(exc: Exception) -> None:
            if not failure:
                failure.append(exc)
                for worker in workers:
                    worker.cancel()

        subscriptions: list[abc.DisposableBase] = []
        try:
            self._bus, self._decisions = bus, decisions
            if self._pruner is not None:
                pruned = self._pruner(bus)
                subscriptions.append(
                    pruned.subscribe(
                        decisions.on_next, on_pruner_error, scheduler=AsyncIOScheduler(loop)
                    )
                )
            count = self._source.worker_count(self._max_concurrent)
            workers.extend(loop.create_task(self._worker()) for _ in range(count))
            try:
                await asyncio.wait(workers)
            except asyncio.CancelledError:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
            if not failure:
                bus.on_completed()
        finally:
            for subscription in subscriptions:
                subscription.dispose()
            self._bus = self._decisions = None
            self._waiting = False
        if failure:
            raise failure[0]
        for worker in workers:
            error = worker.exception()
            if error is not None:  # a bug in the sweep itself, never a run's error
                raise error
        self._result = self.snapshot()
        return self._result

    async def _worker(self) -> None:
        while True:
            slot = self._source.next_slot(self)
            if slot is None:
                return
            await self._follow(slot)

    async def _follow(self, slot: Slot) -> None:
        trainer = slot.trainer
        try:
            if trainer is not None and not (self._cancel_requested and trainer.job_id is None):
                await trainer.start()
                self._run_of(slot)
                self._source.started(slot)
                if self._cancel_requested:  # cancel() came while the job was being submitted
                    with contextlib.suppress(ArkorError):
                        await trainer.cancel()
                slot.result = await trainer.wait()
        except asyncio.CancelledError:
            slot.state = "pending"
            raise
        except Exception as exc:
            logger.warning(
                "sweep %s: %s raised %s: %s", self._name, slot.run.name, type(exc).__name__, exc
            )
            slot.error = exc
        slot.state = "done"
        self._source.finished(slot, self)

    async def cancel(self) -> None:
        """Cancel every unfinished run on the backend, once; runs not yet started never start.

        Each run's Trainer sends at most one cancel request (a run that a
        pruner already stopped sends none); a job that had already ended is
        not an error. A running [`wait`][arkor_rx.sweep.Sweep.wait] goes on until the cancelled runs
        have ended, and returns their results (status ``cancelled``).

        Raises:
            CloudApiError: a cancel request was refused (the first such error,
                after every run was asked).
            TransportError: a cancel request could not be sent.
        """
        self._cancel_requested = True
        trainers = [
            s.trainer
            for s in self._source.known()
            if s.trainer is not None and s.state != "done" and s.trainer.job_id is not None
        ]
        outcomes = await asyncio.gather(*(t.cancel() for t in trainers), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def snapshot(self) -> SweepResult:
        """The results so far: finished runs with their results, the others without."""
        return SweepResult(
            runs=tuple(
                RunResult(
                    run=self._run_of(s),
                    result=s.result,
                    error=s.error,
                    value=s.track.value,
                    value_step=s.track.value_step,
                    best_value=s.track.best_value,
                    best_step=s.track.best_step,
                    last_step=s.track.last_step,
                    trial_number=None if s.trial is None else s.trial.number,
                )
                for s in self._source.known()
            ),
            monitor=self._monitor,
            mode=self._mode,
        )

    async def aclose(self) -> None:
        """Close the client if the sweep created it (``create_sweep`` without ``client=``)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Sweep:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
