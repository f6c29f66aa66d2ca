"""Optuna drives a sweep: trials from the study, values to the trials, outcomes told back.

Used by [`arkor_rx.sweep.create_sweep`][arkor_rx.sweep.create_sweep] when it is given ``study=``
(install the extra: ``pip install 'arkor_rx[optuna]'``). ``optuna`` is
imported only here, and only then.

Rule 1: one run is one trial. The run's knobs are ``space(trial)`` for a
trial from ``study.ask()``; every value of the monitored metric is reported
with ``trial.report(value, step)`` (once per step), and after each report the
study's own pruner decides (``trial.should_prune()``). A pruned trial's run is
stopped like a run a sweep pruner named: its Trainer cancels the job once,
and the result's ``.stop.rule`` is ``"prune.optuna"``.

Rule 2: every trial is told how its run ended: ``COMPLETE`` with the final
(last reported) monitored value when the job completed, ``PRUNED`` when a
stop rule stopped it (the study's pruner, a sweep pruner or a per-run rule),
``FAIL`` otherwise (the job failed or was cancelled, the run raised, no value
was reported, or the final value is NaN).

Rule 3: ``n_runs`` counts the trials the *study* holds, whoever made them, so
processes that run the same sweep against one storage share the work:
each asks for a trial only while the study holds fewer than ``n_runs``
trials, and a trial numbered ``n_runs`` or more (two processes asked at the
same moment; Optuna numbers a study's trials in one sequence) is told
``FAIL`` at once with the user attribute ``arkor_rx.surplus`` and never run.
No trial is ever run twice: ``ask()`` hands each trial to one process.

Optuna's calls are synchronous and run on the event loop, in order with the
events (so a decision never depends on a thread's timing): with a remote RDB
storage each reported value costs a round trip, so monitor a metric that is
reported now and then (``eval_loss`` every ``eval_steps``), not every step.

Rule 4: cancelling the task of ``wait()`` tells nothing: the runs' trials stay
``RUNNING`` while their jobs go on; a new ``wait()`` follows them again and
tells them when they end. Each trial records its job in the user attribute
``arkor_rx.job_id``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reactivex import Observable, abc
from reactivex.subject import ReplaySubject

from arkor_rx._mode import Mode
from arkor_rx._sweep_knobs import check_knobs
from arkor_rx._sweep_runs import RunFactory, Slot
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent, TrainingLog
from arkor_rx.runs import Run
from arkor_rx.stopping import StopDecision, StopRule

if TYPE_CHECKING:
    from arkor_rx._sweep_sources import RunSource

__all__ = [
    "JOB_ID_ATTR",
    "SURPLUS_ATTR",
    "StudySource",
    "TrialReporter",
    "import_optuna",
    "study_mode",
    "study_source",
    "trial_rule",
]

logger = logging.getLogger(__name__)

JOB_ID_ATTR = "arkor_rx.job_id"
"""The trial user attribute that holds the run's job id."""

SURPLUS_ATTR = "arkor_rx.surplus"
"""The user attribute of a trial asked beyond ``n_runs`` (told FAIL, never run)."""

MISSING = "optuna is not installed; pip install 'arkor_rx[optuna]'"


def import_optuna() -> Any:
    """The ``optuna`` module, or a one-line ``ModuleNotFoundError`` naming the extra."""
    try:
        import optuna
    except ModuleNotFoundError:
        raise ModuleNotFoundError(MISSING) from None
    return optuna


def study_mode(study: Any, monitor: str | None, mode: str | None) -> Mode:
    """The sweep's mode from the study's direction, checked against ``monitor`` and ``mode``.

    Raises:
        ConfigError: no monitor, a multi-objective study, or a mode against the direction.
    """
    optuna = import_optuna()
    if not isinstance(study, optuna.Study):
        raise ConfigError(f"study must be an optuna.Study, got {type(study).__name__}")
    if monitor is None:
        raise ConfigError("study= needs monitor= (the metric reported to the trials)")
    if len(study.directions) != 1:
        raise ConfigError("study= needs a single-objective study (one direction)")
    minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
    derived: Mode = "min" if minimize else "max"
    if mode is not None and mode != derived:
        raise ConfigError(
            f"mode={mode!r} contradicts the study's direction "
            f"({'minimize' if minimize else 'maximize'})"
        )
    return derived


