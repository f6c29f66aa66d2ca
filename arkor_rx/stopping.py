"""Stop decisions and stop rules: the core types of early stopping.

Rule 1: a rule decides and the Trainer acts. A stop rule is a function from
an Observable of events to an Observable of at most one :class:`StopDecision`;
the Trainer (or a sweep) cancels the job on the backend, once.

These types live here, outside the operators, because the Trainer, the live
views and the sinks all use them; ``arkor_rx.operators`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import reactivex

from arkor_rx.events import TrainingEvent

__all__ = ["StopDecision", "StopRule"]


@dataclass(frozen=True, slots=True)
class StopDecision:
    """Why a run should stop early. A value, not an exception.

    Emitted by the early-stopping operators; the Trainer acts on it by
    closing the stream and cancelling the job on the backend exactly once.
    """

    rule: str
    """Which rule fired, e.g. ``"patience"``, ``"divergence"``, ``"budget.steps"``."""
    reason: str
    """A sentence for humans: what was seen and which limit it crossed."""
    step: int | None = None
    """The step of the event that made the rule fire."""
    value: float | None = None
    """The monitored value at that step (may be ``nan``)."""
    best: float | None = None
    """The best monitored value seen so far, when the rule tracks one."""
    best_step: int | None = None
    """The step the best value was seen at."""
    monitor: str | None = None
    """The monitored metric (``"loss"``, ``"eval_loss"``, a scorer name ...)."""


StopRule: TypeAlias = Callable[
    [reactivex.Observable[TrainingEvent]], reactivex.Observable[StopDecision]
]
"""A stop rule: turns a stream of events into (at most one) decision, then completes."""
