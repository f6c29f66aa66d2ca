"""``logs()``, ``checkpoints()``, ``terminal()``: typed filters of an event stream.

Rule: each is ``reactivex.operators.filter`` with an ``isinstance`` test,
typed as the stream of the kept type; nothing else is hand-written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from reactivex import Observable
from reactivex import operators as ops

from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingFailed, TrainingLog

__all__ = ["checkpoints", "logs", "of_type", "terminal"]


def of_type(*kinds: type[Any]) -> Callable[[Observable[object]], Observable[Any]]:
    """Keep the items that are instances of one of ``kinds``; drop everything else."""

    def keep(item: object) -> bool:
        return isinstance(item, kinds)

    return ops.filter(keep)


def logs() -> Callable[[Observable[object]], Observable[TrainingLog]]:
    """Keep the [`TrainingLog`][arkor_rx.events.TrainingLog] events; drop everything else."""
    return of_type(TrainingLog)


def checkpoints() -> Callable[[Observable[object]], Observable[CheckpointSaved]]:
    """Keep the [`CheckpointSaved`][arkor_rx.events.CheckpointSaved] events; drop everything
    else."""
    return of_type(CheckpointSaved)


def terminal() -> Callable[[Observable[object]], Observable[TrainingCompleted | TrainingFailed]]:
    """Keep ``training.completed`` and ``training.failed``; drop everything else."""
    return cast(
        Callable[[Observable[object]], Observable[TrainingCompleted | TrainingFailed]],
        of_type(TrainingCompleted, TrainingFailed),
    )