class TrialReporter:
    """Reports one run's monitored values to its trial; says when the study's pruner prunes it.

    Each new step's value is reported once (``trial.report(value, step)``);
    then ``trial.should_prune()`` decides, and a prune is a decision whose rule
    is ``"prune.optuna"``. After a prune (or an error of Optuna) it reports
    nothing more.
    """

    __slots__ = ("_monitor", "_reported", "_stopped", "trial")

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial = trial
        self._monitor = monitor
        self._reported: set[int] = set()
        self._stopped = False

    def see(self, event: TrainingEvent) -> StopDecision | None:
        """Report ``event``'s value, if it has a new one; the decision when the trial is pruned.

        Raises:
            Exception: what Optuna raised (then nothing more is reported).
        """
        if self._stopped or not isinstance(event, TrainingLog):
            return None
        value = event.metric(self._monitor)
        if value is None or event.step in self._reported:
            return None
        self._reported.add(event.step)
        trial = self.trial
        try:
            trial.report(float(value), event.step)
            with warnings.catch_warnings():
                # numpy's warning when Optuna's pruner meets a run whose values
                # are all NaN: expected (such a run is pruned), not a problem.
                warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
                prune = trial.should_prune()
        except Exception:
            self._stopped = True
            raise
        if not prune:
            return None
        self._stopped = True
        pruner = type(trial.study.pruner).__name__
        return StopDecision(
            rule="prune.optuna",
            reason=(
                f"the study's {pruner} pruned trial {trial.number}: "
                f"{self._monitor} {float(value):.4g} at step {event.step}"
            ),
            step=event.step,
            value=float(value),
            monitor=self._monitor,
        )


