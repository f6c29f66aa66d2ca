"""``terminal()``: keep only the events that end a run."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from arkor_rx.events import TrainingCompleted, TrainingFailed

__all__ = ["terminal"]


def terminal() -> Callable[[Observable[object]], Observable[TrainingCompleted | TrainingFailed]]:
    """Keep ``training.completed`` and ``training.failed``; drop everything else."""

    def operator(source: Observable[object]) -> Observable[TrainingCompleted | TrainingFailed]:
        def subscribe(
            observer: abc.ObserverBase[TrainingCompleted | TrainingFailed],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            def on_next(event: object) -> None:
                if isinstance(event, TrainingCompleted | TrainingFailed):
                    observer.on_next(event)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
