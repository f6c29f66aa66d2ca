"""Plain log lines: what the views print when the output is not a terminal or a notebook.

Rule 1: [`describe`][arkor_rx.dashboard.describe] is pure: one line telling
what an action changed, or None when the action is not worth a line.
"""

from __future__ import annotations

from arkor_rx import events
from arkor_rx.dashboard import _actions as actions
from arkor_rx.dashboard._state import DashboardState
from arkor_rx.dashboard._terminal import deployment_line, num, shorten, stop_line
from arkor_rx.samples import SamplesAnswered

__all__ = ["describe"]


def _samples_line(action: SamplesAnswered) -> str:
    parts = []
    for sample in action.samples:
        said = f"failed: {sample.error}" if sample.error is not None else (sample.answer or "")
        parts.append(f"{shorten(sample.prompt, 60)!r} -> {shorten(said)}")
    return f"checkpoint {action.step} samples: " + "; ".join(parts)


def _deployment_text(
    before: DashboardState,
    action: actions.RunDeployed | actions.RunUndeployed,
    after: DashboardState,
) -> str | None:
    if before.deployments == after.deployments:
        return None
    if isinstance(action, actions.RunUndeployed):
        return f"{shorten(action.slug, 60)} no longer serves this run"
    return deployment_line(action)


def describe(
    before: DashboardState, action: actions.DashboardAction, after: DashboardState
) -> str | None:
    """One plain log line telling what ``action`` changed, or None when not worth a line.

    Used when the output is not a terminal. Pure.

    Examples:
        >>> from arkor_rx.dashboard import reduce
        >>> from arkor_rx.events import TrainingLog
        >>> s0 = DashboardState(max_steps=40)
        >>> ev = TrainingLog(step=10, loss=1.5)
        >>> describe(s0, ev, reduce(s0, ev))
        'step 10/40  loss 1.5000  smoothed 1.5000'
    """
    if after.repeated > before.repeated:
        event_id = getattr(action, "event_id", None)
        return f"repeated event id {event_id} ignored"
    lost = f" ({after.lost - before.lost} event(s) lost)" if after.lost > before.lost else ""
    total = after.max_steps or "?"
    if isinstance(action, actions.JobSubmitted):
        return f"job {action.job_id} submitted: {action.name or after.name} ({total} steps)"
    if isinstance(action, actions.RunOpened):
        return (
            f"following job {action.job.id}: {after.name or '(no name)'} "
            f"({action.job.status}, {total} steps)"
        )
    if isinstance(action, events.TrainingStarted):
        return f"job {after.job_id or action.job_id} started{lost}"
    if isinstance(action, events.TrainingLog):
        parts = [f"step {action.step}/{total}"]
        if action.loss is not None:
            parts.append(f"loss {num(action.loss)}")
            parts.append(f"smoothed {num(after.smoothed_loss)}")
        if action.eval_loss is not None:
            parts.append(f"eval_loss {num(action.eval_loss)}")
        return "  ".join(parts) + lost
    if isinstance(action, events.CheckpointSaved):
        return f"checkpoint saved at step {action.step}{lost}"
    if isinstance(action, actions.CheckpointAnswer):
        label = "failed" if action.error else "answer"
        asked = f"  (asked {shorten(action.prompt, 60)!r})" if action.prompt else ""
        return f"checkpoint {action.step} {label}: {shorten(action.text)}{asked}"
    if isinstance(action, SamplesAnswered):
        return _samples_line(action)
    if isinstance(action, actions.StreamProgress):
        if after.reconnects > before.reconnects:
            return f"stream reconnected ({after.reconnects} so far)"
        return None
    if isinstance(action, actions.RunStopped):
        return stop_line(action.decision)
    if isinstance(action, actions.RunDeployed | actions.RunUndeployed):
        return _deployment_text(before, action, after)
    if isinstance(action, events.TrainingCompleted):
        return f"training completed at step {after.step}{lost}"
    if isinstance(action, events.TrainingFailed):
        if after.status != "failed":
            return None  # the echo of a cancel we asked for
        return f"training failed: {action.error}{lost}"
    if isinstance(action, actions.RunFinished):
        if before.status == after.status:
            return None
        return f"run {after.status}" + (f": {action.error}" if action.error else "")
    return None
