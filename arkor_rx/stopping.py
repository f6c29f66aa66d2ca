"""Stop decisions and stop rules: the core types of early stopping.

Rule 1: a rule decides and the Trainer acts. A stop rule is a function from
an Observable of events to an Observable of at most one
[`StopDecision`][arkor_rx.operators.StopDecision];
the Trainer (or a sweep) cancels the job on the backend, once.

These types live here, outside the operators, because the Trainer, the live
views and the sinks all use them; ``arkor_rx.operators`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import reactivex

from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent

__all__ = ["StopDecision", "StopRule", "flatten_rules"]


@dataclass(frozen=True, slots=True)
class StopDecision:
    """Why a run should stop early. A value, not an exception.

    Emitted by the early-stopping operators; the Trainer acts on it by
    closing the stream and cancelling the job on the backend exactly once.
    """

    rule: str
    """Which rule fired, e.g. ``"patience"``, ``"divergence"``, ``"budget.steps"``."""
    reason: str
    """A sentence for humans: what was seen and which limit it crossed."""
    step: int | None = None
    """The step of the event that made the rule fire."""
    value: float | None = None
    """The monitored value at that step (may be ``nan``)."""
    best: float | None = None
    """The best monitored value seen so far, when the rule tracks one."""
    best_step: int | None = None
    """The step the best value was seen at."""
    monitor: str | None = None
    """The monitored metric (``"loss"``, ``"eval_loss"``, a scorer name ...)."""


StopRule: TypeAlias = Callable[
    [reactivex.Observable[TrainingEvent]], reactivex.Observable[StopDecision]
]
"""A stop rule: turns a stream of events into (at most one) decision, then completes."""


def flatten_rules(
    rules: StopRule | Sequence[StopRule | Sequence[StopRule]] | None, *, where: str = ""
) -> tuple[StopRule, ...]:
    """The rules as a flat tuple: one rule, or rules and lists/tuples of rules (one level).

    The one flattener of the Trainer's ``early_stopping=`` and the combinators
    (``any_of``, ``all_of``, ``early_stopping``).

    Examples:
        >>> def a(events): return events
        >>> def b(events): return events
        >>> flatten_rules([a, [b]]) == (a, b), flatten_rules(a) == (a,), flatten_rules(None)
        (True, True, ())

    Args:
        rules: None (no rules), one rule, or a sequence of rules and sequences of rules.
        where: what the error message names, e.g. ``"early_stopping"``.

    Raises:
        ConfigError: an item that is not callable.
    """
    if rules is None:
        return ()
    items = [rules] if callable(rules) else list(rules)
    flat: list[StopRule] = []
    for item in items:
        if not callable(item) and isinstance(item, Sequence) and not isinstance(item, str):
            flat.extend(item)
        else:
            flat.append(item)
    for rule in flat:
        if not callable(rule):
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}a stop rule must be callable, got {rule!r}")
    return tuple(flat)
