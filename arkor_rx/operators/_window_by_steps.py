"""``window_by_steps(n)``: tumbling windows of ``n`` steps, aligned on multiples of ``n``."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from arkor_rx.operators._common import StepT, check_int

__all__ = ["window_by_steps"]


def window_by_steps(n: int) -> Callable[[Observable[StepT]], Observable[list[StepT]]]:
    """Group items by ``step // n`` and emit each group as a list.

    A group is emitted when the first item of another group arrives, and the
    last group when the source completes. Empty groups are never emitted. An
    item whose step goes back to an earlier group starts a new list.
    """
    check_int("n", n, 1)

    def operator(source: Observable[StepT]) -> Observable[list[StepT]]:
        def subscribe(
            observer: abc.ObserverBase[list[StepT]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            bucket: list[StepT] = []
            key: int | None = None

            def on_next(item: StepT) -> None:
                nonlocal bucket, key
                try:
                    item_key = item.step // n
                except Exception as exc:
                    observer.on_error(exc)
                    return
                if key is not None and item_key != key and bucket:
                    full, bucket = bucket, []
                    observer.on_next(full)
                key = item_key
                bucket.append(item)

            def on_completed() -> None:
                if bucket:
                    observer.on_next(list(bucket))
                observer.on_completed()

            return source.subscribe(on_next, observer.on_error, on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return operator
