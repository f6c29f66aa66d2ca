"""``metric(name)``: one metric of the ``training.log`` events as ``(step, value)`` points."""

from __future__ import annotations

import math
from collections.abc import Callable

from reactivex import Observable, abc

from arkor_rx.events import TrainingLog
from arkor_rx.operators._common import MetricPoint, check_monitor

__all__ = ["metric"]


def metric(
    name: str, *, finite_only: bool = False
) -> Callable[[Observable[object]], Observable[MetricPoint]]:
    """The metric ``name`` of every ``TrainingLog`` as a
    [`MetricPoint`][arkor_rx.operators.MetricPoint].

    Events that are not logs, and logs where the metric is null or absent, are
    skipped. With ``finite_only`` NaN and infinities are skipped too.

    Raises:
        ConfigError: ``name`` is not a metric of ``TrainingLog``.
    """
    check_monitor(name)

    def operator(source: Observable[object]) -> Observable[MetricPoint]:
        def subscribe(
            observer: abc.ObserverBase[MetricPoint], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(event: object) -> None:
                if not isinstance(event, TrainingLog):
                    return
                value = event.metric(name)
                if value is None or (finite_only and not math.isfinite(value)):
                    return
                observer.on_next(MetricPoint(event.step, float(value)))

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
