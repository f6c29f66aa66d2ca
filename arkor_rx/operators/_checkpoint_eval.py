"""``checkpoint_eval(scorer)``: async-score each checkpoint; patience on the scores."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops

from arkor_rx.errors import ConfigError
from arkor_rx.events import CheckpointSaved
from arkor_rx.operators._common import MetricPoint, Mode, check_int, stateful
from arkor_rx.operators._of_type import checkpoints
from arkor_rx.operators._patience import PatienceTracker, check_patience
from arkor_rx.operators._rule import Rule, one_decision
from arkor_rx.stopping import StopDecision

__all__ = ["CheckpointEval", "Scorer"]

Scorer = Callable[[CheckpointSaved], Awaitable[float]]
"""An async function that scores one checkpoint (usually by calling ``infer``)."""


def _as_score(value: Any, step: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"the checkpoint scorer returned {value!r} for step {step}, not a number")
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointEval(Rule):
    """Score every checkpoint with ``await scorer(event)`` and apply patience to the scores.

    Scorers run one at a time, in checkpoint order, on the running asyncio
    loop; the stream is never blocked while one runs. A scorer that raises (or
    returns something that is not a number) ends the rule's stream with that
    error. When another rule stops the run first, a pending scorer is cancelled.
    The patience logic is the one of ``patience()``: ``patience`` checkpoints
    without beating the best score by more than ``min_delta`` stop the run.
    """

    scorer: Scorer
    patience: int = 3
    mode: Mode = "max"
    min_delta: float = 0.0
    baseline: float | None = None
    warmup_steps: int = 0
    name: str = "checkpoint_eval"

    def __post_init__(self) -> None:
        if not callable(self.scorer):
            raise ConfigError(f"scorer must be an async callable, got {self.scorer!r}")
        check_patience(self)
        check_int("warmup_steps", self.warmup_steps, 0)
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a non-empty string, got {self.name!r}")

    def _score(self, event: CheckpointSaved) -> Observable[MetricPoint]:
        def start(_: abc.SchedulerBase) -> Observable[MetricPoint]:
            # Created only when concat_map reaches this checkpoint, so at most
            # one scorer runs at a time and none starts after the rule stopped.
            future = asyncio.ensure_future(self.scorer(event))
            return reactivex.from_future(future).pipe(
                ops.map(lambda value: MetricPoint(event.step, _as_score(value, event.step)))
            )

        return reactivex.defer(start)

    def __call__(self, source: Observable[object]) -> Observable[StopDecision]:
        warmup = self.warmup_steps

        def make() -> Callable[[MetricPoint], StopDecision | None]:
            tracker = PatienceTracker.of(self)

            def check(point: MetricPoint) -> StopDecision | None:
                return tracker.check(
                    point, rule=self.name, monitor=self.name, what=f"{self.name} score"
                )

            return check

        def after_warmup(event: CheckpointSaved) -> bool:
            return event.step >= warmup

        return source.pipe(
            checkpoints(),
            ops.filter(after_warmup),
            ops.concat_map(self._score),
            stateful(make),
            one_decision(),
        )
