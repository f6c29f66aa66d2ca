"""``window_by_time(seconds)``: tumbling windows of wall (or virtual) time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc
from reactivex import operators as ops

from arkor_rx.operators._common import check_positive

__all__ = ["window_by_time"]

_T = TypeVar("_T")


def window_by_time(
    seconds: float, scheduler: abc.SchedulerBase | None = None
) -> Callable[[Observable[_T]], Observable[list[_T]]]:
    """Every ``seconds``, the list of items that arrived in that span (``[]`` when none).

    A thin, validated ``reactivex.operators.buffer_with_time``. Empty lists are
    kept on purpose: a run of them is what a stalled job looks like.
    """
    span = check_positive("seconds", seconds)
    return ops.buffer_with_time(span, scheduler=scheduler)
