"""A live terminal view of a training run, built from a pure reducer.

Rule 1: all the bookkeeping lives in :func:`reduce`, a pure function from
``(DashboardState, action, now)`` to a new :class:`DashboardState`. It does no
I/O, reads no clock (the caller passes ``now``) and never mutates its input,
so every figure on screen can be tested by feeding events and reading fields.

Rule 2: drawing is just as pure: :func:`render` and :func:`render_summary`
turn a state into a rich renderable, :func:`describe` into one plain log line.

Rule 3: :class:`LiveDashboard` is the only part with side effects. It keeps
the current state, and shows it with :class:`rich.live.Live` when the console
is a terminal, or as plain log lines (one per action worth telling) when it
is not, so piping ``arkor-rx demo`` into a file gives a readable log.

Actions are the stream's :data:`~arkor_rx.events.TrainingEvent` objects plus
a few dashboard-only facts that do not travel on the stream:
:class:`JobSubmitted`, :class:`CheckpointAnswer`, :class:`StreamProgress`,
:class:`RunStopped` and :class:`RunFinished`.

Example:
    >>> from arkor_rx.events import TrainingLog
    >>> state = DashboardState(max_steps=10)
    >>> state = reduce(state, TrainingLog(step=1, loss=2.0, event_id="1"), now=0.0)
    >>> state = reduce(state, TrainingLog(step=2, loss=1.0, event_id="2"), now=1.0)
    >>> (state.step, state.loss, state.events_seen, state.lost, state.repeated)
    (2, 1.0, 2, 0, 0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, TypeAlias

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingEvent,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
    UnknownEvent,
)
from arkor_rx.stopping import StopDecision

__all__ = [
    "DEFAULT_SMOOTHING",
    "HISTORY_LENGTH",
    "SPARK_BLOCKS",
    "CheckpointAnswer",
    "CheckpointView",
    "DashboardAction",
    "DashboardState",
    "JobSubmitted",
    "LiveDashboard",
    "RunFinished",
    "RunStopped",
    "StreamProgress",
    "describe",
    "eta_seconds",
    "reduce",
    "render",
    "render_summary",
    "sparkline",
]

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
"""The eight block characters of a sparkline, lowest first."""

HISTORY_LENGTH = 240
"""How many recent training losses the state keeps for the sparkline."""

DEFAULT_SMOOTHING = 0.6
"""TensorBoard's default smoothing weight for the smoothed loss."""

SUCCESS_STATUSES = frozenset({"completed", "early-stopped"})
"""Final statuses that count as a good run (exit status 0 in the CLI)."""


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class JobSubmitted:
    """The job was created (or attached to): its id, name and planned length."""

    job_id: str
    name: str = ""
    max_steps: int | None = None


@dataclass(frozen=True, slots=True)
class CheckpointAnswer:
    """The sample answer a checkpoint gave (from its ``infer``), or why it could not."""

    step: int
    text: str
    error: bool = False
    """True when ``text`` is an error message rather than the model's answer."""


@dataclass(frozen=True, slots=True)
class StreamProgress:
    """The event stream's counters so far (they only grow)."""

    reconnects: int
    duplicates: int = 0
    """Replayed events the client skipped before they reached the view."""


