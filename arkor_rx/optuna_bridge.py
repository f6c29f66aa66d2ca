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

Rule 2: every trial is told how its run ended: ``PRUNED`` when a stop rule
decided (the study's pruner, a sweep pruner or a per-run rule), even when the
job completed before its cancel reached it (the run's stream was behind the
job: the values after the decision were never reported, and the reason says
so), ``COMPLETE`` with the final (last reported) monitored value when the job
completed otherwise, ``FAIL`` otherwise (the job failed or was cancelled, the run raised, no value
was reported, or the final value is NaN).

Rule 3: ``n_runs`` counts the trials the *study* holds, whoever made them, so
processes that run the same sweep against one storage share the work:
each asks for a trial only while the study holds fewer than ``n_runs``
trials (under a study-wide lock on PostgreSQL), and a trial numbered
``n_runs`` or more (two processes asked at the same moment on a storage
without that lock; Optuna numbers a study's trials in one sequence) is told
``FAIL`` at once with the user attribute ``arkor_rx.surplus`` and never run.
No trial is ever run twice: ``ask()`` hands each trial to one process. A
study-driven run's job is named ``<sweep>-t<trial number> (<knobs>) #<nonce>``.

Optuna's calls are synchronous and run on the event loop, in order with the
events (so a decision never depends on a thread's timing): with a remote RDB
storage each reported value costs a round trip, so monitor a metric that is
reported now and then (``eval_loss`` every ``eval_steps``), not every step.

Rule 4: cancelling the task of ``wait()`` tells nothing: the runs' trials stay
``RUNNING`` while their jobs go on; a new ``wait()`` follows them again and
tells them when they end. Each trial records a nonce (``arkor_rx.job_nonce``)
and its job's name, which ends with it (``arkor_rx.job_name``), before the job
is submitted, and the job's id after (``arkor_rx.job_id``).

Rule 5: drivers may crash. With a storage that has heartbeats, a trial whose
driver stopped beating is adopted by another driver, which re-attaches its
job (never resubmits it) and tells the trial how it ended; ``max_running``
caps the study's ``RUNNING`` trials across every driver. The rules are on the
"Sweeps across machines" page; the code is in ``arkor_rx._study_source``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reactivex import Observable, abc

from arkor_rx._mode import Mode
from arkor_rx._sweep_runs import RunFactory
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent, TrainingLog
from arkor_rx.stopping import StopDecision, StopRule

if TYPE_CHECKING:
    from arkor_rx._sweep_sources import RunSource

__all__ = [
    "ADOPTED_ATTR",
    "DRIVER_ATTR",
    "JOB_ID_ATTR",
    "JOB_NAME_ATTR",
    "JOB_NONCE_ATTR",
    "REASON_ATTR",
    "SURPLUS_ATTR",
    "TrialReporter",
    "import_optuna",
    "job_nonce",
    "study_mode",
    "study_source",
    "trial_rule",
]

logger = logging.getLogger(__name__)

JOB_ID_ATTR = "arkor_rx.job_id"
"""The trial user attribute that holds the run's job id."""

SURPLUS_ATTR = "arkor_rx.surplus"
"""The user attribute of a trial asked beyond ``n_runs`` (told FAIL, never run)."""

JOB_NAME_ATTR = "arkor_rx.job_name"
"""The trial user attribute that holds its job's name, recorded before the job is submitted:
``<sweep>-t<trial number> (<knobs>) #<nonce>``."""

JOB_NONCE_ATTR = "arkor_rx.job_nonce"
"""The trial user attribute that holds the random nonce (16 hex digits) its job's name ends
with, recorded before the job is submitted; an adopting driver finds the job by it."""

DRIVER_ATTR = "arkor_rx.driver"
"""The trial user attribute naming the driver (``host:pid:random``) that asked for it."""

REASON_ATTR = "arkor_rx.reason"
"""The trial user attribute saying why a trial was told ``FAIL`` or ``PRUNED``."""

ADOPTED_ATTR = "arkor_rx.adopted_by"
"""The trial user attribute naming the driver that adopted it after its own driver died."""

MISSING = "optuna is not installed; pip install 'arkor_rx[optuna]'"


def import_optuna() -> Any:
    """The ``optuna`` module, or a one-line ``ModuleNotFoundError`` naming the extra."""
    try:
        import optuna
    except ModuleNotFoundError:
        raise ModuleNotFoundError(MISSING) from None
    return optuna


def job_nonce(name: str) -> str | None:
    """The nonce a study-driven job's name ends with (``... #<nonce>``); None when it has none.

    Examples:
        >>> job_nonce("lr-t3 (learning_rate=0.01) #9f2c4e1a77b03d5e")
        '9f2c4e1a77b03d5e'
    """
    head, sep, tail = name.rpartition(" #")
    return tail if sep and head and tail else None


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

    def __init__(self, trial: Any, monitor: str, reported: Iterable[int] = ()) -> None:
        self.trial = trial
        self._monitor = monitor
        self._reported: set[int] = set(reported)  # steps a previous driver reported
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
    max_running: int | None = None,
) -> Callable[[RunFactory], RunSource]:
    """What ``create_sweep(study=...)`` runs: a `StudySource` of the runs' factory, probed.

    Raises:
        ConfigError: no ``space`` or ``n_runs``, a bad ``max_running``, or ``space``
            returned an unknown knob or a value the job config refuses (checked on a
            throwaway trial).
    """
    if not callable(space):
        raise ConfigError("study= needs space=, a function of the trial returning a dict of knobs")
    if isinstance(n_runs, bool) or not isinstance(n_runs, int) or n_runs < 1:
        raise ConfigError(f"study= needs n_runs=, a positive int, got {n_runs!r}")
    assert monitor is not None  # study_mode checked it

    if max_running is not None and (
        isinstance(max_running, bool) or not isinstance(max_running, int) or max_running < 1
    ):
        raise ConfigError(f"max_running must be a positive int or None, got {max_running!r}")

    def make(factory: RunFactory) -> RunSource:
        from arkor_rx._study_source import StudySource

        source = StudySource(study, space, n_runs, monitor, factory, allowed, max_running)
        source.probe()
        return source

    return make


def __getattr__(name: str) -> Any:
    if name == "StudySource":  # its home is arkor_rx._study_source; the old path still works
        from arkor_rx._study_source import StudySource

        return StudySource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
