"""One run of a sweep: its state (`Slot`), how it is built (`RunFactory`), how it meets the
sweep (`RunLink`).

Rule 1: a `Slot` is the one copy of a run's state in a sweep: its
[`Run`][arkor_rx.runs.Run], its Trainer, its Optuna trial (if any), where it
stands, how it ended and what its monitored metric did.

Rule 2: a run meets its sweep through the Trainer's public surface only. Its
handled events reach the sweep through the run's callbacks (after the user's
own callback of that event, in stream order); the sweep's verdict reaches the
run through one stop rule, the Trainer's way of stopping a run for a reason
(the job is cancelled once and the verdict becomes the result's ``.stop``).
Neither the sweep's pruner nor an Optuna study is a stop rule of the run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable

from arkor_rx._mode import Mode, better
from arkor_rx._sweep_knobs import knob_text
from arkor_rx.callbacks import TrainerCallbacks
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent, TrainingLog
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.runs import Run, RunEvent, RunResult
from arkor_rx.stopping import StopDecision, StopRule
from arkor_rx.trainer import Trainer, TrainingResult, create_trainer

__all__ = ["RunFactory", "RunLink", "RunTrack", "Slot"]

SeeFn = Callable[["Slot", TrainingEvent], None]
"""What the sweep does with each handled event of a run."""


@dataclass
class RunTrack:
    """What the sweep saw of one run's monitored metric: its last value and its best so far."""

    value: float | None = None
    value_step: int | None = None
    best_value: float | None = None
    best_step: int | None = None
    last_step: int | None = None

    def see(self, event: TrainingEvent, monitor: str | None, mode: Mode) -> None:
        """Take one handled event of the run."""
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
        if better(value, self.best_value, mode):
            self.best_value, self.best_step = value, event.step


