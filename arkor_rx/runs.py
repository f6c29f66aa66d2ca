"""Runs of a sweep, and the values that travel on a sweep's merged stream.

Rule 1: a sweep is many Trainers and one merged Observable of
:class:`RunEvent` values, keyed by :class:`Run`.

Rule 2: a cross-run pruner decides and the sweep acts: it emits a
:class:`PruneDecision` naming the run, and the sweep cancels that run on the
backend, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arkor_rx.events import TrainingEvent
from arkor_rx.stopping import StopDecision

__all__ = ["PruneDecision", "Run", "RunEvent"]


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a sweep: its position, its job id once submitted, and its config."""

    index: int
    """0-based position in the sweep (grid order, or the order of ``runs=``)."""
    job_id: str | None = None
    """The backend job id, None until the run was submitted."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The knobs this run sets on top of the shared config (snake_case names)."""
    name: str = ""
    """The job name (the sweep's name with the run's index and knobs)."""


@dataclass(frozen=True, slots=True)
class RunEvent:
    """An event of one run, on a sweep's merged stream."""

    run: Run
    """The run the event belongs to."""
    event: TrainingEvent
    """The typed event."""


@dataclass(frozen=True, slots=True)
class PruneDecision:
    """A cross-run pruner's verdict: stop ``run`` for ``decision``."""

    run: Run
    """The run to stop."""
    decision: StopDecision
    """Why: ``decision.rule`` is ``"prune.median"``, ``"prune.percentile"`` or
    ``"prune.successive_halving"``, and ``decision.reason`` names the comparison."""
