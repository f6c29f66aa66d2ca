"""What every stop rule shares.

Rule 1: a rule is a frozen, validated config object that is also a
[`StopRule`][arkor_rx.operators.StopRule]: called on an event stream it returns a
stream of at most one [`StopDecision`][arkor_rx.operators.StopDecision], then completes. All state
lives
in the subscription, so one rule object can watch many runs.

Rule 2: a monitored rule sees the monitored metric of each ``TrainingLog``
(nulls skipped), smoothed first when ``smoothing`` is set (TensorBoard's
smoothing, which passes NaN through), then gated: values logged before
``warmup_steps`` are ignored; with ``interval=1`` (the default) every remaining
value is checked, and with ``interval=k`` a value is checked only when its
step is at least ``k`` past the last checked one (the first is always checked).

Rule 3: a user function that raises ends the rule's stream with that error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

from reactivex import Observable
from reactivex import operators as ops

from arkor_rx.events import TrainingEvent
from arkor_rx.operators._common import (
    MetricPoint,
    check_fraction,
    check_int,
    check_monitor,
    stateful,
)
from arkor_rx.operators._metric import metric
from arkor_rx.operators._tensorboard_smooth import tensorboard_smooth
from arkor_rx.stopping import StopDecision

__all__ = [
    "Checker",
    "Gated",
    "Rule",
    "check_gate",
    "fmt",
    "improved",
    "monitored",
    "one_decision",
]


class Rule:
    """Base of the built-in stop rules, so that a list of them has a useful type.

    A rule is called on an event stream and returns a stream of at most one
    [`StopDecision`][arkor_rx.operators.StopDecision]; it matches
    [`StopRule`][arkor_rx.operators.StopRule].
    """

    __slots__ = ()

    def __call__(self, source: Observable[TrainingEvent]) -> Observable[StopDecision]:
        raise NotImplementedError


Checker = Callable[[MetricPoint], StopDecision | None]
"""A per-subscription check: the decision to stop at this point, or None."""


def fmt(value: float | None) -> str:
    """A number for a human-readable reason."""
    return "none" if value is None else f"{value:.6g}"


def check_gate(warmup_steps: int, interval: int, smoothing: float | None) -> None:
    """Validate the arguments every monitored rule has."""
    check_int("warmup_steps", warmup_steps, 0)
    check_int("interval", interval, 1)
    if smoothing is not None:
        check_fraction("smoothing", smoothing, low_open=False, high_open=True)


_GATE = ("warmup_steps", "interval", "smoothing")


@dataclass(frozen=True, slots=True, kw_only=True)
class Gated(Rule):
    """The monitor and the gate of a monitored rule (Rule 2), declared and checked once for all.

    A monitored rule subclasses it (as a frozen, slotted, keyword-only
    dataclass with ``repr=False``, so that its repr lists its own settings
    first and the gate last), gives ``monitor`` its default, validates its own
    settings in ``_check()``, and builds its decision with
    ``monitored(source, self.monitor, make, self)``.
    """

    monitor: str
    """The ``TrainingLog`` metric the rule watches (snake_case or camelCase)."""
    warmup_steps: int = 0
    """Values logged before this step are ignored."""
    interval: int = 1
    """Check a value only when its step is at least this many past the last checked one."""
    smoothing: float | None = None
    """TensorBoard smoothing weight in ``[0, 1)`` applied before the checks; None: raw values."""

    def __post_init__(self) -> None:
        check_monitor(self.monitor)
        self._check()
        check_gate(self.warmup_steps, self.interval, self.smoothing)

    def _check(self) -> None:
        """Validate the rule's own settings (the gate is checked after them)."""

    def __repr__(self) -> str:
        names = [f.name for f in fields(self) if f.name not in _GATE] + list(_GATE)
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({settings})"


def _gate(
    warmup_steps: int, interval: int
) -> Callable[[Observable[MetricPoint]], Observable[MetricPoint]]:
    def make() -> Callable[[MetricPoint], MetricPoint | None]:
        last: int | None = None

        def step(point: MetricPoint) -> MetricPoint | None:
            nonlocal last
            if point.step < warmup_steps:
                return None
            if interval > 1 and last is not None and point.step - last < interval:
                return None
            last = point.step
            return point

        return step

    return stateful(make)


def one_decision() -> Callable[[Observable[StopDecision]], Observable[StopDecision]]:
    """Pass the first decision, then complete (and let go of the source)."""
    return ops.take(1)


def monitored(
    source: Observable[object],
    monitor: str,
    make_checker: Callable[[], Checker],
    gate: Gated | None = None,
) -> Observable[StopDecision]:
    """The pipeline of a monitored rule (Rule 2): metric, smoothing and gate, check, one decision.

    Without a ``gate`` every value of ``monitor`` is checked, raw.
    """
    points = source.pipe(metric(monitor))
    if gate is not None:
        if gate.smoothing is not None:
            points = points.pipe(tensorboard_smooth(gate.smoothing))
        points = points.pipe(_gate(gate.warmup_steps, gate.interval))
    return points.pipe(stateful(make_checker), one_decision())


def improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    """True when a finite ``value`` beats ``best`` by more than ``min_delta``."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    if mode == "min":
        return value < best - min_delta
    return value > best + min_delta
