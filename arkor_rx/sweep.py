"""Sweeps: many runs of one config, followed as one stream, pruned across runs.

Rule 1: a sweep is many Trainers and one merged Observable. Each run is a
:class:`~arkor_rx.trainer.Trainer` built by
:func:`~arkor_rx.trainer.create_trainer` from the shared config and the run's
own knobs; :meth:`Sweep.events` merges their ``events()`` with
``reactivex.merge``, each event wrapped as :class:`~arkor_rx.runs.RunEvent`.

Rule 2: every config is checked before anything is sent. A bad grid (an
unknown knob, an empty list, a value the job config refuses) is a
:class:`~arkor_rx.errors.ConfigError` from :func:`create_sweep`.

Rule 3: the pruner decides and the Trainer acts. :meth:`Sweep.wait` feeds
every run's events into one merged stream that the pruner watches; each
:class:`~arkor_rx.runs.PruneDecision` goes to a stop rule of the run it
names, so that run's Trainer cancels its job once, as for any early-stopping
rule, and the decision becomes its result's ``.stop``.

Rule 4: runs are independent. A run that fails or raises is recorded and the
others go on. Cancelling the task that runs ``wait()`` stops following every
run and cancels none on the backend; :meth:`Sweep.cancel` cancels every
unfinished run, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import inspect
import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypeAlias

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx.client import ArkorClient
from arkor_rx.dispatch import TrainerCallbacks
from arkor_rx.errors import ArkorError, ConfigError
from arkor_rx.events import TrainingEvent, TrainingLog
from arkor_rx.operators._common import check_int, check_mode, check_monitor
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.runs import PruneDecision, Run, RunEvent, RunResult, SweepResult
from arkor_rx.stopping import StopDecision, StopRule
from arkor_rx.trainer import Trainer, TrainingResult, create_trainer

__all__ = ["Pruner", "RunSource", "Slot", "Sweep", "check_knobs", "create_sweep", "knob_names"]

logger = logging.getLogger(__name__)

Pruner: TypeAlias = Callable[[Observable[RunEvent]], Observable[PruneDecision]]
"""A cross-run pruner: the merged stream of a sweep in, the runs to stop out."""

Mode: TypeAlias = Literal["min", "max"]

_NOT_KNOBS = frozenset({"name", "callbacks", "client", "reconnect", "early_stopping", "sinks"})


def knob_names() -> tuple[str, ...]:
    """The names a grid, a run or the shared config may set: ``create_trainer``'s config keywords.

    Examples:
        >>> "learning_rate" in knob_names(), "lora_r" in knob_names(), "client" in knob_names()
        (True, True, False)
    """
    return tuple(p for p in inspect.signature(create_trainer).parameters if p not in _NOT_KNOBS)


def _accepts_sinks() -> bool:
    return "sinks" in inspect.signature(create_trainer).parameters


@dataclass
class _Track:
    """What the sweep saw of one run's monitored metric."""

    value: float | None = None
    value_step: int | None = None
    best_value: float | None = None
    best_step: int | None = None
    last_step: int | None = None

    def see(self, event: TrainingEvent, monitor: str | None, mode: Mode) -> None:
        step = getattr(event, "step", None)
        if isinstance(step, int):
            self.last_step = step
        if monitor is None or not isinstance(event, TrainingLog):
            return
        value = event.metric(monitor)
        if value is None:
            return
        value = float(value)
        self.value, self.value_step = value, event.step
        if math.isnan(value):
            return
        best = self.best_value
        if best is None or (value < best if mode == "min" else value > best):
            self.best_value, self.best_step = value, event.step


@dataclass(eq=False)
class Slot:
    """One run's state inside a sweep (internal: sources make them with ``Sweep.make_slot``)."""

    run: Run
    trainer: Trainer | None = None
    trial: Any = None
    state: Literal["pending", "running", "done"] = "pending"
    result: TrainingResult | None = None
    error: BaseException | None = None
    track: _Track = field(default_factory=_Track)


