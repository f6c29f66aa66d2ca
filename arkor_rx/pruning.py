"""Cross-run pruning as Optuna decides it: small pure rules, per-run bookkeeping, one decision.

The pure rules live in `arkor_rx._pruning_rules` (re-exported here); this
module keeps the bookkeeping and the decisions. No Rx and no I/O here: the
operators ``aop.median_pruner``, ``aop.percentile_pruner`` and
``aop.successive_halving`` feed a sweep's merged stream into a
`CrossRunPruner` one item at a time and emit what it returns.

Rule 1: a run is an Optuna trial. A ``training.log`` whose monitored metric
is not None is ``trial.report(value, step)`` followed by
``trial.should_prune()``; a metric that is None (not logged at that step, as
``eval_loss`` between evaluations) is no report and no check. A step that was
already reported keeps its first value (Optuna ignores the repeat) but is
still checked; a negative step is ignored (Optuna refuses it). NaN is
reported as NaN.

Rule 2: ``training.completed`` makes the trial COMPLETE with every value it
reported (Optuna keeps a completed trial's intermediate values as they were),
``training.failed`` makes it FAIL, and a prune decision makes it PRUNED. A
finished run reports nothing more: later events of it are ignored, so a run
is pruned at most once.

Rule 3: every report costs O(1) bookkeeping plus an O(1) (percentile) or
O(log n) per rung (successive halving) decision over ``n`` runs; no rule
rescans the runs. Completed runs' values are kept sorted per step (and
recorded rung values sorted per rung) with `bisect.insort`: O(log n)
comparisons plus a memmove of at most ``n`` pointers, done once per value.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Callable
from enum import Enum
from typing import TypeAlias

from pydantic.alias_generators import to_snake
from reactivex import Observable

from arkor_rx._mode import Mode, better
from arkor_rx._pruning_rules import (
    estimate_min_resource,
    is_first_in_interval,
    percentile,
    promotable,
    rung_promotion_step,
)
from arkor_rx.events import TrainingCompleted, TrainingFailed, TrainingLog
from arkor_rx.runs import PruneDecision, Run, RunEvent
from arkor_rx.stopping import StopDecision

__all__ = [
    "CrossRunPruner",
    "Direction",
    "PercentilePruning",
    "Pruner",
    "SuccessiveHalvingPruning",
    "TrialRecord",
    "TrialState",
    "estimate_min_resource",
    "is_first_in_interval",
    "percentile",
    "promotable",
    "rung_promotion_step",
]

Direction: TypeAlias = Mode
"""``"min"``: lower values are better (a loss); ``"max"``: higher are better (the one
``Mode``, under the name Optuna's readers know)."""

Pruner: TypeAlias = Callable[[Observable[RunEvent]], Observable[PruneDecision]]
"""A cross-run pruner: a sweep's merged stream in, one decision per pruned run out."""


# --------------------------------------------------------------------------- bookkeeping


class TrialState(Enum):
    """Where a run stands, in Optuna's words."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAIL = "fail"
    PRUNED = "pruned"


_RUNNING = TrialState.RUNNING


class TrialRecord:
    """What a pruner keeps of one run: its reports, their extremes and its state."""

    __slots__ = (
        "best",
        "best_step",
        "last_step",
        "previous_step",
        "run",
        "rung",
        "state",
        "values",
    )

    def __init__(self, run: Run) -> None:
        self.run = run
        self.values: dict[int, float] = {}
        """The first value reported at each step (emptied once the run finished)."""
        self.last_step: int | None = None
        """The largest step reported (Optuna's ``trial.last_step``)."""
        self.previous_step = -1
        """The largest step reported before ``last_step`` (-1 for none)."""
        self.best = math.nan
        """The best non-NaN value over all steps (NaN while every value is NaN)."""
        self.best_step: int | None = None
        self.state = TrialState.RUNNING
        self.rung = 0
        """Successive halving: the rung the run competes at next."""

    def report(self, step: int, value: float, mode: Mode) -> None:
        """``trial.report(value, step)``: a repeated step keeps its first value."""
        values = self.values
        if step in values:
            return
        values[step] = value
        last = self.last_step
        if last is None or step > last:
            if last is not None:
                self.previous_step = last
            self.last_step = step
        elif step > self.previous_step:
            self.previous_step = step
        if better(value, None if self.best_step is None else self.best, mode):
            self.best, self.best_step = value, step


class CrossRunPruner:
    """The decision: reads a sweep's merged stream item by item, names each run to prune.

    Subclasses define `check` (the prune rule for a run that just
    reported) and may watch completions with `completed`.
    """

    rule = "prune"
    """The ``StopDecision.rule`` of this pruner's decisions."""

    def __init__(self, monitor: str, direction: Direction) -> None:
        self.monitor = monitor
        self.direction: Direction = direction
        self.trials: dict[int, TrialRecord] = {}
        """Every run seen, by its index in the sweep."""
        self._attr = to_snake(monitor)  # the TrainingLog field, read with getattr on the hot path
        self._lower = direction == "min"

    def observe(self, item: object) -> PruneDecision | None:
        """Take one item of the merged stream; a decision when it prunes its run."""
        if not isinstance(item, RunEvent):
            return None
        run = item.run
        trial = self.trials.get(run.index)
        if trial is None:
            trial = self.trials[run.index] = TrialRecord(run)
        elif trial.state is not _RUNNING:
            return None
        event = item.event
        if isinstance(event, TrainingLog):
            value: float | None = getattr(event, self._attr)
            step = event.step
            if value is None or step < 0:
                return None
            trial.report(step, value, self.direction)
            stop = self.check(trial)
            if stop is None:
                return None
            trial.state = TrialState.PRUNED
            trial.values = {}
            return PruneDecision(run, stop)
        if isinstance(event, TrainingCompleted):
            trial.state = TrialState.COMPLETE
            self.completed(trial)
            trial.values = {}  # what the rules need of a finished run is kept by the rules
        elif isinstance(event, TrainingFailed):
            trial.state = TrialState.FAIL
            trial.values = {}
        return None

    def check(self, trial: TrialRecord) -> StopDecision | None:
        """``pruner.prune(study, trial)`` for a run that just reported."""
        raise NotImplementedError

    def completed(self, trial: TrialRecord) -> None:
        """A run completed (called once per run)."""

    def _decision(self, trial: TrialRecord, step: int, reason: str) -> StopDecision:
        return StopDecision(
            rule=self.rule,
            reason=reason,
            step=step,
            value=trial.values[step],
            best=None if trial.best_step is None else trial.best,
            best_step=trial.best_step,
            monitor=self.monitor,
        )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _ordinal(q: float) -> str:
    if q == 50:
        return "the median"
    if q != int(q):
        return f"the {q:g}th percentile"
    n = int(q)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"the {n}{suffix} percentile"


class PercentilePruning(CrossRunPruner):
    """Optuna's ``PercentilePruner`` (and ``MedianPruner``, at 50).

    Prune a run when its best value so far is worse than the ``q``-th
    percentile of the completed runs' values at its latest step (the
    ``100 - q``-th when higher is better), once ``n_startup`` runs completed,
    from ``warmup`` on, at the first report of each ``interval``, when at
    least ``n_min`` completed runs reported that step. A run whose every value
    is NaN is pruned; NaN values of completed runs are left out of the
    percentile (but count towards ``n_min``).
    """

    def __init__(
        self,
        monitor: str,
        direction: Direction,
        *,
        q: float,
        n_startup: int,
        warmup: int,
        interval: int,
        n_min: int,
        rule: str = "prune.percentile",
    ) -> None:
        super().__init__(monitor, direction)
        self.rule = rule
        self.q = float(q)
        self.n_startup = n_startup
        self.warmup = warmup
        self.interval = interval
        self.n_min = n_min
        self.n_completed = 0
        self.finite_at: dict[int, list[float]] = {}
        """Completed runs' non-NaN values at each step, ascending."""
        self.count_at: dict[int, int] = {}
        """How many completed runs reported each step (NaN included)."""
        self._q = 100 - self.q if direction == "max" else self.q
        self._cuts: dict[int, float] = {}
        """The percentile at each step, computed once per change of the step's values."""

    def completed(self, trial: TrialRecord) -> None:
        self.n_completed += 1
        cuts = self._cuts
        for step, value in trial.values.items():
            self.count_at[step] = self.count_at.get(step, 0) + 1
            if value == value:
                insort(self.finite_at.setdefault(step, []), value)
                cuts.pop(step, None)

    def check(self, trial: TrialRecord) -> StopDecision | None:
        completed = self.n_completed
        if completed == 0 or completed < self.n_startup:
            return None
        step = trial.last_step
        warmup = self.warmup
        if step is None or step < warmup:
            return None
        interval = self.interval
        if interval > 1 and not is_first_in_interval(step, trial.previous_step, warmup, interval):
            return None  # (with interval 1 every report is the first of its window)
        best = trial.best
        if trial.best_step is None:
            reason = f"{self.monitor} is NaN at every step reported up to step {step}"
            return self._decision(trial, step, reason)
        if self.count_at.get(step, 0) < self.n_min:
            return None
        cut = self._cuts.get(step)
        if cut is None:
            cut = self._cuts[step] = percentile(self.finite_at.get(step, ()), self._q)
        if not (best > cut if self._lower else best < cut):  # False when cut is NaN
            return None
        q = self._q
        column = self.finite_at[step]
        if trial.best_step == step:
            seen = f"{self.monitor} {_fmt(best)} at step {step}"
        else:
            seen = (
                f"the best {self.monitor} {_fmt(best)} (step {trial.best_step}) up to step {step}"
            )
        reason = (
            f"{seen} is worse than {_ordinal(q)} {_fmt(cut)} of {len(column)} "
            f"completed run{'s' if len(column) != 1 else ''} at step {step}"
        )
        return self._decision(trial, step, reason)


class SuccessiveHalvingPruning(CrossRunPruner):
    """Optuna's ``SuccessiveHalvingPruner`` (asynchronous successive halving).

    A run is judged at each rung ``k`` once its latest step reaches
    ``min_resource * reduction_factor ** (min_early_stopping_rate + k)``:
    its value at that latest step is recorded at the rung, and it is promoted
    when it is among the top ``1 / reduction_factor`` of every run that
    reached the rung (itself included), else pruned. A NaN value at a rung is
    pruned. With ``min_resource=None`` ("auto") the rung size is a hundredth
    of the longest completed run, fixed at the first check after a run
    completed (no run is pruned before that).
    """

    rule = "prune.successive_halving"

    def __init__(
        self,
        monitor: str,
        direction: Direction,
        *,
        min_resource: int | None,
        reduction_factor: int,
        min_early_stopping_rate: int,
    ) -> None:
        super().__init__(monitor, direction)
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.rate = min_early_stopping_rate
        self.max_completed_last_step: int | None = None
        self.rungs: dict[int, list[float]] = {}
        """The values recorded at each rung, by every run that reached it, ascending."""
        self._rung_steps: list[int] = []
        """The promotion step of each rung, once ``min_resource`` is known."""

    def completed(self, trial: TrialRecord) -> None:
        last = trial.last_step
        if last is not None and (
            self.max_completed_last_step is None or last > self.max_completed_last_step
        ):
            self.max_completed_last_step = last

    def check(self, trial: TrialRecord) -> StopDecision | None:
        step = trial.last_step
        if step is None:
            return None
        value = trial.values[step]
        while True:
            if self.min_resource is None:
                self.min_resource = estimate_min_resource(self.max_completed_last_step)
                if self.min_resource is None:
                    return None
            rung = trial.rung
            steps = self._rung_steps
            while len(steps) <= rung:
                k = len(steps)
                steps.append(
                    rung_promotion_step(self.min_resource, self.reduction_factor, self.rate, k)
                )
            at = steps[rung]
            if step < at:
                return None
            if value != value:
                reason = f"{self.monitor} is NaN at step {step} (rung {rung}, from step {at})"
                return self._decision(trial, step, reason)
            others = self.rungs.setdefault(rung, [])
            promoted, kept, competing = promotable(
                value, others, self.reduction_factor, self.direction
            )
            insort(others, value)
            trial.rung = rung + 1
            if not promoted:
                cut = others[-kept] if self.direction == "max" else others[kept - 1]
                top = "the best" if kept == 1 else f"the top {kept}"
                reason = (
                    f"{self.monitor} {_fmt(value)} at step {step} is worse than {_fmt(cut)}, "
                    f"the cut-off for {top} of {competing} runs at rung {rung} (step {at})"
                )
                return self._decision(trial, step, reason)
