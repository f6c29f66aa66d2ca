"""``TrainingResult``: how a run ended, as ``Trainer.wait()`` returns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arkor_rx.events import TrainingCompleted, TrainingFailed
from arkor_rx.jobs import TrainingJob
from arkor_rx.stopping import StopDecision
from arkor_rx.stream import StreamStats

__all__ = ["TrainingResult"]


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """How a run ended: the final job, its artifacts, and the stop decision if one was taken.

    Returned for completed, failed and early-stopped runs alike; look at
    [`status`][arkor_rx.trainer.TrainingResult.status] (or ``job.status``) and
    [`early_stopped`][arkor_rx.trainer.TrainingResult.early_stopped].
    """

    job: TrainingJob
    """The job as fetched from the server once the stream ended."""
    artifacts: list[Any] = field(default_factory=list)
    """The artifacts of ``training.completed`` (empty for failed or stopped runs)."""
    stop: StopDecision | None = None
    """The decision of the rule that stopped the run early, else None.

    When the job ended on its own at the same moment (the cancel answered
    409), it is still set; [`status`][arkor_rx.trainer.TrainingResult.status],
    [`terminal_event`][arkor_rx.trainer.TrainingResult.terminal_event] and
    [`artifacts`][arkor_rx.trainer.TrainingResult.artifacts] then describe the job's own ending."""
    terminal_event: TrainingCompleted | TrainingFailed | None = None
    """The event that ended the run, when the stream delivered one."""
    stats: StreamStats = field(default_factory=StreamStats)
    """Counters of the event stream (reconnects, duplicates skipped, ...)."""

    @property
    def status(self) -> str:
        """The job's final status: ``completed``, ``failed``, ``cancelled`` (or still running)."""
        return self.job.status

    @property
    def early_stopped(self) -> bool:
        """True when a stop rule fired (and the job was cancelled for it, unless it
        ended on its own at that same moment: see
        [`status`][arkor_rx.trainer.TrainingResult.status])."""
        return self.stop is not None

    @property
    def reconnects(self) -> int:
        """How many times the event stream was reopened."""
        return self.stats.reconnects