class RunSource(Protocol):
    """Where a sweep's runs come from: a fixed list, or a study asked one trial at a time."""

    merge_limit: int | None
    """How many runs ``events()`` follows at once (None: as many as come)."""

    def known(self) -> Sequence[Slot]:
        """The runs made so far, in run order."""

    def slots(self) -> Observable[Slot]:
        """Every run, as it becomes known (for ``events()``)."""

    def worker_count(self, max_concurrent: int) -> int:
        """How many runs ``wait()`` follows at once."""

    def next_slot(self, sweep: Sweep) -> Slot | None:
        """The next run to follow (marked running), or None when there is none left."""

    def started(self, slot: Slot) -> None:
        """The run's job was submitted."""

    def finished(self, slot: Slot, sweep: Sweep) -> None:
        """The run ended (or raised, or was never started)."""


class _Fixed:
    """The runs of a grid or an explicit list, all known up front."""

    def __init__(self, slots: list[Slot], max_concurrent: int) -> None:
        self._slots = slots
        self.merge_limit: int | None = max_concurrent

    def known(self) -> Sequence[Slot]:
        return self._slots

    def slots(self) -> Observable[Slot]:
        return reactivex.from_iterable(self._slots)

    def worker_count(self, max_concurrent: int) -> int:
        return max(1, min(max_concurrent, sum(s.state == "pending" for s in self._slots)))

    def next_slot(self, sweep: Sweep) -> Slot | None:
        for slot in self._slots:
            if slot.state == "pending":
                slot.state = "running"
                return slot
        return None

    def started(self, slot: Slot) -> None:
        pass

    def finished(self, slot: Slot, sweep: Sweep) -> None:
        pass


def _knob_text(knobs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in knobs.items())


