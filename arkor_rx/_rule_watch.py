"""``RuleWatch``: the stop rules of one ``Trainer.wait()``, deciding through one latch.

Rule 1: every handled event is fed to the rules (after its callback ran);
the first decision or rule error settles a
[`FirstOutcome`][arkor_rx._latch.FirstOutcome], the same latch
``aop.stop_when`` uses. What comes later, and anything after the run ended
on its own ([`RuleWatch.end`][arkor_rx._rule_watch.RuleWatch.end]), is moot.

Rule 2: a rule that decides while no event is being fed (say, once an async
evaluation finished) must stop a loop that may be waiting on the network: it
then cancels the loop [`RuleWatch.run`][arkor_rx._rule_watch.RuleWatch.run] runs, and ``run()``
returns
quietly. A rule that decides while an event is fed is seen by the feeder
right away (``feed()`` returns True). A rule that decides on another thread
interrupts the loop from the loop's own thread. Cancelling the task that
awaits ``run()`` still raises ``CancelledError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx._latch import FirstOutcome
from arkor_rx.events import TrainingEvent
from arkor_rx.stopping import StopDecision, StopRule

__all__ = ["RuleWatch"]


class RuleWatch:
    """The rules watching one run: `feed` events, read the `latch`.

    Subscribes the rules on construction (on ``loop``); a rule may decide at
    once. `close` unsubscribes them.
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

    async def run(self, loop: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Run ``loop()`` as a task the rules can interrupt (Rule 2), then `end`.

        Not even started when a rule decided on subscribe.
        """
        if not self.latch.done:
            runner = asyncio.get_running_loop().create_task(loop())
            self._runner = runner
            try:
                await runner
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not self.latch.done or (task is not None and task.cancelling()):
                    raise  # our caller was cancelled, not the loop by a rule
        self.end()  # decisions after the run ended on its own are moot

    def feed(self, event: TrainingEvent) -> bool:
        """Show ``event`` to the rules; True once the latch is settled (stop now)."""
        if self._subject is not None:
            self._subject.on_next(event)
        return self.latch.done

    def consume(self, event: TrainingEvent) -> None:
        """`feed` as a consumer of the Trainer's handled events (see `decided`)."""
        if self._subject is not None:
            self._subject.on_next(event)

    def decided(self, _event: object = None) -> bool:
        """True once the latch is settled: the loop stops after this event."""
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
        if runner is None:
            return
        loop = runner.get_loop()
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is not loop:  # a rule decided on another thread: cancel from the loop's own
            loop.call_soon_threadsafe(self._cancel_runner, runner)
        elif asyncio.current_task() is not runner:
            runner.cancel()

    def _cancel_runner(self, runner: asyncio.Task[object]) -> None:
        if not runner.done():
            runner.cancel()
