"""``LiveView``: the live view in a notebook (JupyterLab, VS Code, Colab), as a sink.

Rule 1: one state, two renderers. ``LiveView`` runs the views' reducer
([`reduce_view`][arkor_rx.dashboard.reduce_view]) on every batch, and draws
the state with the notebook renderer
([`render_html`][arkor_rx.dashboard._html.render_html]): plain HTML with an
inline SVG plot, shown with ``IPython.display`` under one display id and
updated in place. No widget extension, no JavaScript; a static HTML export
of the notebook keeps the last frame readable.

Rule 2: drawing never holds up the stream. ``write`` only runs the reducer
and marks the view dirty; a painter task draws at most once per ``every``
seconds, rendering in a worker thread from an immutable snapshot. A view
that cannot keep up skips frames, never events. ``close`` always draws the
final frame.

Rule 3: outside a notebook it degrades to the terminal view
([`LiveDashboard`][arkor_rx.dashboard.LiveDashboard]: live on a terminal,
plain lines elsewhere). IPython and matplotlib are imported only inside a
notebook (the ``notebook`` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from arkor_rx.dashboard import (
    DashboardState,
    LiveDashboard,
    RunOpened,
    ViewAction,
    ViewState,
    outcome_actions,
    reduce_view,
)
from arkor_rx.dashboard._html import NOTEBOOK_EXTRA, render_html, render_text, require_matplotlib
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import Outcome, SinkItem

__all__ = ["Display", "LiveView", "in_notebook"]

Display: TypeAlias = Callable[[str, str], None]
"""Shows one frame: ``(html, text)``; each call replaces the previous frame."""

Sleep: TypeAlias = Callable[[float], Awaitable[None]]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, classic, VS Code) or Colab."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False  # a kernel always has IPython imported; nothing to import here
    shell = ipython.get_ipython()
    return shell is not None and (hasattr(shell, "kernel") or "google.colab" in sys.modules)


def _ipython_display() -> Display:
    try:
        from IPython.display import display
    except ImportError:
        raise ImportError(f"the notebook view needs IPython: {NOTEBOOK_EXTRA}") from None
    handle: Any = None

    def show(html: str, text: str) -> None:
        nonlocal handle
        bundle = {"text/html": html, "text/plain": text}
        if handle is None:
            handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        else:
            handle.update(bundle, raw=True)

    return show


class LiveView:
    """The live view of a notebook: progress, metrics table, loss curve, samples, stop.

    A [`Sink`][arkor_rx.sinks.Sink]: pass it in ``sinks=[...]`` (or to
    ``aop.to_sink``). It shows a progress bar with ETA, one table row per
    evaluation (step, training loss, smoothed, validation loss), the loss
    curve over the whole run (raw, TensorBoard-smoothed, eval), the
    checkpoint samples with the question asked, and the stop reason. Given
    several runs (a sweep), it shows one row and one curve per run, the pruned
    ones marked.

    Examples:
        >>> frames = []
        >>> view = LiveView(display=lambda html, text: frames.append(html), plot=False)
        >>> view.every
        0.5

    Args:
        every: the least time between two frames, in seconds.
        smoothing: the TensorBoard smoothing weight of the smoothed curve.
        state: the state each run starts from (overrides ``smoothing``).
        plot: draw the loss curve (needs matplotlib).
        display: where frames go (default: ``IPython.display`` with a display
            id; given one, the notebook check is skipped).
        clock: time in seconds since the epoch (``time.time``), for ETA and throttling.
        sleep: how the painter waits (``asyncio.sleep``); tests pass a fake.
        threaded: render frames in a worker thread (default) or inline.
        fallback: the view used outside a notebook (default: a ``LiveDashboard``).

    Raises:
        ImportError: in a notebook without matplotlib or IPython (one line
            naming ``pip install 'arkor_rx[notebook]'``).
    """

    overflow = "block"
    """A view must not lose events; its ``write`` only runs the reducer."""
    buffer_size = 4096

    def __init__(
        self,
        *,
        every: float = 0.5,
        smoothing: float | None = None,
        state: DashboardState | None = None,
        plot: bool = True,
        display: Display | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        threaded: bool = True,
        fallback: LiveDashboard | None = None,
    ) -> None:
        template = state if state is not None else DashboardState()
        if smoothing is not None and state is None:
            template = DashboardState(smoothing=smoothing)
        self.every = every
        self.plot = plot
        self.view = ViewState(template=template)
        self.frames = 0
        """Frames drawn so far."""
        self.skipped = 0
        """Batches that arrived while a frame was pending: merged into the next frame."""
        self.html = ""
        """The last frame drawn."""
        self._clock = clock
        self._sleep = sleep
        self._threaded = threaded
        self._dirty = False
        self._next_at = 0.0
        self._painter: asyncio.Task[None] | None = None
        self._display = display
        self.fallback: LiveDashboard | None = None
        """The terminal view used instead, outside a notebook (else None)."""
        if display is None and not in_notebook():
            self.fallback = fallback if fallback is not None else LiveDashboard(state=template)
        elif display is None:
            if plot:
                require_matplotlib()
            self._display = _ipython_display()

    @property
    def state(self) -> DashboardState:
        """The first run's state."""
        return self.fallback.state if self.fallback is not None else self.view.primary

    def _repr_html_(self) -> str:
        return self.html

    # ----------------------------------------------------------------- the Sink protocol

    async def open(self, job: TrainingJob) -> None:
        """A run begins."""
        if self.fallback is not None:
            return await self.fallback.open(job)
        self._apply(RunOpened(job), job.id)
        self._kick()
        return None

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Apply a batch (the reducer only) and ask for a frame."""
        if self.fallback is not None:
            return await self.fallback.write(events)
        for item in events:
            self._apply(item, item.job_id or None)
        self._kick()
        return None

    async def close(self, outcome: Outcome) -> None:
        """The run ended: apply the outcome and draw the final frame, always."""
        if self.fallback is not None:
            return await self.fallback.close(outcome)
        for action in outcome_actions(outcome):
            self._apply(action, outcome.job_id)
        await self.flush()
        return None

    # ----------------------------------------------------------------- drawing

    def dispatch(self, action: ViewAction) -> None:
        """Apply one action by hand (to the run it names) and ask for a frame."""
        if self.fallback is not None:
            self.fallback.dispatch(action)
            return
        self._apply(action, None)
        self._kick()

    async def flush(self) -> None:
        """Draw the current state now (cancelling a pending throttled frame)."""
        painter, self._painter = self._painter, None
        if painter is not None and not painter.done():
            painter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await painter
        self._dirty = False
        await self._draw()

    def _apply(self, action: ViewAction, key: str | None) -> None:
        self.view = reduce_view(self.view, action, now=self._clock(), key=key)

    def _kick(self) -> None:
        if self._dirty:
            self.skipped += 1
            return
        self._dirty = True
        if self._painter is None or self._painter.done():
            self._painter = asyncio.get_running_loop().create_task(self._paint())

    async def _paint(self) -> None:
        while self._dirty:
            wait = self._next_at - self._clock()
            if wait > 0:
                await self._sleep(wait)
            self._dirty = False
            await self._draw()

    async def _draw(self) -> None:
        snapshot, now = self.view, self._clock()
        if self._threaded:
            page = await asyncio.to_thread(render_html, snapshot, now, plot=self.plot)
        else:
            page = render_html(snapshot, now, plot=self.plot)
        self.html = page
        self.frames += 1
        self._next_at = self._clock() + self.every
        if self._display is not None:
            self._display(page, render_text(snapshot, now))
