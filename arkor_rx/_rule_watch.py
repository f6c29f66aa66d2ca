"""``RuleWatch``: the stop rules of one ``Trainer.wait()``, deciding through one latch.

Rule 1: every handled event is fed to the rules (after its callback ran);
the first decision or rule error settles a
[`FirstOutcome`][arkor_rx._latch.FirstOutcome], the same latch
``aop.stop_when`` uses. What comes later, and anything after the run ended
on its own (:meth:`RuleWatch.end`), is moot.

Rule 2: a rule that decides while no event is being fed (say, once an async
evaluation finished) must stop a loop that may be waiting on the network: the
latch then cancels the task bound with :meth:`RuleWatch.interrupts`. A rule
that decides while an event is fed is seen by the feeder right away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx._latch import FirstOutcome
from arkor_rx.events import TrainingEvent
from arkor_rx.stopping import StopDecision, StopRule

__all__ = ["RuleWatch"]


class RuleWatch:
    """The rules watching one run: :meth:`feed` events, read the :attr:`latch`.

    Subscribes the rules on construction (on ``loop``); a rule may decide at
    once. :meth:`close` unsubscribes them.
    """

    __slots__ = ("_runner", "_subject", "_subscriptions", "latch")

    def __init__(self, rules: Sequence[StopRule], loop: asyncio.AbstractEventLoop) -> None:
        self.latch: FirstOutcome[StopDecision] = FirstOutcome()
        """The first decision or rule error; ended with neither when the run ends first."""
        self._runner: asyncio.Task[object] | None = None
        self._subject: Subject[TrainingEvent] | None = Subject() if rules else None
        self._subscriptions: list[abc.DisposableBase] = []
        if self._subject is not None:
            scheduler = AsyncIOScheduler(loop)
            for rule in rules:
                self._subscriptions.append(
                    rule(self._subject).subscribe(self._decide, self._fail, scheduler=scheduler)
                )

    def interrupts(self, runner: asyncio.Task[object]) -> None:
        """Cancel ``runner`` when a rule settles the latch from outside it."""
        self._runner = runner

    def feed(self, event: TrainingEvent) -> bool:
        """Show ``event`` to the rules; True once the latch is settled (stop now)."""
        if self._subject is not None:
            self._subject.on_next(event)
        return self.latch.done

    def end(self) -> None:
        """The run ended on its own: later decisions are moot; the rules see the end."""
        if self.latch.end() and self._subject is not None:
            self._subject.on_completed()

    def close(self) -> None:
        """Unsubscribe the rules."""
        for subscription in self._subscriptions:
            subscription.dispose()

    def _decide(self, decision: StopDecision) -> None:
        if self.latch.set_value(decision):
            self._interrupt()

    def _fail(self, error: Exception) -> None:
        if self.latch.set_error(error):
            self._interrupt()

    def _interrupt(self) -> None:
        runner = self._runner
        if runner is not None and asyncio.current_task() is not runner:
            runner.cancel()
