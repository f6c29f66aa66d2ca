"""The web dashboard's state: the views' reducer, each run's points, and a journal of changes.

Rule 1: one source for what a run's state is. Actions go through an Rx
pipeline (a ``Subject`` of keyed actions, mapped by
[`reduce_view`][arkor_rx.dashboard.reduce_view], the reducer of the terminal
and notebook views) into [`Change`][arkor_rx.dashboard.web.Change]
values: the row keys that changed, the new point, the new log line.

Rule 2: every change gets the next sequence number and goes into a bounded
journal. A page that resumes after ``seq`` is sent the changes after it; one
that resumes from before the journal's start is told to reload (a ``reset``),
never silently given a gap.

Rule 3: every action is scrubbed on its way in (``push``): the secrets given
(the backend's bearer token) and every URL's credentials are masked before
anything holds them (`arkor_rx.dashboard.web._redact`).

Rule 4: a run's points live in columnar arrays (``array('d')``), not in the
reducer's state: the views' template keeps its curves minimal here, so 1,000
runs of 2,000 points cost tens of megabytes. Past ``series_limit`` points a
run is thinned to every other point, as the views' own curve is.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from reactivex import operators as ops
from reactivex.subject import Subject

from arkor_rx.dashboard._actions import RunOpened
from arkor_rx.dashboard._runs import ViewAction, ViewState, reduce_view
from arkor_rx.dashboard._state import DashboardState
from arkor_rx.dashboard.web import _wire
from arkor_rx.dashboard.web._redact import Scrub
from arkor_rx.events import EVENT_CLASSES, TrainingLog
from arkor_rx.runs import PruneDecision, RunEvent

__all__ = ["JOURNAL_LIMIT", "LOG_LIMIT", "SERIES_LIMIT", "Change", "Series", "WebFeed"]

JOURNAL_LIMIT = 50_000
"""Changes kept for pages that resume (older ones: the page reloads)."""

SERIES_LIMIT = 20_000
"""Points a run keeps before it is thinned to every other point."""

LOG_LIMIT = 500
"""Event-log lines a run keeps (the latest)."""

_NAN = float("nan")


@dataclass(slots=True)
class Change:
    """What one action changed for one run."""

    seq: int
    key: str
    row: dict[str, Any]
    """The row's changed keys (all of them for a new run), less what ``point`` implies."""
    new: bool = False
    """The run was first seen here."""
    point: _wire.Point | None = None
    log: list[Any] | None = None
    checkpoints: list[list[Any]] | None = None
    """All the run's checkpoint samples, when they changed."""


def _column(value: float | None) -> float:
    return _NAN if value is None else float(value)


@dataclass(slots=True)
class Series:
    """One run's chart data as columns (``nan`` where a value is missing)."""

    step: array[float] = field(default_factory=lambda: array("d"))
    loss: array[float] = field(default_factory=lambda: array("d"))
    eval_loss: array[float] = field(default_factory=lambda: array("d"))
    learning_rate: array[float] = field(default_factory=lambda: array("d"))
    seq: int = 0
    """The sequence number of the last point."""

    def append(self, pt: _wire.Point, limit: int) -> None:
        """Add a point; thin the run to every other point past ``limit``."""
        self.seq, step, loss, eval_loss, lr = pt
        columns = (self.step, self.loss, self.eval_loss, self.learning_rate)
        for col, value in zip(columns, (step, loss, eval_loss, lr), strict=True):
            col.append(_column(value))
        if len(self.step) > limit:
            keep_last = len(self.step) % 2 == 0  # an odd last index would be dropped
            for col in columns:
                last = col[-1]
                del col[1::2]
                if keep_last:
                    col.append(last)

    def to_json(self) -> dict[str, list[float | None]]:
        """The columns with ``null`` for missing values (the ``/api/runs/{id}`` series)."""
        return {
            name: [None if v != v else v for v in col]
            for name, col in (
                ("step", self.step),
                ("loss", self.loss),
                ("evalLoss", self.eval_loss),
                ("learningRate", self.learning_rate),
            )
        }


@dataclass(slots=True)
class _Extra:
    job: dict[str, Any] | None = None
    log: deque[list[Any]] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))
    series: Series = field(default_factory=Series)


WEB_TEMPLATE = DashboardState(history_limit=1, curve_limit=2, eval_limit=2)
"""Each run's start state: the reducer's own curves are not what the page draws."""


