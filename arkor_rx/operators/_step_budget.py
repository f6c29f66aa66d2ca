"""``step_budget(max_steps)``: stop once the run reaches a step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reactivex import Observable

from arkor_rx.operators._common import check_int, stateful
from arkor_rx.operators._rule import Rule, one_decision
from arkor_rx.stopping import StopDecision

__all__ = ["StepBudget"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepBudget(Rule):
    """Stop at the first event whose ``step`` is ``>= max_steps`` (logs, checkpoints, ...)."""

    max_steps: int

    def __post_init__(self) -> None:
        check_int("max_steps", self.max_steps, 1)

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        limit = self.max_steps

        def make() -> Callable[[object], StopDecision | None]:
            def check(event: object) -> StopDecision | None:
                step = getattr(event, "step", None)
                if not isinstance(step, int) or step < limit:
                    return None
                return StopDecision(
                    rule="budget.steps",
                    reason=f"step {step} reached the budget of {limit} steps",
                    step=step,
                    value=float(step),
                    monitor="step",
                )

            return check

        return source.pipe(stateful(make), one_decision())
