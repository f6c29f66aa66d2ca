"""Test helpers for the operators: build events and run pipelines in virtual time."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.notification import OnCompleted, OnError, OnNext
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

from arkor_rx.events import TrainingLog
from arkor_rx.operators import MetricPoint

_R = TypeVar("_R")


def logs_of(metric: str, values: Iterable[tuple[int, float | None]]) -> list[TrainingLog]:
    """One TrainingLog per ``(step, value)`` with ``metric`` set."""
    return [TrainingLog(step=step, **{metric: value}) for step, value in values]


def collect(source: Observable[Any], *operators: Callable[[Any], Any]) -> list[Any]:
    """Run a synchronous source through ``operators`` and return everything emitted."""
    out: list[Any] = []
    errors: list[Exception] = []
    pipeline: Observable[Any] = source.pipe(*operators) if operators else source
    pipeline.subscribe(out.append, errors.append)
    if errors:
        raise errors[0]
    return out


def points(values: Sequence[float], steps: Sequence[int] | None = None) -> list[MetricPoint]:
    """MetricPoints with steps 0, 1, 2 ... unless ``steps`` is given."""
    steps = list(range(len(values))) if steps is None else steps
    return [MetricPoint(s, float(v)) for s, v in zip(steps, values, strict=True)]


def run_points(values: Sequence[object], op: Callable[[Any], Any]) -> list[Any]:
    return collect(reactivex.from_iterable(values), op, ops.to_list())[0]  # type: ignore[no-any-return]


def same(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def virtual(
    scheduler: TestScheduler,
    timeline: Sequence[tuple[float, Any]],
    op: Callable[[Observable[Any]], Observable[Any]],
    *,
    complete_at: float | None = None,
    disposed: float = 1000.0,
) -> tuple[list[tuple[float, str, Any]], Any]:
    """Feed a hot observable at virtual times; return ``(time, kind, value)`` records and xs."""
    messages = [on_next(t, v) for t, v in timeline]
    if complete_at is not None:
        messages.append(on_completed(complete_at))
    xs = scheduler.create_hot_observable(messages)
    observer = scheduler.start(lambda: op(xs), created=0.1, subscribed=0.5, disposed=disposed)
    records: list[tuple[float, str, Any]] = []
    for message in observer.messages:
        value = message.value
        if isinstance(value, OnNext):
            records.append((message.time, "next", value.value))
        elif isinstance(value, OnError):
            records.append((message.time, "error", value.exception))
        elif isinstance(value, OnCompleted):
            records.append((message.time, "completed", None))
    return records, xs


# ReactiveTest annotates times as int, but the TestScheduler takes float seconds;
# these typed wrappers keep the fractional times (subscribed at 0.5) type-clean.


def on_next(time: float, value: Any) -> Recorded[Any]:
    return ReactiveTest.on_next(time, value)  # type: ignore[arg-type]


def on_completed(time: float) -> Recorded[Any]:
    return ReactiveTest.on_completed(time)  # type: ignore[arg-type]


def on_error(time: float, error: Exception) -> Recorded[Any]:
    return ReactiveTest.on_error(time, error)  # type: ignore[arg-type]


def subscribed(start: float, end: float) -> Any:
    return ReactiveTest.subscribe(start, end)  # type: ignore[arg-type]


def reference_tensorboard(values: Sequence[float], w: float) -> list[float]:
    """TensorBoard's scalar smoothing, as the issue states it (non-finite values pass through)."""
    last, n, out = 0.0, 0, []
    for y in values:
        if not math.isfinite(y):
            out.append(y)
            continue
        last = last * w + (1 - w) * y
        n += 1
        out.append(last / (1 - w**n))
    return out


class Blocker:
    """Work that never ends by itself: ``started`` once it runs, ``cancelled`` if cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def run(self, result: _R) -> _R:
        """Wait forever (until cancelled); typed as if it returned ``result``."""
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return result
