"""The state of one run as the live views show it, and the pure reducer that builds it.

Rule 1: [`reduce`][arkor_rx.dashboard.reduce] is a pure function from
``(DashboardState, action, now)`` to a new
[`DashboardState`][arkor_rx.dashboard.DashboardState]. It does no I/O, reads
no clock (the caller passes ``now``) and never mutates its input.

Rule 2: the smoothed loss is the ``tensorboard_smooth`` operator's own
arithmetic (``TensorBoardEMA``),
kept as a value in the state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeAlias

from arkor_rx import events
from arkor_rx.dashboard import _actions as actions
from arkor_rx.dashboard._actions import _FROM_JOB, RunStatus
from arkor_rx.dashboard._checkpoints import CheckpointView, with_answers
from arkor_rx.dashboard._deployments import reduce_deployments
from arkor_rx.operators._tensorboard_smooth import TensorBoardEMA
from arkor_rx.samples import SamplesAnswered
from arkor_rx.stopping import StopDecision

__all__ = [
    "CURVE_LIMIT",
    "DEFAULT_SMOOTHING",
    "EVAL_LIMIT",
    "HISTORY_LENGTH",
    "DashboardState",
    "EvalRow",
    "reduce",
]

HISTORY_LENGTH = 240
"""How many recent training losses the state keeps for the sparkline."""

CURVE_LIMIT = 2000
"""Points of the whole-run loss curve kept before it is thinned to every other point."""

EVAL_LIMIT = 500
"""Evaluations kept before they are thinned to every other one (the cost of an
event is bounded by this, not by the run's length)."""

DEFAULT_SMOOTHING = 0.6
"""TensorBoard's default smoothing weight for the smoothed loss."""


# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class EvalRow:
    """One evaluation: a row of the metrics table (as HF's notebook callback shows)."""

    step: int
    eval_loss: float
    loss: float | None = None
    """The last training loss at or before this step."""
    smoothed_loss: float | None = None


@dataclass(frozen=True, slots=True)
class DashboardState:
    """Everything the views show about one run, as one immutable value.

    Build a new one with [`reduce`][arkor_rx.dashboard.reduce]; never mutate
    (the class is frozen).
    """

    job_id: str | None = None
    name: str = ""
    index: int | None = None
    """The run's position in a sweep, or None."""
    status: RunStatus = RunStatus.WAITING
    step: int = 0
    max_steps: int | None = None
    loss: float | None = None
    eval_loss: float | None = None
    best_eval_loss: float | None = None
    best_eval_step: int | None = None
    learning_rate: float | None = None
    epoch: float | None = None
    loss_history: tuple[float, ...] = ()
    """The last [`HISTORY_LENGTH`][arkor_rx.dashboard.HISTORY_LENGTH] training losses
    (may hold nan)."""
    curve: tuple[tuple[int, float, float | None], ...] = ()
    """The whole run's ``(step, loss, smoothed)`` points, thinned past
    [`CURVE_LIMIT`][arkor_rx.dashboard.CURVE_LIMIT]."""
    evals: tuple[EvalRow, ...] = ()
    """One row per evaluation, in order, thinned past
    [`EVAL_LIMIT`][arkor_rx.dashboard.EVAL_LIMIT] (the latest one is always kept)."""
    checkpoints: tuple[CheckpointView, ...] = ()
    asks_samples: bool = True
    """Whether checkpoints get sample answers; when False a checkpoint says so
    instead of waiting for one."""
    accuracy: float | None = None
    """From the completed event's metrics (any key containing ``accuracy``)."""
    metrics: tuple[tuple[str, Any], ...] = ()
    """The final metrics, as sorted (name, value) pairs."""
    deployments: tuple[actions.RunDeployed, ...] = ()
    """The deployments serving this run's adapters, one per slug, oldest first
    (at most [`DEPLOYMENT_LIMIT`][arkor_rx.dashboard.DEPLOYMENT_LIMIT])."""
    error: str | None = None
    stop: StopDecision | None = None
    """The decision that stopped the run (a rule or a pruner)."""
    reconnects: int = 0
    replays_skipped: int = 0
    """Replayed events the client's de-duplication dropped (never shown twice)."""
    events_seen: int = 0
    """Distinct stream events applied (repeats are not counted)."""
    last_event_id: int | None = None
    """The last numeric SSE id seen; the basis of the lost/repeated check."""
    lost: int = 0
    """Numeric ids skipped over (a gap of 3 between two ids counts 2 lost)."""
    repeated: int = 0
    """Events whose numeric id was not above the last one: counted and ignored."""
    started_at: float | None = None
    finished_at: float | None = None
    smoothing: float = DEFAULT_SMOOTHING
    """The TensorBoard smoothing weight in [0, 1): 0 is no smoothing."""
    ema: TensorBoardEMA | None = field(default=None, repr=False)
    """Internal: the smoother's state (the ``tensorboard_smooth`` arithmetic)."""
    history_limit: int = field(default=HISTORY_LENGTH, repr=False)
    curve_limit: int = field(default=CURVE_LIMIT, repr=False)
    eval_limit: int = field(default=EVAL_LIMIT, repr=False)

    @property
    def smoothed_loss(self) -> float | None:
        """TensorBoard's debiased EMA of the finite losses so far."""
        return None if self.ema is None else self.ema.value

    @property
    def stop_reason(self) -> str | None:
        """The stop decision's sentence, or None."""
        return None if self.stop is None else self.stop.reason

    @property
    def finished(self) -> bool:
        """True once the run reached a final status."""
        return self.status.finished

    @property
    def succeeded(self) -> bool:
        """True for a completed, early-stopped or pruned run."""
        return self.status.succeeded

    @property
    def label(self) -> str:
        """The run's name, else its job id, else its sweep index."""
        if self.name:
            return self.name
        if self.job_id:
            return self.job_id
        return f"run {self.index}" if self.index is not None else "?"

    def elapsed(self, now: float) -> float:
        """Seconds from the job's start to its end (or to ``now`` while running)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)


# --------------------------------------------------------------------------- reducer


def _numeric_id(event_id: str | None) -> int | None:
    if event_id is None:
        return None
    try:
        return int(event_id)
    except ValueError:
        return None  # ids are opaque strings: only numeric ones can be checked


def _accuracy(metrics: Mapping[str, Any] | None) -> float | None:
    if not metrics:
        return None
    for key in sorted(metrics, key=lambda k: (k.lower() != "accuracy", k)):
        value = metrics[key]
        if "accuracy" in key.lower() and isinstance(value, int | float):
            return float(value)
    return None


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _max_steps_from(metadata: Mapping[str, Any] | None) -> int | None:
    for key in ("maxSteps", "max_steps", "totalSteps", "total_steps"):
        found = _positive_int((metadata or {}).get(key))
        if found is not None:
            return found
    return None


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _ending(state: DashboardState, now: float | None, **changes: Any) -> dict[str, Any]:
    """``changes`` that end the run, stamped ``finished_at=now`` unless it had ended already."""
    if state.finished_at is None and now is not None:
        changes.setdefault("finished_at", now)
    return changes


def _finish(state: DashboardState, now: float | None, **changes: Any) -> DashboardState:
    return replace(state, **_ending(state, now, **changes))


def _thin(points: tuple[Any, ...], limit: int) -> tuple[Any, ...]:
    """Keep the whole run in bounded memory: past ``limit``, keep every other point."""
    if len(points) <= limit:
        return points
    return (*points[:-1:2], points[-1])


def _apply_log(state: DashboardState, event: events.TrainingLog) -> dict[str, Any]:
    changes: dict[str, Any] = {"step": max(state.step, event.step)}
    if not state.finished:
        changes["status"] = RunStatus.RUNNING
    ema = state.ema
    if event.loss is not None:
        ema = (ema or TensorBoardEMA(state.smoothing)).push(event.loss)
        changes["ema"] = ema
        changes["loss"] = event.loss
        history = (*state.loss_history, event.loss)
        changes["loss_history"] = history[-state.history_limit :]
        point = (event.step, event.loss, ema.value)
        changes["curve"] = _thin((*state.curve, point), state.curve_limit)
    if event.eval_loss is not None:
        loss = event.loss if event.loss is not None else state.loss
        row = EvalRow(event.step, event.eval_loss, loss, None if ema is None else ema.value)
        changes["evals"] = _thin((*state.evals, row), state.eval_limit)
        changes["eval_loss"] = event.eval_loss
        best = state.best_eval_loss
        if math.isfinite(event.eval_loss) and (best is None or event.eval_loss < best):
            changes["best_eval_loss"] = event.eval_loss
            changes["best_eval_step"] = event.step
    if event.learning_rate is not None:
        changes["learning_rate"] = event.learning_rate
    if event.epoch is not None:
        changes["epoch"] = event.epoch
    return changes


def _apply_event(
    state: DashboardState, event: events.TrainingEvent, now: float | None
) -> dict[str, Any]:
    """The changes a stream event makes (one ``replace`` per event: this is the view's hot path)."""
    if isinstance(event, events.TrainingLog):
        return _apply_log(state, event)
    if isinstance(event, events.TrainingStarted):
        return {
            "job_id": state.job_id or event.job_id or None,
            "status": RunStatus.RUNNING if not state.finished else state.status,
            "max_steps": state.max_steps or _max_steps_from(event.metadata),
        }
    if isinstance(event, events.CheckpointSaved):
        if any(c.step == event.step for c in state.checkpoints):
            return {}
        return {
            "checkpoints": (*state.checkpoints, CheckpointView(step=event.step)),
            "step": max(state.step, event.step),
        }
    if isinstance(event, events.TrainingCompleted):
        metrics = dict(event.metrics or {})
        status = state.status if state.status.finished else RunStatus.COMPLETED
        if status is RunStatus.FAILED:
            status = RunStatus.COMPLETED
        return _ending(
            state,
            now,
            status=status,
            metrics=tuple(sorted(metrics.items())),
            accuracy=_accuracy(metrics),
        )
    if isinstance(event, events.TrainingFailed):
        step = max(state.step, event.step or 0)
        if state.status.stopped or state.status is RunStatus.CANCELLED:
            return {"step": step}  # the echo of the cancel we asked for
        return _ending(state, now, status=RunStatus.FAILED, error=event.error, step=step)
    return {}  # UnknownEvent: counted, never a crash


def _submitted(state: DashboardState, action: actions.JobSubmitted) -> DashboardState:
    return replace(
        state,
        job_id=action.job_id,
        name=action.name or state.name,
        max_steps=action.max_steps or state.max_steps,
    )


def _opened(state: DashboardState, action: actions.RunOpened) -> DashboardState:
    job = action.job
    status = _FROM_JOB.get(job.status, state.status)
    started = _timestamp(job.started_at)
    return replace(
        state,
        job_id=job.id,
        name=job.name or state.name,
        index=action.index if action.index is not None else state.index,
        status=status if not state.finished else state.status,
        max_steps=state.max_steps or _positive_int(job.config.get("maxSteps")),
        started_at=started if started is not None else state.started_at,
        finished_at=_timestamp(job.completed_at) if status.finished else state.finished_at,
    )


def _progress(state: DashboardState, action: actions.StreamProgress) -> DashboardState:
    reconnects = max(state.reconnects, action.reconnects)
    replays_skipped = max(state.replays_skipped, action.duplicates)
    if reconnects == state.reconnects and replays_skipped == state.replays_skipped:
        return state  # the usual case: sent after every event, and nothing new
    return replace(state, reconnects=reconnects, replays_skipped=replays_skipped)


def _stopped(
    state: DashboardState, action: actions.RunStopped, now: float | None
) -> DashboardState:
    pruned = action.decision.rule.startswith("prune.")
    status = RunStatus.PRUNED if pruned else RunStatus.EARLY_STOPPED
    return _finish(state, now, status=status, stop=action.decision, error=None)


def _finished(
    state: DashboardState, action: actions.RunFinished, now: float | None
) -> DashboardState:
    status = RunStatus(action.status)
    if state.status.stopped and status in (RunStatus.CANCELLED, RunStatus.COMPLETED):
        status = state.status  # the stop rule's cancel is not a user cancel
    changes: dict[str, Any] = {"status": status}
    if action.error is not None or status is RunStatus.CANCELLED:
        changes["error"] = action.error
    if action.metrics is not None and not state.metrics:
        changes["metrics"] = tuple(sorted(action.metrics.items()))
        changes["accuracy"] = _accuracy(action.metrics)
    return _finish(state, now, **changes)


_Fact: TypeAlias = (
    actions.JobSubmitted
    | actions.RunOpened
    | actions.CheckpointAnswer
    | SamplesAnswered
    | actions.StreamProgress
    | actions.RunStopped
    | actions.RunFinished
)
"""The view's own actions: every action but a stream event and a deployment."""


def _apply_fact(state: DashboardState, action: _Fact, now: float | None) -> DashboardState:
    if isinstance(action, actions.JobSubmitted):
        return _submitted(state, action)
    if isinstance(action, actions.RunOpened):
        return _opened(state, action)
    if isinstance(action, actions.CheckpointAnswer | SamplesAnswered):
        return replace(state, checkpoints=with_answers(state.checkpoints, action))
    if isinstance(action, actions.StreamProgress):
        return _progress(state, action)
    if isinstance(action, actions.RunStopped):
        return _stopped(state, action, now)
    return _finished(state, action, now)


def reduce(
    state: DashboardState, action: actions.DashboardAction, *, now: float | None = None
) -> DashboardState:
    """Apply one action to the state and return the new state (the input is unchanged).

    Stream events with a numeric SSE id are checked against the last one: an
    id that is not above it is counted in ``repeated`` and otherwise ignored;
    a jump of more than one counts the missing ids in ``lost``. Events
    without an id, or with a non-numeric one, are applied unchecked.

    Args:
        state: the current state.
        action: a stream event, a checkpoint's samples, or one of the view's actions.
        now: the caller's clock (seconds since the epoch, as ``time.time()``),
            used for the elapsed time and ETA; ``None`` leaves timing alone.

    Returns:
        The new state.

    Examples:
        >>> from arkor_rx.events import TrainingLog
        >>> s = reduce(DashboardState(), TrainingLog(step=1, loss=1.0, event_id="1"))
        >>> s = reduce(s, TrainingLog(step=1, loss=1.0, event_id="1"))  # replayed
        >>> (s.events_seen, s.repeated)
        (1, 1)
    """
    if isinstance(action, actions.RunDeployed | actions.RunUndeployed):
        # no clock: a deployment may be shown long after the run
        return reduce_deployments(state, action)
    if now is not None and state.started_at is None and not isinstance(action, actions.RunOpened):
        state = replace(state, started_at=now)
    if isinstance(action, _Fact):
        return _apply_fact(state, action, now)

    # A stream event: check its id first.
    changes: dict[str, Any] = {}
    number = _numeric_id(action.event_id)
    if number is not None and state.last_event_id is not None:
        if number <= state.last_event_id:
            return replace(state, repeated=state.repeated + 1)
        gap = number - state.last_event_id - 1
        if gap:
            changes["lost"] = state.lost + gap
    if number is not None:
        changes["last_event_id"] = number
    changes["events_seen"] = state.events_seen + 1
    changes.update(_apply_event(state, action, now))
    return replace(state, **changes)
