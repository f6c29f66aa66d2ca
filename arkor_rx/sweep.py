"""Sweeps: many runs of one config, followed as one stream, pruned across runs.

Rule 1: a sweep is many Trainers and one merged Observable. Each run is a
[`Trainer`][arkor_rx.trainer.Trainer] built by
[`create_trainer`][arkor_rx.trainer.create_trainer] from the shared config and the run's
own knobs; [`Sweep.events`][arkor_rx.sweep.Sweep.events] merges their ``events()`` with
``reactivex.merge``, each event wrapped as [`RunEvent`][arkor_rx.runs.RunEvent].

Rule 2: every config is checked before anything is sent. A bad grid (an
unknown knob, an empty list, a value the job config refuses) is a
[`ConfigError`][arkor_rx.errors.ConfigError] from [`create_sweep`][arkor_rx.sweep.create_sweep].

Rule 3: the pruner decides and the Trainer acts. [`Sweep.wait`][arkor_rx.sweep.Sweep.wait] feeds
every run's handled events (seen through the run's callbacks, after the
user's own) into one merged stream that the pruner watches, once for the
whole sweep; each [`PruneDecision`][arkor_rx.runs.PruneDecision] is the verdict
of the run it names, so that run's Trainer cancels its job once, as for any
early-stopping rule, and the decision becomes its result's ``.stop``.

Rule 4: runs are independent. A run that fails or raises is recorded and the
others go on. Cancelling the task that runs ``wait()`` stops following every
run and cancels none on the backend; [`Sweep.cancel`][arkor_rx.sweep.Sweep.cancel] cancels every
unfinished run, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx._create_sweep import create_sweep
from arkor_rx._mode import Mode
from arkor_rx._sweep_feed import SweepFeed
from arkor_rx._sweep_knobs import knob_names
from arkor_rx._sweep_runs import RunFactory, Slot
from arkor_rx._sweep_sources import RunSource
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ArkorError
from arkor_rx.pruning import Pruner
from arkor_rx.runs import PruneDecision, Run, RunEvent, SweepResult

__all__ = ["Pruner", "Sweep", "create_sweep", "knob_names"]

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
        client: ArkorClient,
        owns_client: bool,
        max_concurrent: int,
        pruner: Pruner | None,
        monitor: str | None,
        mode: Mode,
        run_options: Mapping[str, Any],
        source: Callable[[RunFactory], RunSource],
    ) -> None:
        """Prefer [`create_sweep`][arkor_rx.sweep.create_sweep], which validates its arguments.

        ``run_options`` are what every run is built with (the shared config,
        callbacks, rules, sinks, reconnect policy); ``source`` makes the run
        source from the runs' factory.
        """
        self._name = name
        self._client = client
        self._owns_client = owns_client
        self._max_concurrent = max_concurrent
        self._pruner = pruner
        self._monitor = monitor
        self._mode: Mode = mode
        self._feed = SweepFeed(name, monitor, mode)
        self._waiting = False
        self._cancel_requested = False
        self._result: SweepResult | None = None
        factory = RunFactory(name=name, client=client, see=self._feed.see, **run_options)
        self._source: RunSource = source(factory)  # a source gets the factory, not the sweep
        self._feed.source = self._source

    # --- public surface --------------------------------------------------------

    @property
    def name(self) -> str:
        """The sweep's name; run ``i`` is the job ``"<name>-<i> (<knobs>)"`` (``-t<trial>`` in a
        study-driven sweep)."""
        return self._name

    @property
    def runs(self) -> tuple[Run, ...]:
        """The runs known so far (all of them for a grid or ``runs=``), with their job ids."""
        return tuple(s.run for s in self._source.known())

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
        return self._feed.progress

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
            return slot.events(lambda: self._cancel_requested)

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
        try:
            await self._run_workers()
        finally:
            self._waiting = False
        self._result = self.snapshot()
        return self._result

    async def _run_workers(self) -> None:
        """Follow every run with the workers, the pruner watching; raise what went wrong.

        The pruner's error comes first (it cancelled the workers), then a worker's
        own (a bug in the sweep itself, never a run's error).
        """
        loop = asyncio.get_running_loop()
        bus: Subject[RunEvent] = Subject()
        workers: list[asyncio.Task[None]] = []
        failure: list[Exception] = []

        def on_pruner_error(exc: Exception) -> None:
            if not failure:
                failure.append(exc)
                for worker in workers:
                    worker.cancel()

        subscriptions: list[abc.DisposableBase] = []
        try:
            self._feed.bus = bus
            if self._pruner is not None:
                pruned = self._pruner(bus)
                subscriptions.append(
                    pruned.subscribe(
                        self._feed.decide, on_pruner_error, scheduler=AsyncIOScheduler(loop)
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
            self._feed.bus = None
        if failure:
            raise failure[0]
        for worker in workers:
            error = worker.exception()
            if error is not None:  # a bug in the sweep itself, never a run's error
                raise error

    async def _worker(self) -> None:
        while True:
            slot = await self._source.next_slot(lambda: self._cancel_requested)
            if slot is None:
                return
            await self._follow(slot)

    async def _follow(self, slot: Slot) -> None:
        trainer = slot.trainer
        try:
            if trainer is not None and not (self._cancel_requested and trainer.job_id is None):
                await trainer.start()
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
        await self._source.finished(slot)

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
            runs=tuple(s.outcome() for s in self._source.known()),
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
