"""What the web dashboard sends: a run's row, its points, its log lines, as JSON-ready values.

Rule 1: pure functions of the views' shared state
([`DashboardState`][arkor_rx.dashboard.DashboardState]); no I/O. A row's
keys are camelCase, ``status`` is the backend's job status and ``state`` the
views' richer one (``early-stopped``, ``pruned``).

Rule 2: a run's deployments travel in its row (``deployments``: slug, target,
URL, enabled; never a key), so a page learns of a new one from the row diff
like any other change.

Rule 3: a point is ``[seq, step, loss, evalLoss, learningRate]`` with
``null`` for a missing or non-finite value (JSON has no NaN). The browser
updates a row's step and latest values from its points, so a change that
carries a point does not repeat them in the row (`trim_diff`): a new
point costs the same few bytes however long the run is.
"""

from __future__ import annotations

import math
from typing import Any

from arkor_rx import events
from arkor_rx.dashboard._actions import RunStatus
from arkor_rx.dashboard._state import DashboardState

__all__ = [
    "JOB_STATUS",
    "Point",
    "checkpoints",
    "deployments",
    "diff",
    "finite",
    "log_line",
    "point",
    "row",
    "trim_diff",
]

Point = list[Any]
"""``[seq, step, loss, evalLoss, learningRate]``."""

JOB_STATUS = {
    RunStatus.WAITING: "queued",
    RunStatus.RUNNING: "running",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.EARLY_STOPPED: "cancelled",
    RunStatus.PRUNED: "cancelled",
}
"""The backend job status of each view status (a stopped or pruned run was cancelled)."""


def finite(value: float | None) -> float | None:
    """``value``, or None when it is missing or not finite (JSON has no NaN).

    Examples:
        >>> finite(1.5), finite(float("nan")), finite(None)
        (1.5, None, None)
    """
    return value if value is not None and math.isfinite(value) else None


def row(key: str, state: DashboardState) -> dict[str, Any]:
    """One run as the runs table shows it (the ``/api/runs`` entry)."""
    stop = state.stop
    return {
        "id": key,
        "name": state.label,
        "index": state.index,
        "status": JOB_STATUS[state.status],
        "state": state.status.value,
        "step": state.step,
        "maxSteps": state.max_steps,
        "loss": finite(state.loss),
        "evalLoss": finite(state.eval_loss),
        "bestEvalLoss": finite(state.best_eval_loss),
        "bestEvalStep": state.best_eval_step,
        "learningRate": finite(state.learning_rate),
        "stop": None
        if stop is None
        else {"rule": stop.rule, "reason": stop.reason, "step": stop.step},
        "error": state.error,
        "startedAt": state.started_at,
        "finishedAt": state.finished_at,
        "deployments": deployments(state),
    }


def deployments(state: DashboardState) -> list[dict[str, Any]]:
    """The run's deployments, oldest first: ``{slug, target, step, url, enabled}`` each.

    ``target`` is ``"final"`` or ``"checkpoint step N"``; ``step`` is None for the
    final adapter. A key is never part of it.
    """
    return [
        {"slug": d.slug, "target": d.target, "step": d.step, "url": d.url, "enabled": d.enabled}
        for d in state.deployments
    ]


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``new`` whose values differ from ``old`` (all of them when ``old`` is None)."""
    if old is None:
        return dict(new)
    return {k: v for k, v in new.items() if old.get(k) != v}


def trim_diff(changed: dict[str, Any], pt: Point | None) -> dict[str, Any]:
    """Drop from a row diff what the browser learns from the point sent beside it (Rule 3)."""
    if pt is None:
        return changed
    _, step, loss, eval_loss, lr = pt
    implied = {"step": step, "loss": loss, "evalLoss": eval_loss, "learningRate": lr}
    return {
        k: v
        for k, v in changed.items()
        if not (k in implied and implied[k] is not None and implied[k] == v)
    }


def point(seq: int, event: events.TrainingLog) -> Point:
    """A log event as a chart point (Rule 3)."""
    return [
        seq,
        event.step,
        finite(event.loss),
        finite(event.eval_loss),
        finite(event.learning_rate),
    ]


def log_line(seq: int, event: events.TrainingEvent) -> list[Any] | None:
    """An event-log line ``[seq, type, step, text]``, or None for a plain log event."""
    if isinstance(event, events.TrainingLog):
        return None
    if isinstance(event, events.TrainingStarted):
        return [seq, event.type, None, "started"]
    if isinstance(event, events.CheckpointSaved):
        return [seq, event.type, event.step, f"checkpoint saved at step {event.step}"]
    if isinstance(event, events.TrainingCompleted):
        return [seq, event.type, None, "completed"]
    if isinstance(event, events.TrainingFailed):
        return [seq, event.type, event.step, f"failed: {event.error}"]
    assert isinstance(event, events.UnknownEvent)
    return [seq, event.type or "unknown", None, "an event this client does not know"]


def checkpoints(state: DashboardState) -> list[list[Any]]:
    """The checkpoint samples: ``[step, prompt, answer, error]`` each, by step."""
    return [[c.step, c.prompt, c.answer, c.error] for c in state.checkpoints]
