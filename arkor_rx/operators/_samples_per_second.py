"""``samples_per_second()``: the throughput the backend reports."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable

from arkor_rx.operators._common import MetricPoint
from arkor_rx.operators._metric import metric

__all__ = ["samples_per_second"]


def samples_per_second() -> Callable[[Observable[object]], Observable[MetricPoint]]:
    """The finite ``samples_per_second`` values of the logs, as ``MetricPoint``."""
    return metric("samples_per_second", finite_only=True)