@dataclass(frozen=True, slots=True)
class RunStopped:
    """An early-stopping rule fired; the job is being cancelled on purpose."""

    decision: StopDecision


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run is over, as the caller saw it (e.g. ``"cancelled"`` after Ctrl-C).

    ``status`` is one of ``completed``, ``early-stopped``, ``failed`` or
    ``cancelled``. A ``completed`` or ``failed`` already set by a stream event
    is kept unless this one is more specific (``early-stopped``, ``cancelled``).
    """

    status: str
    error: str | None = None
    metrics: Mapping[str, Any] | None = None


DashboardAction: TypeAlias = (
    TrainingEvent | JobSubmitted | CheckpointAnswer | StreamProgress | RunStopped | RunFinished
)
"""Anything :func:`reduce` accepts."""


# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class CheckpointView:
    """One checkpoint as shown: its step and, once known, its sample answer."""

    step: int
    answer: str | None = None
    error: bool = False


@dataclass(frozen=True, slots=True)
class DashboardState:
    """Everything the view shows, as one immutable value.

    Build a new one with :func:`reduce`; never mutate (the class is frozen).
    """

    job_id: str | None = None
    name: str = ""
    status: str = "waiting"
    """``waiting``, ``running``, ``completed``, ``early-stopped``, ``failed`` or ``cancelled``."""
    step: int = 0
    max_steps: int | None = None
    loss: float | None = None
    smoothed_loss: float | None = None
    eval_loss: float | None = None
    best_eval_loss: float | None = None
    best_eval_step: int | None = None
    learning_rate: float | None = None
    epoch: float | None = None
    loss_history: tuple[float, ...] = ()
    """The last :data:`HISTORY_LENGTH` training losses, oldest first (may hold nan)."""
    checkpoints: tuple[CheckpointView, ...] = ()
    accuracy: float | None = None
    """From the completed event's metrics (any key containing ``accuracy``)."""
    metrics: tuple[tuple[str, Any], ...] = ()
    """The final metrics, as sorted (name, value) pairs."""
    error: str | None = None
    stop_reason: str | None = None
    reconnects: int = 0
    replays_skipped: int = 0
    """Replayed events the client's de-duplication dropped (never shown twice)."""
    events_seen: int = 0
    """Distinct stream events applied (repeats are not counted)."""
    last_event_id: int | None = None
    """The last numeric SSE id seen; the basis of the lost/repeated check."""
    lost: int = 0
    """Numeric ids skipped over (a gap of 3 between two ids counts 2 lost)."""
    repeated: int = 0
    """Events whose numeric id was not above the last one: counted and ignored."""
    started_at: float | None = None
    finished_at: float | None = None
    smoothing: float = DEFAULT_SMOOTHING
    """The EMA weight in [0, 1): 0 is no smoothing."""
    ema: float = 0.0
    """Internal: the biased EMA accumulator of finite losses."""
    ema_count: int = 0
    """Internal: how many finite losses went into :attr:`ema`."""
    history_limit: int = field(default=HISTORY_LENGTH, repr=False)

    @property
    def finished(self) -> bool:
        """True once the run reached a final status."""
        return self.status in ("completed", "early-stopped", "failed", "cancelled")

    @property
    def succeeded(self) -> bool:
        """True for a completed or early-stopped run."""
        return self.status in SUCCESS_STATUSES

    def elapsed(self, now: float) -> float:
        """Seconds from the first action to the end (or to ``now`` while running)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)


# --------------------------------------------------------------------------- reducer


def _numeric_id(event_id: str | None) -> int | None:
    if event_id is None:
        return None
    try:
        return int(event_id)
    except ValueError:
        return None  # ids are opaque strings: only numeric ones can be checked


def _smooth(state: DashboardState, loss: float | None) -> dict[str, Any]:
    """TensorBoard's debiased EMA; non-finite values are skipped, as TensorBoard does."""
    if loss is None or not math.isfinite(loss):
        return {}
    w = state.smoothing
    ema = state.ema * w + (1.0 - w) * loss
    count = state.ema_count + 1
    debias = 1.0 - w**count if w > 0 else 1.0
    return {"ema": ema, "ema_count": count, "smoothed_loss": ema / debias}


def _accuracy(metrics: Mapping[str, Any] | None) -> float | None:
    if not metrics:
        return None
    for key in sorted(metrics, key=lambda k: (k.lower() != "accuracy", k)):
        value = metrics[key]
        if "accuracy" in key.lower() and isinstance(value, int | float):
            return float(value)
    return None


def _max_steps_from(metadata: Mapping[str, Any] | None) -> int | None:
    if not metadata:
        return None
    for key in ("maxSteps", "max_steps", "totalSteps", "total_steps"):
        value = metadata.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _finish(state: DashboardState, now: float | None, **changes: Any) -> DashboardState:
    if state.finished_at is None and now is not None:
        changes.setdefault("finished_at", now)
    return replace(state, **changes)


