"""What a sweep does with each handled event of its runs, and with its pruner's verdicts.

Rule 1: every handled event of a run (seen through the run's callbacks, see
[`RunLink`][arkor_rx._sweep_runs.RunLink]) is, in this order: tracked on its
slot, shown on ``progress()``, put on the pruner's merged stream (while a
``wait()`` runs), and shown to the run source (an Optuna study reports it
and may prune). A verdict, the pruner's or the source's, stops the run it
names once; a pruner's verdict that stops a run is shown too.

Rule 2: a live view that breaks must not stop the runs it shows: an error
of a ``progress()`` observer is logged and the runs go on.
"""

from __future__ import annotations

import logging

from reactivex.subject import Subject

from arkor_rx._mode import Mode
from arkor_rx._sweep_runs import Slot
from arkor_rx._sweep_sources import RunSource
from arkor_rx.events import TrainingEvent
from arkor_rx.runs import PruneDecision, RunEvent

__all__ = ["SweepFeed"]

logger = logging.getLogger("arkor_rx.sweep")


class SweepFeed:
    """The sweep's side of its runs' events: `see` each one, `decide` each verdict."""

    def __init__(self, name: str, monitor: str | None, mode: Mode) -> None:
        self._name = name
        self._monitor = monitor
        self._mode: Mode = mode
        self.source: RunSource | None = None
        """The sweep's run source (set once it is made)."""
        self.bus: Subject[RunEvent] | None = None
        """The pruner's merged stream, while a ``wait()`` runs."""
        self.progress: Subject[RunEvent | PruneDecision] = Subject()
        """What ``Sweep.progress()`` returns."""

    def see(self, slot: Slot, event: TrainingEvent) -> None:
        """A handled event of a run (Rule 1)."""
        slot.track.see(event, self._monitor, self._mode)
        item = RunEvent(slot.run, event)
        self.show(item)
        if self.bus is not None:
            self.bus.on_next(item)  # the pruner may name a run: see decide()
        decision = None if self.source is None else self.source.seen(slot, event)
        if decision is not None and slot.link is not None:
            slot.link.stop(decision)

    def decide(self, decision: PruneDecision) -> None:
        """The pruner named a run: it becomes that run's verdict, shown once."""
        for slot in () if self.source is None else self.source.known():
            if slot.base.index == decision.run.index and slot.link is not None:
                if slot.link.stop(decision.decision):
                    self.show(decision)
                return

    def show(self, item: RunEvent | PruneDecision) -> None:
        """Emit on ``progress()`` (Rule 2)."""
        try:
            self.progress.on_next(item)
        except Exception:
            logger.exception("sweep %s: a progress() observer raised", self._name)
