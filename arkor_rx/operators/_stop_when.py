"""``stop_when(*rules)``: pass events through; end with the StopDecision when a rule fires."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, cast

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
            latch: FirstOutcome[StopDecision] = FirstOutcome()
            feed: Subject[_T] = Subject()
            upstream = SingleAssignmentDisposable()
            watcher = SingleAssignmentDisposable()
            source_done = False
            rules_done = False

            def on_decision(decision: StopDecision) -> None:
                if latch.set_value(decision):
                    observer.on_next(decision)
                    observer.on_completed()
                    upstream.dispose()
                    watcher.dispose()

            def on_error(exc: Exception) -> None:
                if latch.set_error(exc):
                    observer.on_error(exc)
                    upstream.dispose()
                    watcher.dispose()

            def on_rules_completed() -> None:
                nonlocal rules_done
                rules_done = True
                if source_done and latch.end():
                    observer.on_completed()

            def on_next(event: _T) -> None:
                if latch.done:
                    return
                observer.on_next(event)
                feed.on_next(event)

            def on_completed() -> None:
                nonlocal source_done
                source_done = True
                feed.on_completed()
                if rules_done and latch.end():
                    observer.on_completed()

            watcher.disposable = rule(cast(Observable[Any], feed)).subscribe(
                on_decision, on_error, on_rules_completed, scheduler=scheduler
            )
            upstream.disposable = source.subscribe(
                on_next, on_error, on_completed, scheduler=scheduler
            )
            return CompositeDisposable(upstream, watcher)

        return Observable(subscribe)

    return operator