class Sweep:
    """Many runs of one config: follow them as one stream, prune across them, pick the best.

    Build it with :func:`create_sweep`; nothing is sent before :meth:`wait` or
    :meth:`events`. Use it as an async context manager to close a client it
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
        """Prefer :func:`create_sweep`, which validates its arguments."""
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
        self._source: RunSource = _Fixed([], max_concurrent)
        self._bus: Subject[RunEvent] | None = None
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
        text = _knob_text(knobs)
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
                    if bus is not None:
                        bus.on_next(RunEvent(self._run_of(slot), event))

                seen = events.subscribe(on_next, scheduler=scheduler)
                if decisions is None:
                    return seen

                def mine(decision: PruneDecision) -> bool:
                    return decision.run.index == slot.run.index

                def verdict_of(decision: PruneDecision) -> StopDecision:
                    return decision.decision

                verdict = decisions.pipe(
                    ops.filter(mine), ops.map(verdict_of), ops.take(1)
                ).subscribe(observer, scheduler=scheduler)
                return CompositeDisposable(seen, verdict)

            return Observable(subscribe)

        return rule

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

    def events(self) -> Observable[RunEvent]:
        """Every run's events, merged: a cold Observable of :class:`~arkor_rx.runs.RunEvent`.

        Each subscription follows the runs with ``reactivex.merge``, at most
        ``max_concurrent`` at a time (for a grid or ``runs=``), starting each
        job that is not started yet and opening its own stream of it, from the
        run's first event. It completes when every run's stream did and errors
        when one run's stream fails permanently (use :meth:`wait` for runs that
        must not affect each other). The pruner, the per-run rules and the
        callbacks belong to :meth:`wait`; pipe a pruner here yourself to see
        its decisions (``sweep.events().pipe(aop.median_pruner(...))``).
        After :meth:`cancel`, runs not yet started are skipped. In a sweep
        driven by an Optuna study, the runs are the trials :meth:`wait` asks
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

        return self._source.slots().pipe(
            ops.map(follow), ops.merge(max_concurrent=self._source.merge_limit)
        )

    async def wait(self) -> SweepResult:
        """Run the sweep, ``max_concurrent`` runs at a time; return its result.

        Each run is its Trainer's ``wait()``: callbacks, sinks, per-run stop
        rules and the pruner's decisions apply, and a pruned or stopped run is
        cancelled on the backend once. A run that fails, is refused or raises
        is recorded (its :attr:`~arkor_rx.runs.RunResult.error`) and the
        others go on. Once it returned, calling it again returns the same result.

        Cancelling the task that runs it stops following every run and cancels
        none of them on the backend; a new ``wait()`` then resumes the runs
        that were being followed (their Trainers resume after the last event
        they handled; the pruner starts afresh) and starts the rest.

        Returns:
            A :class:`~arkor_rx.runs.SweepResult` with one result per run, the best
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
        not an error. A running :meth:`wait` goes on until the cancelled runs
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


def check_knobs(where: str, keys: Sequence[Any], allowed: Sequence[str]) -> None:
    """ConfigError naming ``where`` for the first key that is not a knob (with a close match)."""
    for key in keys:
        if not isinstance(key, str) or key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown knob {key!r}{hint} (knobs are create_trainer's "
                f"config keywords, e.g. learning_rate, lora_r)"
            )


def _grid_runs(
    grid: object, shared: Mapping[str, Any], allowed: Sequence[str]
) -> list[dict[str, Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"grid must be a non-empty dict of knob -> list of values, got {grid!r}")
    check_knobs("grid", list(grid), allowed)
    for key, values in grid.items():
        if key in shared:
            raise ConfigError(f"grid: {key} is also set in the shared config; set it in one place")
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
            raise ConfigError(f"grid[{key!r}] must be a list of values, got {values!r}")
        if not values:
            raise ConfigError(f"grid[{key!r}] is an empty list: the grid would have no runs")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _explicit_runs(runs: object, allowed: Sequence[str]) -> list[dict[str, Any]]:
    if isinstance(runs, str | bytes | Mapping) or not isinstance(runs, Sequence) or not runs:
        raise ConfigError(f"runs must be a non-empty list of dicts of knobs, got {runs!r}")
    out: list[dict[str, Any]] = []
    for index, item in enumerate(runs):
        if not isinstance(item, Mapping):
            raise ConfigError(f"runs[{index}] must be a dict of knobs, got {item!r}")
        check_knobs(f"runs[{index}]", list(item), allowed)
        out.append(dict(item))
    return out


def create_sweep(
    *,
    name: str,
    grid: Mapping[str, Sequence[Any]] | None = None,
    runs: Sequence[Mapping[str, Any]] | None = None,
    max_concurrent: int = 4,
    pruner: Pruner | None = None,
    monitor: str | None = None,
    mode: Mode | None = None,
    early_stopping: StopRule | Sequence[StopRule] | None = None,
    callbacks: TrainerCallbacks | Mapping[str, Any] | None = None,
    sinks: Sequence[Any] | None = None,
    client: ArkorClient | None = None,
    reconnect: ReconnectPolicy | None = None,
    study: Any = None,
    space: Callable[[Any], Mapping[str, Any]] | None = None,
    n_runs: int | None = None,
    **shared: Any,
) -> Sweep:
    """Build a :class:`Sweep`: the shared config over a grid, a list of runs or an Optuna study.

    Nothing is sent until :meth:`Sweep.wait` or :meth:`Sweep.events`; every
    run's config is validated here.

    Examples:
        >>> sweep = create_sweep(  # doctest: +SKIP
        ...     name="lr-sweep", model="arkor/triage-tiny",
        ...     dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
        ...     max_steps=60, eval_steps=10,
        ...     grid={"learning_rate": [0.02, 0.05, 0.2], "lora_r": [4, 8]},
        ...     max_concurrent=2, pruner=aop.median_pruner("eval_loss", n_startup_runs=2),
        ...     client=client)
        >>> result = await sweep.wait()  # doctest: +SKIP
        >>> print(result.table())  # doctest: +SKIP

    Args:
        name: the sweep's name; run ``i`` is submitted as ``"<name>-<i> (<knobs>)"``.
        grid: knob -> list of values; one run per combination (the cartesian
            product, the last knob varying fastest). A knob may not also be
            in the shared config.
        runs: an explicit list of dicts of knobs, one run each; a run's knob
            overrides the shared one.
        max_concurrent: the most runs followed (and so submitted) at a time.
        pruner: a cross-run rule (``aop.median_pruner(...)`` ...) over the
            merged stream; each run it names is stopped once.
        monitor: the metric the best run is chosen by (and reported to an
            Optuna study); default the pruner's ``monitor``.
        mode: ``"min"`` or ``"max"``; default the pruner's (or the study's
            direction), else ``"min"``.
        early_stopping: per-run stop rules, applied to every run on its own.
        callbacks: the callbacks of every run (a run's context has its job).
        sinks: sinks every run writes to (passed to ``create_trainer(sinks=)``).
        client: the client of every run; by default ``ArkorClient.from_env()``,
            which the sweep then closes in ``aclose()``.
        reconnect: every run's stream :class:`~arkor_rx.retry.ReconnectPolicy`.
        study: an ``optuna.Study`` that drives the sweep (see
            :mod:`arkor_rx.optuna_bridge`); needs ``space``, ``n_runs`` and ``monitor``.
        space: ``trial -> dict of knobs`` using ``trial.suggest_*``.
        n_runs: the number of trials the study should hold in total.
        **shared: the shared config: ``model``, ``dataset`` and any other
            ``create_trainer`` keyword (``max_steps``, ``eval_steps`` ...).

    Raises:
        ConfigError: an unknown knob, an empty grid or list, a value the job
            config refuses (naming the run), conflicting arguments, or no
            client configuration in the environment.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"name must be a non-empty string, got {name!r}")
    allowed = knob_names()
    check_knobs("create_sweep", list(shared), allowed)
    max_concurrent = check_int("max_concurrent", max_concurrent, 1)
    chosen = [k for k, v in (("grid", grid), ("runs", runs), ("study", study)) if v is not None]
    if len(chosen) != 1:
        raise ConfigError(
            "give exactly one of grid=, runs= or study= "
            + (f"(got {' and '.join(chosen)})" if chosen else "(got none)")
        )
    if study is None and (space is not None or n_runs is not None):
        raise ConfigError("space= and n_runs= go with study=")
    if pruner is not None and not callable(pruner):
        raise ConfigError(f"pruner must be callable (e.g. aop.median_pruner(...)), got {pruner!r}")
    if monitor is None:
        monitor = getattr(pruner, "monitor", None)
    if mode is None:
        mode = getattr(pruner, "mode", None)
    if monitor is not None:
        check_monitor(monitor)
    if sinks is not None and not _accepts_sinks():
        raise ConfigError("sinks= needs create_trainer(sinks=), which this version lacks")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise ConfigError(f"reconnect must be a ReconnectPolicy, got {reconnect!r}")
    if callable(early_stopping):
        rules: list[StopRule] = [early_stopping]
    else:
        rules = list(early_stopping or ())
    bridge: Any = None
    if study is not None:
        from arkor_rx import optuna_bridge

        mode = optuna_bridge.study_mode(study, monitor, mode)
        bridge = optuna_bridge.StudySource(study, space, n_runs, monitor, max_concurrent)
    owns = client is None
    sweep = Sweep(
        name=name.strip(),
        shared=shared,
        client=ArkorClient.from_env() if client is None else client,
        owns_client=owns,
        max_concurrent=max_concurrent,
        pruner=pruner,
        monitor=monitor,
        mode=check_mode("min" if mode is None else mode),
        early_stopping=rules,
        callbacks=callbacks,
        sinks=sinks,
        reconnect=reconnect,
    )
    if bridge is not None:
        bridge.probe(sweep, allowed)
        sweep._use(bridge)
    else:
        knobs = (
            _grid_runs(grid, shared, allowed) if grid is not None else _explicit_runs(runs, allowed)
        )
        slots = [sweep.make_slot(i, k) for i, k in enumerate(knobs)]
        sweep._use(_Fixed(slots, max_concurrent))
    return sweep
