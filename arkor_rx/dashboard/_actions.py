"""What the live views are told: the run status type and the actions beside the events.

Rule 1: one status type, [`RunStatus`][arkor_rx.dashboard.RunStatus]; every
view and the CLI compare against its members, never against loose strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

from arkor_rx.dashboard._deployments import RunDeployed, RunUndeployed
from arkor_rx.events import TrainingEvent
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.stopping import StopDecision

__all__ = [
    "CheckpointAnswer",
    "DashboardAction",
    "JobSubmitted",
    "RunDeployed",
    "RunFinished",
    "RunOpened",
    "RunStatus",
    "RunStopped",
    "RunUndeployed",
    "StreamProgress",
]


class RunStatus(StrEnum):
    """What a run is doing, as the views show it (a ``str``: ``"running"`` compares equal)."""

    WAITING = "waiting"
    """Not started yet (submitted, or queued on the backend)."""
    RUNNING = "running"
    COMPLETED = "completed"
    EARLY_STOPPED = "early-stopped"
    """A stop rule fired and the job was cancelled on purpose."""
    PRUNED = "pruned"
    """A sweep's cross-run pruner stopped it."""
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Cancelled by a user (Ctrl-C, ``trainer.cancel()``, or elsewhere)."""

    @property
    def finished(self) -> bool:
        """True for every final status."""
        return self not in (RunStatus.WAITING, RunStatus.RUNNING)

    @property
    def succeeded(self) -> bool:
        """True for a completed, early-stopped or pruned run (exit status 0 in the CLI)."""
        return self in (RunStatus.COMPLETED, RunStatus.EARLY_STOPPED, RunStatus.PRUNED)

    @property
    def stopped(self) -> bool:
        """True when a rule or a pruner ended the run."""
        return self in (RunStatus.EARLY_STOPPED, RunStatus.PRUNED)


_FROM_JOB = {
    "queued": RunStatus.WAITING,
    "running": RunStatus.RUNNING,
    "completed": RunStatus.COMPLETED,
    "failed": RunStatus.FAILED,
    "cancelled": RunStatus.CANCELLED,
}


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class JobSubmitted:
    """This process created the job: its id, name and planned length."""

    job_id: str
    name: str = ""
    max_steps: int | None = None


@dataclass(frozen=True, slots=True)
class RunOpened:
    """A view began following a job (a sink's ``open``), maybe one it did not submit.

    The job's own status and ``startedAt`` are used, so attaching to a job
    that runs since ten minutes shows ``running`` and ten minutes elapsed.
    """

    job: TrainingJob
    index: int | None = None
    """The run's position in a sweep, when it belongs to one."""


@dataclass(frozen=True, slots=True)
class CheckpointAnswer:
    """The sample answer a checkpoint gave (from its ``infer``), or why it could not."""

    step: int
    text: str
    error: bool = False
    """True when ``text`` is an error message rather than the model's answer."""
    prompt: str | None = None
    """The question that was asked."""


@dataclass(frozen=True, slots=True)
class StreamProgress:
    """The event stream's counters so far (they only grow)."""

    reconnects: int
    duplicates: int = 0
    """Replayed events the client skipped before they reached the view."""


@dataclass(frozen=True, slots=True)
class RunStopped:
    """A stop rule (or a sweep's pruner) fired; the job is being cancelled on purpose."""

    decision: StopDecision


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run is over, as the caller saw it (e.g. ``"cancelled"`` after Ctrl-C).

    A ``completed`` or ``failed`` already set by a stream event is kept unless
    this one is more specific; a stop rule's own cancel stays ``early-stopped``.
    """

    status: str
    """A [`RunStatus`][arkor_rx.dashboard.RunStatus] value."""
    error: str | None = None
    metrics: Mapping[str, Any] | None = None


DashboardAction: TypeAlias = (
    TrainingEvent
    | SamplesAnswered
    | JobSubmitted
    | RunOpened
    | CheckpointAnswer
    | StreamProgress
    | RunStopped
    | RunFinished
    | RunDeployed
    | RunUndeployed
)
"""Anything [`reduce`][arkor_rx.dashboard.reduce] accepts."""
