"""``checkpoints()``: keep only the ``checkpoint.saved`` events."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from arkor_rx.events import CheckpointSaved

__all__ = ["checkpoints"]


def checkpoints() -> Callable[[Observable[object]], Observable[CheckpointSaved]]:
    """Keep the :class:`~arkor_rx.events.CheckpointSaved` events; drop everything else."""

    def operator(source: Observable[object]) -> Observable[CheckpointSaved]:
        def subscribe(
            observer: abc.ObserverBase[CheckpointSaved],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            def on_next(event: object) -> None:
                if isinstance(event, CheckpointSaved):
                    observer.on_next(event)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
