"""Random sweeps for the differential tests, and the two drivers that replay them.

A sweep is a list of actions in stream order, each an action of one run: a
monitored value at a step (possibly None, NaN or infinite), a completion or
a failure. :func:`optuna_verdicts` plays it on a real Optuna study (a run is
a trial: ``report`` + ``should_prune`` per value, ``tell`` for the end) and
:func:`arkor_verdicts` pushes the same actions as ``RunEvent`` values through
an arkor_rx pruner. Both return, for each action, the run index that was
pruned at that action (or None), so two results compare step by step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from hypothesis import strategies as st
from reactivex import Observable
from reactivex.subject import Subject

from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingFailed, TrainingLog
from arkor_rx.runs import PruneDecision, Run, RunEvent

INF = math.inf
NAN = math.nan


@dataclass(frozen=True)
class Action:
    run: int
    kind: Literal["log", "complete", "fail", "noise"]
    step: int = 0
    value: float | None = None


Sweep = list[Action]
Verdicts = list[tuple[int, int] | None]
"""Per action: ``(run index, step)`` of the run pruned at that action, or None."""

# A small pool makes ties, repeated values and NaN/inf common; the float
# branch adds arbitrary doubles.
TIED = st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.5, 2.0, -1.0, NAN, NAN, INF, -INF])
VALUE = st.one_of(TIED, TIED, TIED, TIED, TIED, st.none(), st.floats(width=64))


@st.composite
def run_script(draw: st.DrawFn, index: int, scale: int) -> list[Action]:
    """One run: its values at steps that mostly grow (sometimes repeat or go back), then an end."""
    actions: list[Action] = []
    step = draw(st.sampled_from([0, 0, 0, 1, 2]))
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.integers(0, 9)) == 0:
            actions.append(Action(index, "noise"))
        actions.append(Action(index, "log", step * scale, draw(VALUE)))
        step = max(0, step + draw(st.sampled_from([1, 1, 1, 1, 1, 2, 3, 0, -1])))
    end = draw(st.sampled_from(["complete", "complete", "complete", "fail", None]))
    if end == "complete":
        actions.append(Action(index, "complete"))
    elif end == "fail":
        actions.append(Action(index, "fail"))
    return actions


@st.composite
def sweeps(draw: st.DrawFn, max_runs: int = 10) -> Sweep:
    """A sweep of 2..max_runs runs, run in waves of ``concurrency`` runs at a time.

    Within a wave the runs' actions are interleaved in a random order (each
    run keeps its own order); a wave starts when the previous one is done,
    as ``max_concurrent`` does, so later runs meet completed ones.
    """
    scale = draw(st.sampled_from([1, 1, 1, 10, 100]))
    scripts = [draw(run_script(i, scale)) for i in range(draw(st.integers(2, max_runs)))]
    concurrency = draw(st.integers(1, len(scripts)))
    out: Sweep = []
    for first in range(0, len(scripts), concurrency):
        wave = range(first, min(first + concurrency, len(scripts)))
        slots = [i for i in wave for _ in scripts[i]]
        cursor = dict.fromkeys(wave, 0)
        for i in draw(st.permutations(slots)):  # the k-th slot of run i is its k-th action
            out.append(scripts[i][cursor[i]])
            cursor[i] += 1
    return out


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's warnings (a repeated step, numpy's all-NaN slices) and logs, silenced."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(level)


def optuna_verdicts(
    pruner: optuna.pruners.BasePruner, direction: Literal["min", "max"], sweep: Sweep
) -> Verdicts:
    """Play the sweep on a real Optuna study with an in-memory storage."""
    out: Verdicts = []
    with quiet_optuna():
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            sampler=optuna.samplers.RandomSampler(seed=0),
            pruner=pruner,
            direction="minimize" if direction == "min" else "maximize",
        )
        trials: dict[int, optuna.Trial] = {}
        last_step: dict[int, int] = {}
        finished: set[int] = set()
        for action in sweep:
            verdict: tuple[int, int] | None = None
            if action.run not in trials:
                trials[action.run] = study.ask()
            trial = trials[action.run]
            if action.run in finished or action.kind == "noise":
                pass
            elif action.kind == "log":
                if action.value is not None:
                    trial.report(action.value, action.step)
                    last_step[action.run] = max(last_step.get(action.run, 0), action.step)
                    if trial.should_prune():
                        verdict = (action.run, last_step[action.run])
                        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                        finished.add(action.run)
            elif action.kind == "complete":
                study.tell(trial, 0.0)
                finished.add(action.run)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                finished.add(action.run)
            out.append(verdict)
    return out


def event_of(action: Action) -> Any:
    """The training event an action stands for (the monitored metric is eval_loss)."""
    job = f"job-{action.run}"
    if action.kind == "log":
        return TrainingLog(job_id=job, step=action.step, eval_loss=action.value, loss=1.0)
    if action.kind == "complete":
        return TrainingCompleted(job_id=job)
    if action.kind == "fail":
        return TrainingFailed(job_id=job, error="boom")
    return CheckpointSaved(job_id=job, step=action.step)


def arkor_verdicts(
    pruner: Callable[[Observable[RunEvent]], Observable[PruneDecision]], sweep: Sweep
) -> tuple[Verdicts, list[PruneDecision]]:
    """Push the sweep through an arkor_rx pruner one event at a time."""
    subject: Subject[RunEvent] = Subject()
    decisions: list[PruneDecision] = []
    errors: list[Exception] = []
    pruner(subject).subscribe(decisions.append, errors.append)
    out: Verdicts = []
    runs = {a.run: Run(a.run, f"job-{a.run}", {"lr": a.run}) for a in sweep}
    for action in sweep:
        before = len(decisions)
        subject.on_next(RunEvent(runs[action.run], event_of(action)))
        assert not errors, errors
        new = decisions[before:]
        assert len(new) <= 1
        out.append((new[0].run.index, int(new[0].decision.step or 0)) if new else None)
    subject.on_completed()
    return out, decisions
