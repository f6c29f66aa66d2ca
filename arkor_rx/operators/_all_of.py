"""``all_of(*rules)``: stop once every one of several rules has fired."""

from __future__ import annotations

from dataclasses import dataclass, replace

from reactivex import Observable
from reactivex import operators as ops

from arkor_rx.events import TrainingEvent
from arkor_rx.operators._any_of import check_rules, merge_now
from arkor_rx.operators._rule import Rule
from arkor_rx.stopping import StopDecision, StopRule

__all__ = ["AllOf"]


def _merge(decisions: list[StopDecision]) -> StopDecision:
    last = decisions[-1]
    return replace(
        last,
        rule="all_of(" + ", ".join(d.rule for d in decisions) + ")",
        reason="; ".join(d.reason for d in decisions),
    )


@dataclass(frozen=True, slots=True)
class AllOf(Rule):
    """One decision once *every* rule has fired at least once.

    Rules fire at most once, so each one latches: ``all_of(patience(...),
    step_budget(500))`` stops at the first moment both have fired, say the
    patience ran out at step 300 and the budget is hit at 500: it stops at 500.
    The decision is the last one to fire, with ``rule`` set to
    ``"all_of(<names in firing order>)"`` and the reasons joined with ``"; "``.
    """

    rules: tuple[StopRule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", check_rules(self.rules))

    def __call__(self, source: Observable[TrainingEvent]) -> Observable[StopDecision]:
        rules = self.rules
        need = len(rules)

        def watch(shared: Observable[TrainingEvent]) -> Observable[StopDecision]:
            fired = merge_now([rule(shared).pipe(ops.take(1)) for rule in rules])

            def complete(got: list[StopDecision]) -> bool:
                return len(got) == need

            return fired.pipe(
                ops.buffer_with_count(need),
                ops.filter(complete),
                ops.map(_merge),
                ops.take(1),
            )

        return source.pipe(ops.publish(watch))
