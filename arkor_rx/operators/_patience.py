"""``patience(...)``: stop when the monitored metric stops improving."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from reactivex import Observable

from arkor_rx.operators._common import (
    MetricPoint,
    Mode,
    check_finite,
    check_int,
    check_mode,
    check_positive,
)
from arkor_rx.operators._rule import Checker, Gated, fmt, improved, monitored
from arkor_rx.stopping import StopDecision

__all__ = ["Patience", "PatienceTracker", "check_patience"]


class _PatienceSettings(Protocol):
    @property
    def mode(self) -> Mode: ...
    @property
    def patience(self) -> int: ...
    @property
    def min_delta(self) -> float: ...
    @property
    def baseline(self) -> float | None: ...


def check_patience(rule: _PatienceSettings) -> None:
    """Check the settings ``patience()`` and ``checkpoint_eval()`` share.

    Raises:
        ConfigError (a ValueError): a negative ``patience`` or ``min_delta``, a
            ``mode`` that is not ``"min"`` or ``"max"``, or a ``baseline`` that
            is not a finite number.
    """
    check_int("patience", rule.patience, 0)
    check_positive("min_delta", rule.min_delta, allow_zero=True)
    check_mode(rule.mode)
    if rule.baseline is not None:
        check_finite("baseline", rule.baseline)


class PatienceTracker:
    """The bookkeeping of patience: best value, its step, and checks without improvement.

    Shared by `Patience` and the checkpoint-evaluation rule.
    """

    __slots__ = ("baseline", "best", "best_step", "min_delta", "mode", "patience", "wait")

    def __init__(self, *, mode: Mode, patience: int, min_delta: float, baseline: float | None):
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.baseline = baseline
        self.best: float | None = baseline
        self.best_step: int | None = None
        self.wait = 0

    def update(self, step: int, value: float) -> bool:
        """Record one checked value; True when patience has run out."""
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_step, self.wait = value, step, 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    @classmethod
    def of(cls, rule: _PatienceSettings) -> PatienceTracker:
        """A fresh tracker with ``rule``'s settings (one per subscription)."""
        return cls(
            mode=rule.mode, patience=rule.patience, min_delta=rule.min_delta, baseline=rule.baseline
        )

    def check(
        self, point: MetricPoint, *, rule: str, monitor: str, what: str
    ) -> StopDecision | None:
        """Record ``point``; the decision (``rule``, about ``what``) once patience runs out."""
        if not self.update(point.step, point.value):
            return None
        return StopDecision(
            rule=rule,
            reason=self.reason(what),
            step=point.step,
            value=point.value,
            best=self.best,
            best_step=self.best_step,
            monitor=monitor,
        )

    def reason(self, monitor: str) -> str:
        """Why patience ran out, for a human."""
        if self.best_step is None and self.baseline is not None:
            seen = f"never beat the baseline {fmt(self.baseline)}"
        else:
            seen = f"best {fmt(self.best)} at step {self.best_step}"
        delta = f" by more than {fmt(self.min_delta)}" if self.min_delta else ""
        return (
            f"{monitor} did not improve{delta} for {self.wait} "
            f"check{'s' if self.wait != 1 else ''} ({seen})"
        )


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Patience(Gated):
    """Stop when ``monitor`` has not improved for ``patience`` checks in a row.

    A check improves when its value beats the best so far by more than
    ``min_delta`` (lower is better with ``mode="min"``, higher with ``"max"``).
    With a ``baseline`` the best starts there, so the run must beat it.
    NaN and infinities never improve.
    """

    monitor: str = "eval_loss"
    patience: int = 3
    min_delta: float = 0.0
    mode: Mode = "min"
    baseline: float | None = None

    def _check(self) -> None:
        check_patience(self)

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        def make() -> Checker:
            tracker = PatienceTracker.of(self)

            def check(point: MetricPoint) -> StopDecision | None:
                return tracker.check(
                    point, rule="patience", monitor=self.monitor, what=self.monitor
                )

            return check

        return monitored(source, self.monitor, make, self)
