"""``cost_budget(price_per_hour, max_cost)``: stop before the bill passes a limit."""

from __future__ import annotations

from dataclasses import dataclass

from reactivex import Observable, abc

from arkor_rx.operators._common import check_positive
from arkor_rx.operators._rule import Rule, fmt
from arkor_rx.operators._timed import timed_rule
from arkor_rx.stopping import StopDecision

__all__ = ["CostBudget"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CostBudget(Rule):
    """Stop when ``elapsed hours * price_per_hour`` reaches ``max_cost``, on a timer.

    The price is yours to give (arkor_rx knows no prices); cost counts from
    subscription, in whatever currency the price is in. ``scheduler`` works as
    for ``time_budget``.
    """

    price_per_hour: float
    max_cost: float
    scheduler: abc.SchedulerBase | None = None

    def __post_init__(self) -> None:
        check_positive("price_per_hour", self.price_per_hour)
        check_positive("max_cost", self.max_cost)

    @property
    def seconds(self) -> float:
        """How long the budget lasts."""
        return self.max_cost / self.price_per_hour * 3600.0

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        price, limit = self.price_per_hour, self.max_cost

        def decide(elapsed: float, step: int | None) -> StopDecision:
            spent = elapsed / 3600.0 * price
            return StopDecision(
                rule="budget.cost",
                reason=(
                    f"cost {fmt(spent)} reached the budget of {fmt(limit)} "
                    f"({fmt(elapsed)} s at {fmt(price)} per hour)"
                ),
                step=step,
                value=spent,
                monitor="cost",
            )

        return timed_rule(source, self.seconds, self.scheduler, decide)
