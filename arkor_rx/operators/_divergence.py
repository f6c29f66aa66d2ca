"""``divergence(...)``: stop a run whose metric blows up, with or without a NaN."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reactivex import Observable

from arkor_rx.errors import ConfigError
from arkor_rx.operators._common import (
    MetricPoint,
    Mode,
    check_finite,
    check_int,
    check_mode,
)
from arkor_rx.operators._rule import Checker, Gated, fmt, improved, monitored
from arkor_rx.stopping import StopDecision

__all__ = ["Divergence"]


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Divergence(Gated):
    """Stop when ``monitor`` goes the wrong way by too much, ``patience`` checks in a row.

    A check diverges (``mode="min"``; mirror everything for ``"max"``) when

    - the value is above the absolute ``threshold``, or
    - the value is above ``best + (factor - 1) * |best|`` (for a positive best:
      ``factor`` times the best value seen so far), or
    - the value is NaN or infinite (unless ``check_finite=False``).

    The first two catch a run going bad even when NaN never reaches the
    stream (some trainers replace a NaN loss with a running mean).
    """

    monitor: str = "loss"
    threshold: float | None = None
    factor: float | None = None
    mode: Mode = "min"
    patience: int = 1
    check_finite: bool = True

    def _check(self) -> None:
        if self.threshold is None and self.factor is None:
            raise ConfigError("divergence needs a threshold, a factor, or both")
        if self.threshold is not None:
            check_finite("threshold", self.threshold)
        if self.factor is not None and check_finite("factor", self.factor) <= 1:
            raise ConfigError(f"factor must be > 1, got {self.factor!r}")
        check_mode(self.mode)
        check_int("patience", self.patience, 1)

    def _why(self, value: float, best: float | None) -> str | None:
        worse = "above" if self.mode == "min" else "below"
        if not math.isfinite(value):
            return f"{self.monitor} is {value}" if self.check_finite else None
        if self.threshold is not None and (
            value > self.threshold if self.mode == "min" else value < self.threshold
        ):
            return f"{self.monitor} {fmt(value)} is {worse} the threshold {fmt(self.threshold)}"
        if self.factor is not None and best is not None:
            margin = (self.factor - 1) * abs(best)
            limit = best + margin if self.mode == "min" else best - margin
            if value > limit if self.mode == "min" else value < limit:
                return (
                    f"{self.monitor} {fmt(value)} is {worse} {fmt(limit)} "
                    f"(factor {fmt(self.factor)} of the best {fmt(best)})"
                )
        return None

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        def make() -> Checker:
            best: float | None = None
            best_step: int | None = None
            streak = 0

            def check(point: MetricPoint) -> StopDecision | None:
                nonlocal best, best_step, streak
                why = self._why(point.value, best)
                if improved(point.value, best, self.mode, 0.0):
                    best, best_step = point.value, point.step
                if why is None:
                    streak = 0
                    return None
                streak += 1
                if streak < self.patience:
                    return None
                if self.patience > 1:
                    why += f", {streak} checks in a row"
                return StopDecision(
                    rule="divergence",
                    reason=why,
                    step=point.step,
                    value=point.value,
                    best=best,
                    best_step=best_step,
                    monitor=self.monitor,
                )

            return check

        return monitored(source, self.monitor, make, self)
