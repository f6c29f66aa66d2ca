"""``LiveDashboard``: the terminal view, fed by hand or as a sink.

Rule 1: the only part with side effects. It keeps a
[`ViewState`][arkor_rx.dashboard.ViewState] and shows it with
``rich.live.Live`` when the console is a terminal, or as plain log lines
(one per action worth telling) when it is not.

Rule 2: feeding it is cheap: an action only runs the reducer. The live view
redraws from its own refresh thread at ``refresh_per_second``, so a sink
``write`` never waits for the terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeAlias

from rich.console import Console, RenderableType
from rich.live import Live

from arkor_rx._printable import printable
from arkor_rx.dashboard._actions import (
    DashboardAction,
    RunDeployed,
    RunFinished,
    RunOpened,
    RunStatus,
    RunStopped,
    RunUndeployed,
)
from arkor_rx.dashboard._lines import describe
from arkor_rx.dashboard._runs import ViewAction, ViewState, reduce_view
from arkor_rx.dashboard._state import DashboardState
from arkor_rx.dashboard._terminal import render_runs, render_summary, render_view
from arkor_rx.jobs import TrainingJob
from arkor_rx.runs import PruneDecision, RunEvent
from arkor_rx.sinks._base import Outcome, SinkItem

__all__ = ["Clock", "LiveDashboard", "outcome_actions"]

Clock: TypeAlias = Callable[[], float]
"""A time source in seconds since the epoch (``time.time``), injectable in tests."""

LIVE_MARGIN = 2
"""Columns the live view leaves free at the right: a ``^C`` echoed by the
terminal then fits on the last line instead of wrapping it, which would make
the next redraw start one line low and leave a second panel header behind."""


def outcome_actions(outcome: Outcome) -> list[DashboardAction]:
    """What a sink's ``close(outcome)`` tells the reducer.

    Examples:
        >>> outcome_actions(Outcome("failed", "j1", error="out of memory"))
        [RunFinished(status=<RunStatus.FAILED: 'failed'>, error='out of memory', metrics=None)]
    """
    if outcome.kind == "stopped" and outcome.stop is not None:
        return [RunStopped(outcome.stop)]
    if outcome.kind == "stopped":
        return [RunFinished(RunStatus.EARLY_STOPPED)]
    if outcome.kind == "error":
        return [RunFinished(RunStatus.FAILED, error=f"following the run failed: {outcome.error}")]
    return [RunFinished(RunStatus(outcome.kind), error=outcome.error)]


class LiveDashboard:
    """Show runs as they happen: a live rich view on a terminal, log lines elsewhere.

    A [`Sink`][arkor_rx.sinks.Sink]: pass it in ``sinks=[...]`` or to
    ``aop.to_sink``; one instance can follow many runs (a sweep), which it
    shows as one table with a row per run. It can also be fed by hand::

        with LiveDashboard() as view:
            view.dispatch(JobSubmitted(job_id, name="bot", max_steps=40))
            for event in events:
                view.dispatch(event)
        view.print_summary()

    Used as a sink without ``with``, the live view starts at the first
    ``open`` and stops when every run it opened is closed.

    Args:
        console: where to draw (default: a new stdout console).
        live: force the live view on (True) or off (False); the default uses
            the live view exactly when ``console.is_terminal``.
        state: the state each run starts from (e.g. with ``smoothing`` set,
            or ``asks_samples=False`` when no checkpoint samples are asked).
        clock: the time source for elapsed time and ETA (``time.time``).
        refresh_per_second: live redraws per second.
        many: the view follows several runs (``watch --all``): every plain
            line names its run from the first one. A sweep's ``RunEvent`` and
            a second run do the same on their own.
    """

    overflow = "block"
    """A view must not lose events; its ``write`` only runs the reducer."""
    buffer_size = 4096

    def __init__(
        self,
        console: Console | None = None,
        *,
        live: bool | None = None,
        state: DashboardState | None = None,
        clock: Clock = time.time,
        refresh_per_second: float = 8.0,
        many: bool = False,
    ) -> None:
        self.console = console if console is not None else Console()
        self.view = ViewState(template=state if state is not None else DashboardState())
        self._clock = clock
        self._use_live = self.console.is_terminal if live is None else live
        self._refresh = refresh_per_second
        self._live: Live | None = None
        self._drew_live = False
        self._entered = False
        self._open_runs: set[str] = set()
        self._many = many

    @property
    def state(self) -> DashboardState:
        """The first run's state: all a one-run view shows."""
        return self.view.primary

    @property
    def is_live(self) -> bool:
        """True when the live view (not plain lines) is used."""
        return self._use_live

    def _renderable(self) -> RenderableType:
        return render_view(self.view, self._clock(), width=self._width())

    def _width(self) -> int:
        return max(20, self.console.width - LIVE_MARGIN)

    def _start(self) -> None:
        if self._use_live and self._live is None:
            self._live = Live(
                self._renderable(),
                console=self.console,
                refresh_per_second=self._refresh,
                transient=False,
                get_renderable=self._renderable,
            )
            self._live.start()
            self._drew_live = True

    def __enter__(self) -> LiveDashboard:
        self._entered = True
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = False
        self.stop()

    def refresh(self) -> None:
        """Redraw the live view now (its refresh thread does this on its own)."""
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        """Stop the live view (drawing it one last time). Safe to call twice."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()  # stop() draws the final state once more

    def _apply(self, action: ViewAction, key: str | None) -> None:
        before = self.view
        self.view = reduce_view(before, action, now=self._clock(), key=key)
        if self._use_live:
            return  # the refresh thread draws the new state
        if isinstance(action, RunEvent | PruneDecision):
            self._many = True  # a sweep's run: name it on every line, the first one too
        inner = action.event if isinstance(action, RunEvent) else action
        if isinstance(inner, PruneDecision):
            inner = RunStopped(inner.decision)
        changed = next(
            (k for k in self.view.order if self.view.runs[k] is not before.runs.get(k)), None
        )
        if changed is None:
            return
        old = before.runs.get(changed, self.view.template)
        line = describe(old, inner, self.view.runs[changed])
        if line is not None:
            if self._many or len(self.view.order) > 1:
                line = f"[{self.view.runs[changed].label}] {line}"
            # The line quotes the server's strings: no terminal control gets through.
            self.console.print(printable(line), markup=False, highlight=False, soft_wrap=True)

    def dispatch(self, action: ViewAction) -> DashboardState:
        """Apply ``action`` to the one run this view shows, and return its new state.

        For many runs, feed the sink methods (or ``RunEvent`` values, which name their run).
        A deployment goes to the run it names when the view shows that run.
        """
        key = (
            None
            if isinstance(action, RunEvent | PruneDecision)
            else (self.view.order or (None,))[0]
        )
        if isinstance(action, RunDeployed | RunUndeployed) and action.job_id in self.view.runs:
            key = action.job_id
        self._apply(action, key)
        return self.state

    def dispatch_all(self, actions: Sequence[ViewAction]) -> DashboardState:
        """Apply several actions in order."""
        for action in actions:
            self.dispatch(action)
        return self.state

    # ----------------------------------------------------------------- the Sink protocol

    async def open(self, job: TrainingJob) -> None:
        """A run begins: show it (its own status and start time, not "submitted")."""
        self._open_runs.add(job.id)
        self._start()
        self._apply(RunOpened(job), job.id)

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Apply a batch of one run's items (events and checkpoint samples)."""
        for item in events:
            self._apply(item, item.job_id or None)

    async def close(self, outcome: Outcome) -> None:
        """The run ended: show how; stop the live view after the last open run."""
        key = outcome.job_id
        for action in outcome_actions(outcome):
            self._apply(action, key)
        if key is not None:
            self._open_runs.discard(key)
        if not self._open_runs and not self._entered:
            self.stop()

    def print_summary(self) -> None:
        """Print the summary table after the run.

        For many runs it is the final runs table, printed only when the live
        view did not leave it on screen (its last frame is that very table).
        """
        now = self._clock()
        if len(self.view.order) > 1:
            if not self._drew_live:  # else the live table's last frame, final, is on screen
                self.console.print(render_runs(self.view, now))
        else:
            self.console.print(render_summary(self.state, now))
