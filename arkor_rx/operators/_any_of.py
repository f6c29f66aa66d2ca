"""``any_of(*rules)``: stop when the first of several rules fires."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler import ImmediateScheduler

from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent
from arkor_rx.operators._rule import Rule
from arkor_rx.stopping import StopDecision, StopRule, flatten_rules

__all__ = ["AnyOf", "check_rules", "merge_now"]

_T = TypeVar("_T")


def merge_now(sources: Sequence[Observable[_T]]) -> Observable[_T]:
    """Merge ``sources``, subscribing to all of them at once, in order.

    ``reactivex.merge`` subscribes through the current-thread trampoline, so
    when combinators nest, an inner rule could be subscribed only after a
    synchronous source (a recorded run) has already emitted everything.
    """
    return reactivex.from_iterable(sources, scheduler=ImmediateScheduler.singleton()).pipe(
        ops.merge_all()
    )


def check_rules(rules: Sequence[StopRule]) -> tuple[StopRule, ...]:
    """Flatten one level of lists/tuples and check each rule is callable; at least one."""
    flat = flatten_rules(rules)
    if not flat:
        raise ConfigError("give at least one stop rule")
    return flat


@dataclass(frozen=True, slots=True)
class AnyOf(Rule):
    """The first decision of any of ``rules``; the others are then unsubscribed.

    The rules share one subscription to the source (it is multicast), so a
    cold source such as ``trainer.events()`` is opened once.
    """

    rules: tuple[StopRule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", check_rules(self.rules))

    def __call__(self, source: Observable[TrainingEvent]) -> Observable[StopDecision]:
        rules = self.rules

        def watch(shared: Observable[TrainingEvent]) -> Observable[StopDecision]:
            return merge_now([rule(shared) for rule in rules]).pipe(ops.take(1))

        return source.pipe(ops.publish(watch))