def _apply_event(state: DashboardState, event: TrainingEvent, now: float | None) -> DashboardState:
    if isinstance(event, TrainingStarted):
        return replace(
            state,
            job_id=state.job_id or event.job_id or None,
            status="running" if not state.finished else state.status,
            max_steps=state.max_steps or _max_steps_from(event.metadata),
        )
    if isinstance(event, TrainingLog):
        changes: dict[str, Any] = {"step": max(state.step, event.step)}
        if not state.finished:
            changes["status"] = "running"
        if event.loss is not None:
            changes["loss"] = event.loss
            history = (*state.loss_history, event.loss)
            changes["loss_history"] = history[-state.history_limit :]
            changes.update(_smooth(state, event.loss))
        if event.eval_loss is not None:
            changes["eval_loss"] = event.eval_loss
            best = state.best_eval_loss
            if math.isfinite(event.eval_loss) and (best is None or event.eval_loss < best):
                changes["best_eval_loss"] = event.eval_loss
                changes["best_eval_step"] = event.step
        if event.learning_rate is not None:
            changes["learning_rate"] = event.learning_rate
        if event.epoch is not None:
            changes["epoch"] = event.epoch
        return replace(state, **changes)
    if isinstance(event, CheckpointSaved):
        if any(c.step == event.step for c in state.checkpoints):
            return state
        return replace(
            state,
            checkpoints=(*state.checkpoints, CheckpointView(step=event.step)),
            step=max(state.step, event.step),
        )
    if isinstance(event, TrainingCompleted):
        metrics = dict(event.metrics or {})
        status = state.status if state.status in ("early-stopped", "cancelled") else "completed"
        return _finish(
            state,
            now,
            status=status,
            metrics=tuple(sorted(metrics.items())),
            accuracy=_accuracy(metrics),
        )
    if isinstance(event, TrainingFailed):
        return _finish(
            state,
            now,
            status="failed",
            error=event.error,
            step=max(state.step, event.step or 0),
        )
    return state  # UnknownEvent: counted, never a crash


def reduce(
    state: DashboardState, action: DashboardAction, *, now: float | None = None
) -> DashboardState:
    """Apply one action to the state and return the new state (the input is unchanged).

    Stream events with a numeric SSE id are checked against the last one: an
    id that is not above it is counted in ``repeated`` and otherwise ignored;
    a jump of more than one counts the missing ids in ``lost``. Events
    without an id, or with a non-numeric one, are applied unchecked.

    Args:
        state: the current state.
        action: a stream event or one of the dashboard actions.
        now: the caller's clock (seconds, any origin, e.g. ``time.monotonic()``),
            used for the elapsed time and ETA; ``None`` leaves timing alone.

    Returns:
        The new state.

    Examples:
        >>> from arkor_rx.events import TrainingLog
        >>> s = reduce(DashboardState(), TrainingLog(step=1, loss=1.0, event_id="1"))
        >>> s = reduce(s, TrainingLog(step=1, loss=1.0, event_id="1"))  # replayed
        >>> (s.events_seen, s.repeated)
        (1, 1)
    """
    if now is not None and state.started_at is None:
        state = replace(state, started_at=now)
    if isinstance(action, JobSubmitted):
        return replace(
            state,
            job_id=action.job_id,
            name=action.name or state.name,
            max_steps=action.max_steps or state.max_steps,
        )
    if isinstance(action, CheckpointAnswer):
        views = list(state.checkpoints)
        for i, view in enumerate(views):
            if view.step == action.step:
                views[i] = replace(view, answer=action.text, error=action.error)
                break
        else:
            views.append(CheckpointView(step=action.step, answer=action.text, error=action.error))
        return replace(state, checkpoints=tuple(views))
    if isinstance(action, StreamProgress):
        return replace(
            state,
            reconnects=max(state.reconnects, action.reconnects),
            replays_skipped=max(state.replays_skipped, action.duplicates),
        )
    if isinstance(action, RunStopped):
        return _finish(state, now, status="early-stopped", stop_reason=action.decision.reason)
    if isinstance(action, RunFinished):
        status = action.status
        if state.status == "early-stopped" and status in ("cancelled", "completed"):
            status = "early-stopped"  # the stop rule's cancel is not a user cancel
        changes: dict[str, Any] = {"status": status}
        if action.error is not None:
            changes["error"] = action.error
        if action.metrics is not None and not state.metrics:
            changes["metrics"] = tuple(sorted(action.metrics.items()))
            changes["accuracy"] = _accuracy(action.metrics)
        return _finish(state, now, **changes)

    # A stream event: check its id first.
    number = _numeric_id(action.event_id)
    if number is not None and state.last_event_id is not None:
        if number <= state.last_event_id:
            return replace(state, repeated=state.repeated + 1)
        gap = number - state.last_event_id - 1
        if gap:
            state = replace(state, lost=state.lost + gap)
    if number is not None:
        state = replace(state, last_event_id=number)
    state = replace(state, events_seen=state.events_seen + 1)
    if isinstance(action, UnknownEvent):
        return state
    return _apply_event(state, action, now)


