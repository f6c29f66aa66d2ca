"""``eta(max_steps)``: time left until ``max_steps``, from the average speed so far."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from reactivex import Observable, abc

from arkor_rx.events import TrainingLog
from arkor_rx.operators._clocked import clocked
from arkor_rx.operators._common import Clock, check_clock, check_int

__all__ = ["Eta", "eta"]


class Eta(NamedTuple):
    """Progress towards ``max_steps`` at one log."""

    step: int
    """The step of the log."""
    max_steps: int
    """The step the run ends at."""
    steps_per_second: float
    """Average speed since the first timed log."""
    seconds_left: float
    """``(max_steps - step) / steps_per_second``, never below 0."""

    @property
    def fraction(self) -> float:
        """How much of the run is done, between 0 and 1."""
        return min(max(self.step / self.max_steps, 0.0), 1.0)


def eta(
    max_steps: int, scheduler: abc.SchedulerBase | None = None, *, clock: Clock = "event"
) -> Callable[[Observable[object]], Observable[Eta]]:
    """An [`Eta`][arkor_rx.operators.Eta] for every ``TrainingLog`` after the first one (the
    anchor)."""
    total = check_int("max_steps", max_steps, 1)
    which = check_clock(clock)

    def make() -> Callable[[TrainingLog, float], Eta | None]:
        anchor: tuple[int, float] | None = None

        def step(log: TrainingLog, now: float) -> Eta | None:
            nonlocal anchor
            if anchor is None or log.step < anchor[0]:
                anchor = (log.step, now)
                return None
            d_step, d_time = log.step - anchor[0], now - anchor[1]
            if d_step <= 0 or d_time <= 0:
                return None
            rate = d_step / d_time
            return Eta(log.step, total, rate, max(total - log.step, 0) / rate)

        return step

    return clocked(make, which, scheduler)
