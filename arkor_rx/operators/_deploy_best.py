"""``deploy_best(client, slug)``: when the runs end, point a slug at the best checkpoint.

Rule 1: the choice is a pure fold, ``Leaderboard``:
a checkpoint is a candidate when its run completed and the monitored metric
was reported at the checkpoint's own step (the value of that very model, not
of an earlier or later one). The best value wins; a tie goes to the run seen
first, then to the earlier step. NaN never wins.

Rule 2: the operator acts once per subscription, after the source completed:
it re-targets the deployment that has the slug, or creates it. A source that
errors deploys nothing.

Rule 3: given a ``view`` (a live view: anything with ``dispatch``), the
deployment is shown on the winning run
([`RunDeployed`][arkor_rx.dashboard.RunDeployed]), and the run the slug
served before, if another, is told it no longer does
([`RunUndeployed`][arkor_rx.dashboard.RunUndeployed]).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import reactivex
from reactivex import Observable
from reactivex import operators as ops

from arkor_rx.deployments import AdapterTarget, AuthMode, Deployment, checkpoint_target
from arkor_rx.errors import CloudApiError
from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingLog
from arkor_rx.operators._common import Mode
from arkor_rx.operators._concat_map_async import concat_map_async
from arkor_rx.runs import RunEvent

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard import RunDeployed, RunUndeployed

__all__ = ["Candidate", "DeploymentViewer", "Leaderboard", "deploy_best", "deploy_to", "shown"]


class DeploymentViewer(Protocol):
    """A live view that can be told about a deployment (the terminal, notebook and web views)."""

    def dispatch(self, action: RunDeployed | RunUndeployed, /) -> object:
        """Apply one action."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A checkpoint with the monitored value reported at its step."""

    job_id: str
    step: int
    value: float


@dataclass
class _RunBoard:
    order: int
    values: dict[int, float] = field(default_factory=dict)
    checkpoints: list[int] = field(default_factory=list)
    completed: bool = False


class Leaderboard:
    """The fold behind ``deploy_best``: feed it events (or ``RunEvent``s), ask for the best."""

    def __init__(self, monitor: str, mode: Mode) -> None:
        self._monitor = monitor
        self._mode = mode
        self._runs: dict[str, _RunBoard] = {}

    def add(self, item: object) -> Leaderboard:
        """Record one event; anything that is not a training event is ignored."""
        event: object = item.event if isinstance(item, RunEvent) else item
        if not isinstance(event, TrainingLog | CheckpointSaved | TrainingCompleted):
            return self
        job_id = (item.run.job_id if isinstance(item, RunEvent) else None) or event.job_id
        if not job_id:
            return self
        board = self._runs.setdefault(job_id, _RunBoard(order=len(self._runs)))
        if isinstance(event, TrainingLog):
            value = event.metric(self._monitor)
            if value is not None:
                board.values[event.step] = value
        elif isinstance(event, CheckpointSaved):
            board.checkpoints.append(event.step)
        elif isinstance(event, TrainingCompleted):
            board.completed = True
        return self

    def best(self) -> Candidate | None:
        """The best candidate (Rule 1), or None when there is none."""
        sign = 1.0 if self._mode == "min" else -1.0
        found: tuple[float, int, int, Candidate] | None = None
        for job_id, board in self._runs.items():
            if not board.completed:
                continue
            for step in board.checkpoints:
                value = board.values.get(step)
                if value is None or math.isnan(value):
                    continue
                key = (sign * value, board.order, step, Candidate(job_id, step, value))
                if found is None or key[:3] < found[:3]:
                    found = key
        return None if found is None else found[3]


async def _deploy(
    client: ArkorClient, slug: str, target: AdapterTarget, auth_mode: AuthMode
) -> tuple[Deployment | None, Deployment]:
    """``deploy_to``, also returning the deployment as it was before (None: created)."""
    for attempt in range(2):
        for deployment in await client.list_deployments():
            if deployment.slug == slug:
                if deployment.target == target:
                    return deployment, deployment
                return deployment, await client.update_deployment(deployment.id, target=target)
        try:
            return None, await client.create_deployment(slug, target, auth_mode)
        except CloudApiError as exc:
            if exc.status != 409 or attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def deploy_to(
    client: ArkorClient, slug: str, target: AdapterTarget, auth_mode: AuthMode
) -> Deployment:
    """Re-target the deployment named ``slug`` to ``target``, or create it.

    A deployment already on ``target`` is returned unchanged. When another
    process creates the slug between the lookup and the create (409), the
    lookup runs once more and that deployment is re-targeted.
    """
    return (await _deploy(client, slug, target, auth_mode))[1]


def shown(before: Deployment | None, after: Deployment) -> list[RunDeployed | RunUndeployed]:
    """The view actions for a change from ``before`` to ``after`` (Rule 3).

    Neither may serve a base model: both are adapter deployments here.
    """
    from arkor_rx.dashboard import RunDeployed, RunUndeployed

    now = RunDeployed.from_deployment(after)
    actions: list[RunDeployed | RunUndeployed] = []
    if before is not None and isinstance(before.target, AdapterTarget):
        old = before.target.adapter.job_id
        if old != now.job_id:
            actions.append(RunUndeployed(old, before.slug))
    actions.append(now)
    return actions


def deploy_best(
    client: ArkorClient,
    slug: str,
    monitor: str,
    mode: Mode,
    auth_mode: AuthMode,
    view: DeploymentViewer | None = None,
) -> Callable[[Observable[object]], Observable[Deployment]]:
    """The operator; the facade (``arkor_rx.operators.deploy_best``) checks the arguments."""

    def operator(source: Observable[object]) -> Observable[Deployment]:
        def build(_: object) -> Observable[Deployment]:
            async def act(best: Candidate) -> Deployment:
                target = checkpoint_target(best.job_id, best.step)
                before, after = await _deploy(client, slug, target, auth_mode)
                if view is not None:
                    for action in shown(before, after):
                        view.dispatch(action)
                return after

            def fold(board: Leaderboard, item: object) -> Leaderboard:
                return board.add(item)

            def winner(board: Leaderboard) -> Observable[Candidate]:
                best = board.best()
                return reactivex.empty() if best is None else reactivex.of(best)

            boards: Observable[Leaderboard] = source.pipe(
                ops.reduce(fold, Leaderboard(monitor, mode))
            )
            winners: Observable[Candidate] = boards.pipe(ops.flat_map(winner))
            return winners.pipe(concat_map_async(act))

        return reactivex.defer(build)

    return operator