# --------------------------------------------------------------------------- pure drawing


def sparkline(values: Iterable[float], width: int = 40) -> str:
    """Draw the last ``width`` values as unicode blocks ``▁▂▃▄▅▆▇█``.

    The lowest finite value maps to ``▁`` and the highest to ``█``; when all
    are equal every point is ``▄``. Non-finite values (a diverged loss) are
    drawn as ``×``. An empty input gives ``""``.

    Examples:
        >>> sparkline([1, 2, 3, 4, 5, 6, 7, 8])
        '▁▂▃▄▅▆▇█'
        >>> sparkline([3.0, float("nan"), 3.0])
        '▄×▄'
    """
    if width <= 0:
        return ""
    points = list(values)[-width:]
    finite = [v for v in points if math.isfinite(v)]
    if not finite:
        return "×" * len(points)
    low, high = min(finite), max(finite)
    span = high - low
    top = len(SPARK_BLOCKS) - 1
    chars = []
    for v in points:
        if not math.isfinite(v):
            chars.append("×")
        elif span == 0:
            chars.append(SPARK_BLOCKS[3])
        else:
            chars.append(SPARK_BLOCKS[round((v - low) / span * top)])
    return "".join(chars)


def eta_seconds(state: DashboardState, now: float) -> float | None:
    """Seconds left at the average pace so far, or None when it cannot be told yet."""
    if state.max_steps is None or state.started_at is None or state.step <= 0:
        return None
    if state.finished:
        return 0.0
    rate = state.elapsed(now) / state.step
    return max(0.0, (state.max_steps - state.step) * rate)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


_STATUS_STYLE = {
    "waiting": "dim",
    "running": "cyan",
    "completed": "bold green",
    "early-stopped": "bold yellow",
    "failed": "bold red",
    "cancelled": "bold magenta",
}


def _status_text(state: DashboardState) -> Text:
    return Text(state.status, style=_STATUS_STYLE.get(state.status, ""))


def _events_line(state: DashboardState) -> str:
    return f"events: {state.events_seen}, lost: {state.lost}, repeated: {state.repeated}"