class WebFeed:
    """The runs a web dashboard shows, and the journal of their changes.

    Feed it with [`push`][arkor_rx.dashboard.web.WebFeed.push]; pages read
    [`snapshot`][arkor_rx.dashboard.web.WebFeed.snapshot],
    [`detail`][arkor_rx.dashboard.web.WebFeed.detail] and
    [`since`][arkor_rx.dashboard.web.WebFeed.since], and await
    [`wait_after`][arkor_rx.dashboard.web.WebFeed.wait_after].

    Args:
        clock: the time source for start times and ETAs.
        series_limit: points a run keeps before thinning.
        journal_limit: changes kept for resuming pages.
        scrub: what masks the secrets in every action (default: URL credentials only).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        series_limit: int = SERIES_LIMIT,
        journal_limit: int = JOURNAL_LIMIT,
        scrub: Scrub | None = None,
    ) -> None:
        self.scrub = Scrub() if scrub is None else scrub
        self._states: dict[str, DashboardState] = {}
        self._order: list[str] = []
        self._clock = clock
        self._series_limit = series_limit
        self._journal: deque[Change] = deque(maxlen=journal_limit)
        self._seq = 0
        self._rows: dict[str, dict[str, Any]] = {}
        self._extra: dict[str, _Extra] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self.closed = False
        """True once ``forget()`` ran (shutdown):
        pages' streams end. Set back to False when the dashboard serves again."""
        self._actions: Subject[tuple[str, ViewAction]] = Subject()
        self._actions.pipe(ops.map(self._reduce)).subscribe(self._record)

    # ------------------------------------------------------------------ input

    def push(self, action: ViewAction, key: str | None = None) -> None:
        """Apply an action to the run ``key`` (default: the action's job id; none: ignored).

        The action is scrubbed first (Rule 3): this is the one way in.
        """
        action = self.scrub.action(action)
        if key is not None:
            key = self.scrub.text(key)
        else:
            if isinstance(action, RunEvent | PruneDecision):
                key = action.run.job_id
            elif isinstance(action, RunOpened):
                key = action.job.id
            else:
                key = getattr(action, "job_id", None)
        if key:
            self._actions.on_next((key, action))

    def _reduce(self, keyed: tuple[str, ViewAction]) -> Change | None:
        key, action = keyed
        before = self._states.get(key)
        # The views' reducer on a view of this one run: the cost of an event does not
        # grow with the number of runs followed (reduce_view copies its map of runs).
        one = ViewState(
            runs={} if before is None else {key: before},
            order=() if before is None else (key,),
            template=WEB_TEMPLATE,
        )
        state = reduce_view(one, action, now=self._clock(), key=key).runs[key]
        self._states[key] = state
        shown = key in self._rows  # a run started over (``restart``) keeps its place
        if not shown:
            self._order.append(key)
        extra = self._extra.get(key)
        if extra is None:
            extra = self._extra[key] = _Extra()
        seq = self._seq + 1
        event = action.event if isinstance(action, RunEvent) else action
        applied = state.events_seen != (0 if before is None else before.events_seen)
        pt = None
        if applied and isinstance(event, TrainingLog):
            pt = _wire.point(seq, event)
            extra.series.append(pt, self._series_limit)
        if isinstance(action, RunOpened):
            extra.job = action.job.model_dump(by_alias=True, mode="json")
        line = None
        if applied and isinstance(event, EVENT_CLASSES):
            line = _wire.log_line(seq, event)
        if state.stop is not None and (before is None or before.stop is None):
            line = [seq, "stop", state.stop.step, state.stop.reason]
        if line is not None:
            extra.log.append(line)
        new_row = _wire.row(key, state)
        changed = _wire.diff(self._rows.get(key), new_row)
        if before is not None:
            changed = _wire.trim_diff(changed, pt)
        self._rows[key] = new_row
        marks = None
        if before is None or state.checkpoints is not before.checkpoints:
            marks = _wire.checkpoints(state) if state.checkpoints else None
        if not changed and pt is None and line is None and marks is None:
            return None
        self._seq = seq
        return Change(seq, key, changed, not shown, pt, line, marks)

    def _record(self, change: Change | None) -> None:
        if change is None:  # nothing a page shows changed (a repeated event ...)
            return
        self._journal.append(change)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def restart(self, key: str) -> None:
        """Forget what the run ``key`` holds (state, points, log) before its whole history
        is pushed again from its first event; it keeps its place and its row until then."""
        self._states.pop(key, None)
        self._extra.pop(key, None)

    # ------------------------------------------------------------------ output

    @property
    def view(self) -> ViewState:
        """Every run's state, as the terminal and notebook views hold it (a new value)."""
        return ViewState(runs=dict(self._states), order=tuple(self._order), template=WEB_TEMPLATE)

    def __contains__(self, key: object) -> bool:
        return key in self._states

    @property
    def seq(self) -> int:
        """The sequence number of the latest change (0 before any)."""
        return self._seq

    def snapshot(self) -> dict[str, Any]:
        """Every run's row, in the order first seen, and the ``seq`` they are as of."""
        return {
            "runs": [self._rows[k] for k in self._order if k in self._rows],
            "seq": self._seq,
        }

    def detail(self, key: str) -> dict[str, Any] | None:
        """One run's whole history (points, log, samples, config, result), or None."""
        state = self._states.get(key)
        extra = self._extra.get(key)
        if state is None or extra is None:
            return None
        job = extra.job or {}
        return {
            "run": self._rows.get(key) or _wire.row(key, state),
            "series": extra.series.to_json(),
            "log": list(extra.log),
            "checkpoints": _wire.checkpoints(state),
            "config": job.get("config"),
            "job": job or None,
            "result": dict(state.metrics) if state.metrics else None,
            "seq": self._seq,
        }

    def since(self, seq: int) -> Iterator[Change] | None:
        """The changes after ``seq``, or None when some were already dropped (Rule 2)."""
        if seq >= self._seq:
            return iter(())
        journal = self._journal
        if not journal or journal[0].seq > seq + 1:
            return None
        start = seq + 1 - journal[0].seq
        return (journal[i] for i in range(start, len(journal)))

    async def wait_after(self, seq: int) -> None:
        """Return once there is a change after ``seq``, or once the feed is ``closed``."""
        while self._seq <= seq and not self.closed:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def forget(self) -> None:
        """Shut down: set ``closed`` and wake every waiting page (its stream then ends)."""
        self.closed = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
