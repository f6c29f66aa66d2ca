"""``eta(max_steps)``: time left until ``max_steps``, from the average speed so far."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from reactivex import Observable, abc

from arkor_rx.operators._clocked import step_rates
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

    def at(step: int, rate: float) -> Eta:
        return Eta(step, total, rate, max(total - step, 0) / rate)

    return step_rates(at, since_first=True, clock=which, scheduler=scheduler)