class RunLink:
    """Where one run meets its sweep: its handled events out, the sweep's verdict in (Rule 2)."""

    __slots__ = ("_decision", "_observer", "_see", "_slot")

    def __init__(self, slot: Slot, see: SeeFn) -> None:
        self._slot = slot
        self._see = see
        self._decision: StopDecision | None = None
        self._observer: abc.ObserverBase[StopDecision] | None = None

    def callbacks(self, user: TrainerCallbacks) -> TrainerCallbacks:
        """``user``'s callbacks, each followed by the sweep seeing the event."""
        return TrainerCallbacks(
            **{f.name: self._then(getattr(user, f.name)) for f in fields(TrainerCallbacks)}
        )

    def _then(self, callback: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        slot, see = self._slot, self._see
        if callback is None:
            return lambda ctx: see(slot, ctx.event)

        def call(ctx: Any) -> Any:
            result = callback(ctx)
            if result is not None and inspect.isawaitable(result):
                pending = result

                async def after() -> None:
                    await pending
                    see(slot, ctx.event)

                return after()
            see(slot, ctx.event)
            return None

        return call

    def rule(self) -> StopRule:
        """The run's one stop rule: it emits the sweep's verdict, and reads no event."""

        def verdict(events: Observable[TrainingEvent]) -> Observable[StopDecision]:
            def subscribe(
                observer: abc.ObserverBase[StopDecision], scheduler: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                if self._decision is not None:  # decided while no wait() followed the run
                    observer.on_next(self._decision)
                    return Disposable()
                self._observer = observer

                def forget() -> None:
                    if self._observer is observer:
                        self._observer = None

                return Disposable(forget)

            return Observable(subscribe)

        return verdict

    def stop(self, decision: StopDecision) -> bool:
        """Stop the run for ``decision``; False when a verdict was already given."""
        if self._decision is not None:
            return False
        self._decision = decision
        if self._observer is not None:
            self._observer.on_next(decision)
        return True


@dataclass(eq=False)
class Slot:
    """One run's state inside a sweep (Rule 1); a `RunFactory` makes them."""

    base: Run
    trainer: Trainer | None = None
    link: RunLink | None = None
    trial: Any = None
    state: Literal["pending", "running", "done"] = "pending"
    result: TrainingResult | None = None
    error: BaseException | None = None
    track: RunTrack = field(default_factory=RunTrack)

    @property
    def run(self) -> Run:
        """The run, with its job id once the Trainer has one."""
        if self.base.job_id is None and self.trainer is not None and self.trainer.job_id:
            self.base = replace(self.base, job_id=self.trainer.job_id)
        return self.base

    def events(self, cancelled: Callable[[], bool]) -> Observable[RunEvent]:
        """The run's events on a stream of its own (empty when the sweep was ``cancelled()``
        before its job was started)."""

        def factory(scheduler: abc.SchedulerBase | None = None) -> Observable[RunEvent]:
            trainer = self.trainer
            if trainer is None or (cancelled() and trainer.job_id is None):
                return reactivex.empty()

            def wrap(event: TrainingEvent) -> RunEvent:
                return RunEvent(self.run, event)

            return trainer.events().pipe(ops.map(wrap))

        return reactivex.defer(factory)

    def outcome(self) -> RunResult:
        """The run's result so far (what ``Sweep.snapshot()`` lists)."""
        track = self.track
        return RunResult(
            run=self.run,
            result=self.result,
            error=self.error,
            value=track.value,
            value_step=track.value_step,
            best_value=track.best_value,
            best_step=track.best_step,
            last_step=track.last_step,
            trial_number=None if self.trial is None else self.trial.number,
        )


def _nested(sink: Any, parent_run: str) -> Any:
    """An MLflow sink without a parent of its own nests the sweep's runs under one parent run
    named after the sweep: through a copy of it, so the sink the user gave is left unchanged
    (duck-typed: no mlflow import)."""
    if getattr(sink, "parent_run", "") is None and hasattr(sink, "with_parent_run"):
        return sink.with_parent_run(parent_run)
    return sink


class RunFactory:
    """Builds each run of a sweep from the shared config and the run's knobs (sends nothing)."""

    def __init__(
        self,
        *,
        name: str,
        shared: Mapping[str, Any],
        client: ArkorClient,
        callbacks: TrainerCallbacks | Mapping[str, Any] | None,
        early_stopping: Sequence[StopRule],
        sinks: Sequence[Any] | None,
        reconnect: ReconnectPolicy | None,
        see: SeeFn,
    ) -> None:
        self._name = name
        self._shared = dict(shared)
        self._client = client
        self._callbacks = TrainerCallbacks.coerce(callbacks)
        self._rules = tuple(early_stopping)
        self._sinks = None if sinks is None else [_nested(sink, name) for sink in sinks]
        self._reconnect = reconnect
        self._see = see

    @property
    def client(self) -> ArkorClient:
        """The client every run talks through."""
        return self._client

    def job_name(self, key: int | str, knobs: Mapping[str, Any]) -> str:
        """``"<sweep>-<key> (<knobs>)"``: the job name of a run (``key``: its index or ``t<n>``)."""
        text = knob_text(knobs)
        return f"{self._name}-{key}" + (f" ({text})" if text else "")

    def make(
        self,
        index: int,
        knobs: Mapping[str, Any],
        *,
        job_id: str | None = None,
        name: str | None = None,
    ) -> Slot:
        """The run ``index`` with ``knobs`` over the shared config, and its Trainer.

        With ``job_id``, the Trainer follows that existing job (``ax.attach``)
        instead of submitting one. ``name``: the job name (default
        ``job_name(index, knobs)``).

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
        name = self.job_name(index, knobs) if name is None else name
        slot = Slot(Run(index, job_id, knobs, name))
        link = slot.link = RunLink(slot, self._see)
        extra: dict[str, Any] = {} if self._sinks is None else {"sinks": self._sinks}
        options: dict[str, Any] = dict(
            client=self._client,
            callbacks=link.callbacks(self._callbacks),
            reconnect=self._reconnect,
            early_stopping=[*self._rules, link.rule()],
            **extra,
        )
        try:
            trainer = create_trainer(name=name, **options, **config)
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None
        if job_id is not None:
            from arkor_rx.attach import attach

            trainer = attach(job_id, **options)
        slot.trainer = trainer
        return slot
