"""``stop_when(*rules)``: pass events through; end with the StopDecision when a rule fires."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar, cast

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SingleAssignmentDisposable
from reactivex.subject import Subject

from arkor_rx._latch import FirstOutcome
from arkor_rx.operators._early_stopping import early_stopping
from arkor_rx.stopping import StopDecision, StopRule

__all__ = ["stop_when"]

_T = TypeVar("_T")


def stop_when(
    *rules: StopRule | Sequence[StopRule],
    combine: Literal["any", "all"] = "any",
) -> Callable[[Observable[_T]], Observable[_T | StopDecision]]:
    """Forward every event; when the rules fire, emit the decision as the last item and complete.

    Each event reaches the subscriber before the rules see it, so the event
    that made a rule fire is emitted just before the decision. The output
    completes when the source completes and the rules are done (an async
    checkpoint scorer still running is waited for), or right after a decision.
    An error from the source or from a rule is passed on.
    """
    rule = early_stopping(*rules, combine=combine)

    def operator(source: Observable[_T]) -> Observable[_T | StopDecision]:
        def subscribe(
            observer: abc.ObserverBase[_T | StopDecision],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            return _Watch(observer).follow(source, rule, scheduler)

        return Observable(subscribe)

    return operator


class _Watch(Generic[_T]):
    """One subscription of ``stop_when``: events go to the subscriber, then to the rules."""

    def __init__(self, observer: abc.ObserverBase[_T | StopDecision]) -> None:
        self._observer = observer
        self._latch: FirstOutcome[StopDecision] = FirstOutcome()
        self._feed: Subject[_T] = Subject()
        self._upstream = SingleAssignmentDisposable()
        self._watcher = SingleAssignmentDisposable()
        self._source_done = False
        self._rules_done = False

    def follow(
        self,
        source: Observable[_T],
        rule: Callable[[Observable[Any]], Observable[StopDecision]],
        scheduler: abc.SchedulerBase | None,
    ) -> abc.DisposableBase:
        """Subscribe the rules to the fed events, then to ``source``; the disposable of both."""
        self._watcher.disposable = rule(cast(Observable[Any], self._feed)).subscribe(
            self._on_decision, self._on_error, self._on_rules_completed, scheduler=scheduler
        )
        self._upstream.disposable = source.subscribe(
            self._on_next, self._on_error, self._on_completed, scheduler=scheduler
        )
        return CompositeDisposable(self._upstream, self._watcher)

    def _on_decision(self, decision: StopDecision) -> None:
        if self._latch.set_value(decision):
            self._observer.on_next(decision)
            self._observer.on_completed()
            self._upstream.dispose()
            self._watcher.dispose()

    def _on_error(self, exc: Exception) -> None:
        if self._latch.set_error(exc):
            self._observer.on_error(exc)
            self._upstream.dispose()
            self._watcher.dispose()

    def _on_rules_completed(self) -> None:
        self._rules_done = True
        if self._source_done and self._latch.end():
            self._observer.on_completed()

    def _on_next(self, event: _T) -> None:
        if self._latch.done:
            return
        self._observer.on_next(event)
        self._feed.on_next(event)

    def _on_completed(self) -> None:
        self._source_done = True
        self._feed.on_completed()
        if self._rules_done and self._latch.end():
            self._observer.on_completed()