def _shorten(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render(state: DashboardState, now: float, *, spark_width: int = 48) -> RenderableType:
    """Draw the live view: progress bar with ETA, metrics, loss sparkline, checkpoint answers.

    Pure: the same state and ``now`` always give the same drawing.

    Args:
        state: what to show.
        now: the same clock as passed to :func:`reduce`, for elapsed time and ETA.
        spark_width: how many recent losses the sparkline shows.

    Returns:
        A rich renderable (a panel); print it or hand it to ``Live.update``.
    """
    title = Text.assemble(
        ("arkor-rx ", "bold"),
        (f"job {state.job_id or '?'}", "cyan"),
        (f"  {state.name}" if state.name else "", ""),
        "  ",
        _status_text(state),
    )

    progress = Table.grid(padding=(0, 1), expand=True)
    progress.add_column(ratio=1)
    progress.add_column(no_wrap=True, justify="right")
    total = state.max_steps
    bar = ProgressBar(
        total=float(total) if total else None,
        completed=float(min(state.step, total) if total else state.step),
        pulse=total is None and not state.finished,
        animation_time=now,
    )
    pct = f"{100 * min(state.step, total) / total:3.0f}%" if total else ""
    progress.add_row(
        bar,
        f"step {state.step}/{total if total else '?'} {pct}  "
        f"elapsed {_clock(state.elapsed(now))}  ETA {_clock(eta_seconds(state, now))}",
    )

    metrics = Table(box=box.SIMPLE_HEAD, show_edge=False, expand=True, pad_edge=False)
    for name in ("loss", "smoothed", "eval loss", "best eval", "lr", "reconnects"):
        metrics.add_column(name, justify="right", no_wrap=True)
    best = _num(state.best_eval_loss)
    if state.best_eval_step is not None:
        best += f" @{state.best_eval_step}"
    metrics.add_row(
        _num(state.loss),
        _num(state.smoothed_loss),
        _num(state.eval_loss),
        best,
        "—" if state.learning_rate is None else f"{state.learning_rate:.2e}",
        str(state.reconnects),
    )

    spark = Text.assemble(
        ("loss ", "bold"),
        (sparkline(state.loss_history, spark_width) or "(no data yet)", "green"),
        ("   " + _events_line(state), "dim"),
    )

    parts: list[RenderableType] = [progress, metrics, spark]
    answered = state.checkpoints[-4:]
    if answered:
        answers = Table(box=box.SIMPLE_HEAD, show_edge=False, expand=True, pad_edge=False)
        answers.add_column("checkpoint", justify="right", no_wrap=True, width=10)
        answers.add_column("sample answer", ratio=1)
        for view in answered:
            if view.answer is None:
                shown = Text("(asking…)", style="dim")
            else:
                shown = Text(_shorten(view.answer), style="red" if view.error else "")
            answers.add_row(f"step {view.step}", shown)
        parts.append(answers)
    if state.stop_reason:
        parts.append(Text(f"early stop: {state.stop_reason}", style="yellow"))
    if state.error:
        parts.append(Text(f"error: {state.error}", style="red"))
    return Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED)