def trial_rule(trial: Any, monitor: str) -> StopRule:
    """A stop rule that reports ``monitor`` to ``trial`` and stops when the study's pruner says so.

    For a Trainer of your own (a sweep reports to its trials itself). Each new
    step's value is reported once (``trial.report(value, step)``); then
    ``trial.should_prune()`` decides. The decision's rule is
    ``"prune.optuna"``. An error of Optuna ends the rule with that error (the
    run's ``wait()`` raises it).
    """

    def rule(events: Observable[TrainingEvent]) -> Observable[StopDecision]:
        def subscribe(
            observer: abc.ObserverBase[StopDecision], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            reporter = TrialReporter(trial, monitor)

            def on_next(event: TrainingEvent) -> None:
                try:
                    decision = reporter.see(event)
                except Exception as exc:
                    observer.on_error(exc)
                    return
                if decision is not None:
                    observer.on_next(decision)
                    observer.on_completed()

            return events.subscribe(on_next, scheduler=scheduler)

        return Observable(subscribe)

    return rule


def study_source(
    study: Any,
    space: Callable[[Any], Mapping[str, Any]] | None,
    n_runs: int | None,
    monitor: str | None,
    allowed: Sequence[str],
) -> Callable[[RunFactory], RunSource]:
    """What ``create_sweep(study=...)`` runs: a `StudySource` of the runs' factory, probed.

    Raises:
        ConfigError: no ``space`` or ``n_runs``, or ``space`` returned an unknown
            knob or a value the job config refuses (checked on a throwaway trial).
    """
    if not callable(space):
        raise ConfigError("study= needs space=, a function of the trial returning a dict of knobs")
    if isinstance(n_runs, bool) or not isinstance(n_runs, int) or n_runs < 1:
        raise ConfigError(f"study= needs n_runs=, a positive int, got {n_runs!r}")
    assert monitor is not None  # study_mode checked it

    def make(factory: RunFactory) -> RunSource:
        source = StudySource(study, space, n_runs, monitor, factory, allowed)
        source.probe()
        return source

    return make


class StudySource:
    """The runs of a study-driven sweep: asked from the study one trial at a time."""

    def __init__(
        self,
        study: Any,
        space: Callable[[Any], Mapping[str, Any]],
        n_runs: int,
        monitor: str,
        factory: RunFactory,
        allowed: Sequence[str],
    ) -> None:
        self._optuna = import_optuna()
        self._study = study
        self._space = space
        self._n_runs = n_runs
        self._monitor = monitor
        self._factory = factory
        self._allowed = tuple(allowed)
        self._slots: list[Slot] = []
        self._reporters: dict[int, TrialReporter] = {}
        self._subject: ReplaySubject[Slot] = ReplaySubject()
        self._exhausted = False
        self.merge_limit: int | None = None

    def _knobs(self, trial: Any) -> dict[str, Any]:
        knobs = self._space(trial)
        if not isinstance(knobs, Mapping):
            raise ConfigError(f"space(trial) must return a dict of knobs, got {knobs!r}")
        check_knobs("space(trial)", list(knobs), self._allowed)
        return dict(knobs)

    def probe(self) -> None:
        """Check ``space`` on a throwaway in-memory trial, before anything is sent.

        Raises:
            ConfigError: ``space`` returned an unknown knob or a value the job config refuses.
        """
        optuna = self._optuna
        storage = optuna.storages.InMemoryStorage()
        storage.create_new_study(directions=list(self._study.directions), study_name="probe")
        probe = optuna.Study(
            study_name="probe", storage=storage, sampler=optuna.samplers.RandomSampler(seed=0)
        )
        trial = probe.ask()
        try:
            knobs = self._knobs(trial)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"space(trial) raised {type(exc).__name__}: {exc}") from None
        self._factory.make(0, knobs)  # validated, then dropped

    # --- RunSource ------------------------------------------------------------

    def known(self) -> Sequence[Slot]:
        return self._slots

    def slots(self) -> Observable[Slot]:
        return self._subject

    def worker_count(self, max_concurrent: int) -> int:
        return max_concurrent

    async def next_slot(self, cancelled: bool) -> Slot | None:
        for slot in self._slots:  # runs a cancelled wait() left behind
            if slot.state == "pending":
                slot.state = "running"
                return slot
        if self._exhausted or cancelled:
            self._exhaust()
            return None
        if len(self._study.get_trials(deepcopy=False)) >= self._n_runs:
            self._exhaust()
            return None
        trial = self._study.ask()
        if trial.number >= self._n_runs:
            trial.set_user_attr(SURPLUS_ATTR, True)
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            self._exhaust()
            return None
        return self._add(trial)

    def _add(self, trial: Any, job_id: str | None = None) -> Slot:
        index = len(self._slots)
        try:
            slot = self._factory.make(index, self._knobs(trial), job_id=job_id)
        except Exception as exc:
            logger.warning("trial %d: bad config from space: %s", trial.number, exc)
            slot = Slot(Run(index, job_id, dict(trial.params), f"trial-{trial.number}"), error=exc)
        slot.trial = trial
        slot.state = "running"
        self._reporters[index] = TrialReporter(trial, self._monitor)
        self._slots.append(slot)
        self._subject.on_next(slot)
        return slot

    def _exhaust(self) -> None:
        if not self._exhausted:
            self._exhausted = True
            self._subject.on_completed()

    def started(self, slot: Slot) -> None:
        if slot.trainer is not None and slot.trainer.job_id is not None:
            slot.trial.set_user_attr(JOB_ID_ATTR, slot.trainer.job_id)

    def seen(self, slot: Slot, event: TrainingEvent) -> StopDecision | None:
        reporter = self._reporters.get(slot.base.index)
        return None if reporter is None else reporter.see(event)

    def finished(self, slot: Slot) -> None:
        state = self._optuna.trial.TrialState
        result = slot.result
        value = slot.track.value
        try:
            if result is not None and result.status == "completed":
                if value is not None and not math.isnan(value):
                    self._study.tell(slot.trial, value)
                    return
                self._study.tell(slot.trial, state=state.FAIL)
            elif result is not None and result.stop is not None:
                self._study.tell(slot.trial, state=state.PRUNED)
            else:
                self._study.tell(slot.trial, state=state.FAIL)
        except Exception as exc:  # the study refused (e.g. the trial was told elsewhere)
            logger.warning("could not tell trial %d: %s", slot.trial.number, exc)
