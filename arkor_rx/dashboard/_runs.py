"""The state of many runs (a sweep, ``watch --all``): one run state per job, one reducer.

Rule 1: [`reduce_view`][arkor_rx.dashboard.reduce_view] is pure, like
[`reduce`][arkor_rx.dashboard.reduce]: it routes each action to the run it
belongs to (by job id, or by the sweep's [`Run`][arkor_rx.runs.Run]) and
applies the one-run reducer there. An action that changes nothing (the
stream's progress after each event, most of the time) returns the view
itself, as ``reduce`` returns the run's state itself.

Rule 2: a run keeps the position it was first seen at, so rows and curves do
not move while a sweep runs; a pruned run stays, marked.

Rule 3: a slug serves one run at a time: a
[`RunDeployed`][arkor_rx.dashboard.RunDeployed] shown on one run leaves every
other run of the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeAlias

from arkor_rx.dashboard import _actions as actions
from arkor_rx.dashboard._state import DashboardState, reduce
from arkor_rx.runs import PruneDecision, Run, RunEvent

__all__ = ["ViewAction", "ViewState", "reduce_view"]

ViewAction: TypeAlias = actions.DashboardAction | RunEvent | PruneDecision
"""Anything [`reduce_view`][arkor_rx.dashboard.reduce_view] accepts."""


@dataclass(frozen=True, slots=True)
class ViewState:
    """Every run a view follows, keyed by job id, in the order first seen.

    Examples:
        >>> from arkor_rx.events import TrainingLog
        >>> v = reduce_view(ViewState(), TrainingLog(job_id="a", step=1, loss=2.0))
        >>> v = reduce_view(v, TrainingLog(job_id="b", step=1, loss=3.0))
        >>> [(r.job_id, r.loss) for r in v.ordered]
        [('a', 2.0), ('b', 3.0)]
    """

    runs: Mapping[str, DashboardState] = field(default_factory=dict)
    """Run states by key (the job id, or ``run-<index>`` before a sweep run is submitted)."""
    order: tuple[str, ...] = ()
    template: DashboardState = field(default_factory=DashboardState)
    """What each new run starts from (its ``smoothing``, ``asks_samples`` ...)."""

    @property
    def ordered(self) -> tuple[DashboardState, ...]:
        """The run states in the order first seen."""
        return tuple(self.runs[key] for key in self.order)

    @property
    def primary(self) -> DashboardState:
        """The first run (an empty state before any): what a one-run view shows."""
        return self.runs[self.order[0]] if self.order else self.template

    @property
    def finished(self) -> bool:
        """True when there is at least one run and every run reached a final status."""
        return bool(self.order) and all(r.finished for r in self.runs.values())


def _run_key(run: Run) -> str:
    return run.job_id or f"run-{run.index}"


def _key_of(action: ViewAction) -> str | None:
    if isinstance(action, RunEvent | PruneDecision):
        return _run_key(action.run)
    if isinstance(action, actions.JobSubmitted):
        return action.job_id
    if isinstance(action, actions.RunOpened):
        return action.job.id
    job_id = getattr(action, "job_id", None)
    return job_id if isinstance(job_id, str) and job_id else None


def reduce_view(
    view: ViewState, action: ViewAction, *, now: float | None = None, key: str | None = None
) -> ViewState:
    """Apply one action to the run it belongs to and return the new view state.

    Args:
        view: the current state.
        action: an action of [`reduce`][arkor_rx.dashboard.reduce], a sweep's
            ``RunEvent``, or a ``PruneDecision`` (the run is marked pruned).
        now: the caller's clock, as for ``reduce``.
        key: route to this run whatever the action says (a one-run view);
            by default the action's job id, else the first run.

    Returns:
        The new view state.
    """
    target = key or _key_of(action) or (view.order[0] if view.order else "")
    if isinstance(action, RunEvent):
        inner: actions.DashboardAction = action.event
    elif isinstance(action, PruneDecision):
        inner = actions.RunStopped(action.decision)
    else:
        inner = action
    order = view.order
    runs = dict(view.runs)
    if isinstance(action, RunEvent | PruneDecision) and action.run.job_id:
        early = f"run-{action.run.index}"
        if early in runs and target not in runs:  # submitted since: keep its place
            runs[target] = runs.pop(early)
            order = tuple(target if k == early else k for k in order)
    state = runs.get(target)
    if state is None:
        state = replace(view.template, job_id=target or None)
        order = (*order, target)
    if isinstance(action, RunEvent | PruneDecision):
        run = action.run
        state = replace(
            state,
            index=run.index,
            name=state.name or run.name,
            job_id=state.job_id or run.job_id,
        )
    new = reduce(state, inner, now=now)
    deployed = isinstance(action, actions.RunDeployed)  # it may change other runs (Rule 3)
    if new is view.runs.get(target) and order is view.order and not deployed:
        return view  # nothing changed: a stream's progress with no new reconnect, say
    runs[target] = new
    if isinstance(action, actions.RunDeployed):  # Rule 3
        for other, held in runs.items():
            if other != target and any(d.slug == action.slug for d in held.deployments):
                runs[other] = reduce(held, actions.RunUndeployed(held.job_id or other, action.slug))
    return replace(view, runs=runs, order=order)