def render_summary(state: DashboardState, now: float) -> Table:
    """The end-of-run table: status, steps, best eval loss, accuracy, time, reconnects, events.

    The ``events`` row says ``events: N, lost: L, repeated: R``: with the
    local server (which numbers events 1, 2, 3, ...) ``lost: 0, repeated: 0``
    means every event arrived exactly once, reconnects or not.
    """
    table = Table(title="run summary", box=box.ROUNDED, show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_row("job", state.job_id or "?")
    table.add_row("status", _status_text(state))
    steps = f"{state.step}/{state.max_steps}" if state.max_steps else str(state.step)
    table.add_row("steps", steps)
    best = _num(state.best_eval_loss)
    if state.best_eval_step is not None:
        best += f" (step {state.best_eval_step})"
    table.add_row("best eval loss", best)
    table.add_row("accuracy", "—" if state.accuracy is None else f"{state.accuracy:.1%}")
    table.add_row("time", f"{state.elapsed(now):.1f} s")
    table.add_row("reconnects", str(state.reconnects))
    stream = _events_line(state)
    if state.replays_skipped:
        stream += f" ({state.replays_skipped} replayed by the server, skipped by the client)"
    table.add_row("stream", stream)
    if state.stop_reason:
        table.add_row("stopped by", escape(state.stop_reason))
    if state.error:
        table.add_row("error", Text(state.error, style="red"))
    return table


def describe(before: DashboardState, action: DashboardAction, after: DashboardState) -> str | None:
    """One plain log line telling what ``action`` changed, or None when not worth a line.

    Used when the output is not a terminal. Pure.
    """
    if after.repeated > before.repeated:
        event_id = getattr(action, "event_id", None)
        return f"repeated event id {event_id} ignored"
    lost = f" ({after.lost - before.lost} event(s) lost)" if after.lost > before.lost else ""
    total = after.max_steps or "?"
    if isinstance(action, JobSubmitted):
        return f"job {action.job_id} submitted: {action.name or after.name} ({total} steps)"
    if isinstance(action, TrainingStarted):
        return f"job {after.job_id or action.job_id} started{lost}"
    if isinstance(action, TrainingLog):
        parts = [f"step {action.step}/{total}"]
        if action.loss is not None:
            parts.append(f"loss {_num(action.loss)}")
            parts.append(f"smoothed {_num(after.smoothed_loss)}")
        if action.eval_loss is not None:
            parts.append(f"eval_loss {_num(action.eval_loss)}")
        return "  ".join(parts) + lost
    if isinstance(action, CheckpointSaved):
        return f"checkpoint saved at step {action.step}{lost}"
    if isinstance(action, CheckpointAnswer):
        label = "failed" if action.error else "answer"
        return f"checkpoint {action.step} {label}: {_shorten(action.text)}"
    if isinstance(action, StreamProgress):
        if after.reconnects > before.reconnects:
            return f"stream reconnected ({after.reconnects} so far)"
        return None
    if isinstance(action, RunStopped):
        return f"early stop ({action.decision.rule}): {action.decision.reason}"
    if isinstance(action, TrainingCompleted):
        return f"training completed at step {after.step}{lost}"
    if isinstance(action, TrainingFailed):
        return f"training failed: {action.error}{lost}"
    if isinstance(action, RunFinished):
        if before.status == after.status:
            return None
        return f"run {after.status}" + (f": {action.error}" if action.error else "")
    return None


# --------------------------------------------------------------------------- the sink

Clock: TypeAlias = Callable[[], float]


class LiveDashboard:
    """Show a run as it happens: a live rich view on a terminal, log lines elsewhere.

    Use it as a context manager and feed it actions; it keeps the state::

        with LiveDashboard() as view:
            view.dispatch(JobSubmitted(job_id, name="bot", max_steps=40))
            for event in events:
                view.dispatch(event)
        view.print_summary()

    Args:
        console: where to draw (default: a new stdout console).
        live: force the live view on (True) or off (False); the default uses
            the live view exactly when ``console.is_terminal``.
        state: the starting state (e.g. with ``smoothing`` set).
        clock: the time source for elapsed time and ETA (``time.monotonic``).
        refresh_per_second: live redraws per second (rich also redraws on update).
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        live: bool | None = None,
        state: DashboardState | None = None,
        clock: Clock = time.monotonic,
        refresh_per_second: float = 8.0,
    ) -> None:
        self.console = console if console is not None else Console()
        self.state = state if state is not None else DashboardState()
        self._clock = clock
        self._use_live = self.console.is_terminal if live is None else live
        self._refresh = refresh_per_second
        self._live: Live | None = None

    @property
    def is_live(self) -> bool:
        """True when the live view (not plain lines) is used."""
        return self._use_live

    def _renderable(self) -> RenderableType:
        return render(self.state, self._clock())

    def __enter__(self) -> LiveDashboard:
        if self._use_live and self._live is None:
            self._live = Live(
                self._renderable(),
                console=self.console,
                refresh_per_second=self._refresh,
                transient=False,
                get_renderable=self._renderable,
            )
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live view (drawing it one last time). Safe to call twice."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()  # stop() draws the final state once more

    def dispatch(self, action: DashboardAction) -> DashboardState:
        """Apply ``action``, redraw (or log a line), and return the new state."""
        before = self.state
        self.state = reduce(before, action, now=self._clock())
        if self._live is not None:
            self._live.refresh()  # get_renderable draws the new state
        elif not self._use_live:
            line = describe(before, action, self.state)
            if line is not None:
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        return self.state

    def dispatch_all(self, actions: Sequence[DashboardAction]) -> DashboardState:
        """Apply several actions in order."""
        for action in actions:
            self.dispatch(action)
        return self.state

    def print_summary(self) -> None:
        """Print the summary table (after the run)."""
        self.console.print(render_summary(self.state, self._clock()))
