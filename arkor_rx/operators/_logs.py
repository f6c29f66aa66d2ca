"""``logs()``: keep only the ``training.log`` events."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from arkor_rx.events import TrainingLog

__all__ = ["logs"]


def logs() -> Callable[[Observable[object]], Observable[TrainingLog]]:
    """Keep the :class:`~arkor_rx.events.TrainingLog` events; drop everything else."""

    def operator(source: Observable[object]) -> Observable[TrainingLog]:
        def subscribe(
            observer: abc.ObserverBase[TrainingLog], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(event: object) -> None:
                if isinstance(event, TrainingLog):
                    observer.on_next(event)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
