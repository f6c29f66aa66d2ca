"""``time_budget(seconds)``: stop after a wall-clock budget."""

from __future__ import annotations

from dataclasses import dataclass

from reactivex import Observable, abc

from arkor_rx.operators._common import check_positive
from arkor_rx.operators._rule import Rule, fmt
from arkor_rx.operators._timed import timed_rule
from arkor_rx.stopping import StopDecision

__all__ = ["TimeBudget"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeBudget(Rule):
    """Stop ``seconds`` after the rule is subscribed, on a timer (no event needed).

    ``scheduler`` runs the timer; by default the scheduler passed to
    ``subscribe``, else reactivex's thread-based timeout scheduler. In asyncio
    code subscribe with ``AsyncIOScheduler(loop)`` (the Trainer does).
    """

    seconds: float
    scheduler: abc.SchedulerBase | None = None

    def __post_init__(self) -> None:
        check_positive("seconds", self.seconds)

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        limit = self.seconds

        def decide(elapsed: float, step: int | None) -> StopDecision:
            return StopDecision(
                rule="budget.time",
                reason=f"{fmt(elapsed)} s elapsed, the budget is {fmt(limit)} s",
                step=step,
                value=elapsed,
                monitor="seconds",
            )

        return timed_rule(source, limit, self.scheduler, decide)
