"""``predicate(fn)``: stop when a user function says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactivex import Observable

from arkor_rx.errors import ConfigError
from arkor_rx.operators._common import stateful
from arkor_rx.operators._rule import Rule, one_decision
from arkor_rx.stopping import StopDecision

__all__ = ["Predicate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Predicate(Rule):
    """Stop at the first event for which ``fn(event)`` is truthy.

    When ``fn`` returns a non-empty string it becomes the decision's reason.
    A ``fn`` that raises ends the rule's stream with that error.
    """

    fn: Callable[[Any], object]
    name: str = "predicate"

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ConfigError(f"fn must be callable, got {self.fn!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a non-empty string, got {self.name!r}")

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        fn, name = self.fn, self.name

        def make() -> Callable[[object], StopDecision | None]:
            def check(event: object) -> StopDecision | None:
                verdict = fn(event)
                if not verdict:
                    return None
                step = getattr(event, "step", None)
                step = step if isinstance(step, int) else None
                at = f" at step {step}" if step is not None else ""
                reason = verdict if isinstance(verdict, str) else f"{name} fired{at}"
                return StopDecision(rule=name, reason=reason, step=step)

            return check

        return source.pipe(stateful(make), one_decision())
