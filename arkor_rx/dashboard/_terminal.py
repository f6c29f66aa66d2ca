"""The terminal renderer: pure functions from the views' state to rich renderables.

Rule 1: every function here is pure: the same state and ``now`` give the same
drawing, so each figure is tested on a captured ``Console``.

Rule 2: a string from the server (a job's name or id, an error, a sample's
answer) enters a drawing through ``printable`` (no terminal control gets
through, and its length is bounded) and as a ``Text`` or escaped markup (a
name like ``[bold]x`` is shown as written).

Rule 3: the layout does not move: metric columns have fixed shares of the
width, the sparkline takes what the line leaves, and nothing wraps at 80
columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from arkor_rx._printable import NAME_CHARS, printable
from arkor_rx.dashboard._actions import RunDeployed, RunStatus
from arkor_rx.dashboard._runs import ViewState
from arkor_rx.dashboard._state import DashboardState
from arkor_rx.stopping import StopDecision

__all__ = [
    "SPARK_BLOCKS",
    "deployment_line",
    "eta_seconds",
    "render",
    "render_runs",
    "render_summary",
    "render_view",
    "sparkline",
    "stop_line",
]

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
"""The eight block characters of a sparkline, lowest first."""

STATUS_STYLE = {
    RunStatus.WAITING: "dim",
    RunStatus.RUNNING: "cyan",
    RunStatus.COMPLETED: "bold green",
    RunStatus.EARLY_STOPPED: "bold yellow",
    RunStatus.PRUNED: "bold yellow",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "bold magenta",
}


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
    """Seconds left at the average pace so far; None when it cannot be told.

    A completed run has 0 left. A failed, cancelled, stopped or pruned run has
    no time left to tell: None (shown as ``—``), never a misleading 0:00:00.
    """
    if state.status is RunStatus.COMPLETED:
        return 0.0
    if state.finished or state.max_steps is None or state.started_at is None or state.step <= 0:
        return None
    rate = state.elapsed(now) / state.step
    return max(0.0, (state.max_steps - state.step) * rate)


def clock_text(seconds: float | None) -> str:
    """``h:mm:ss``, or ``—`` for an unknown duration."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def num(value: float | None, digits: int = 4) -> str:
    """A metric as shown: fixed digits, ``—`` for none, ``nan``/``inf`` spelled out."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def stop_line(decision: StopDecision) -> str:
    """One sentence naming the rule, the step and the value it judged, then its reason.

    The value is named by what the rule monitored (a rule that smooths says
    so in its reason), so it is never mistaken for the raw loss on screen.

    Examples:
        >>> d = StopDecision("patience", "eval_loss did not improve for 3 evals", step=30,
        ...                  value=0.91, monitor="eval_loss")
        >>> stop_line(d)
        'stopped by patience at step 30 (eval_loss 0.9100): eval_loss did not improve for 3 evals'
    """
    where = f" at step {decision.step}" if decision.step is not None else ""
    what = ""
    if decision.value is not None:
        what = f" ({decision.monitor or 'value'} {num(decision.value)})"
    verb = "pruned" if decision.rule.startswith("prune.") else "stopped"
    return f"{verb} by {decision.rule}{where}{what}: {decision.reason}"


def deployment_line(deployment: RunDeployed) -> str:
    """One line per deployment: its slug, what it serves and its base URL (never a key).

    The slug and URL pass through ``printable`` (they come from the server).

    Examples:
        >>> d = RunDeployed("j1", "support-bot", "https://support-bot.arkor.app/v1", step=20)
        >>> deployment_line(d)
        'deployed support-bot: checkpoint step 20 at https://support-bot.arkor.app/v1'
    """
    off = " (disabled)" if not deployment.enabled else ""
    return (
        f"deployed {printable(deployment.slug, NAME_CHARS)}: {deployment.target} "
        f"at {printable(deployment.url, NAME_CHARS * 2)}{off}"
    )


def status_text(status: RunStatus) -> Text:
    """The status word in its colour."""
    return Text(status.value, style=STATUS_STYLE.get(status, ""))


def events_line(state: DashboardState) -> str:
    """``events: N, lost: L, repeated: R``."""
    return f"events: {state.events_seen}, lost: {state.lost}, repeated: {state.repeated}"


def shorten(text: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters, without terminal control (see ``printable``)."""
    flat = printable(" ".join(text[: limit * 4].split()), limit)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Spark:
    """A sparkline that takes exactly the width it is given (so its line never wraps)."""

    def __init__(self, values: tuple[float, ...]) -> None:
        self.values = values

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(0, options.max_width - 5)
        drawn = sparkline(self.values, width)
        yield Text.assemble(("loss ", "bold"), (drawn or "(no data yet)", "green"), no_wrap=True)


def _progress(state: DashboardState, now: float) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(ratio=1)
    grid.add_column(no_wrap=True, justify="right")
    total = state.max_steps
    bar = ProgressBar(
        total=float(total) if total else None,
        completed=float(min(state.step, total) if total else state.step),
        pulse=total is None and not state.finished,
        animation_time=now,
    )
    pct = f" {100 * min(state.step, total) / total:3.0f}%" if total else ""
    grid.add_row(
        bar,
        f"step {state.step}/{total if total else '?'}{pct}  "
        f"elapsed {clock_text(state.elapsed(now))}  ETA {clock_text(eta_seconds(state, now))}",
    )
    return grid


def _metrics(state: DashboardState) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, expand=True, pad_edge=False)
    smoothed = f"smoothed\n({state.smoothing:g})"  # the weight: views of one run agree on it
    for name in ("loss", smoothed, "eval loss", "best eval", "lr", "reconnects"):
        # Equal fixed shares: a value replacing "—" never moves a header.
        table.add_column(name, justify="right", no_wrap=True, ratio=1, overflow="ellipsis")
    best = num(state.best_eval_loss)
    if state.best_eval_step is not None:
        best += f" @{state.best_eval_step}"
    table.add_row(
        num(state.loss),
        num(state.smoothed_loss),
        num(state.eval_loss),
        best,
        "—" if state.learning_rate is None else f"{state.learning_rate:.2e}",
        str(state.reconnects),
    )
    return table


def _samples(state: DashboardState, rows: int = 4) -> Table | None:
    shown = state.checkpoints[-rows:]
    if not shown:
        return None
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, expand=True, pad_edge=False)
    table.add_column("checkpoint", justify="right", no_wrap=True, width=10)
    table.add_column("asked", ratio=2, overflow="fold")
    table.add_column("answer", ratio=3, overflow="fold")
    for view in shown:
        asked = Text(shorten(view.prompt, 80) if view.prompt else "—", style="dim")
        if view.answer is not None:
            answer = Text(shorten(view.answer), style="red" if view.error else "")
        elif state.asks_samples and not state.finished:
            answer = Text("(asking…)", style="dim")
        else:
            answer = Text("no sample asked at this checkpoint", style="dim")
        table.add_row(f"step {view.step}", asked, answer)
    return table


def render(state: DashboardState, now: float, *, width: int | None = None) -> RenderableType:
    """Draw one run: progress with ETA, metrics, loss sparkline, checkpoint samples, stop.

    Pure: the same state and ``now`` always give the same drawing.

    Args:
        state: what to show.
        now: the same clock as passed to ``reduce``, for elapsed time and ETA.
        width: a fixed panel width (the live view leaves two columns free, so
            a ``^C`` echoed by the terminal never wraps the last line).

    Returns:
        A rich renderable (a panel); print it or hand it to ``Live.update``.
    """
    title = Text.assemble(
        ("arkor-rx ", "bold"),
        (f"job {printable(state.job_id or '?', NAME_CHARS)}", "cyan"),
        (f"  {printable(state.name, NAME_CHARS)}" if state.name else "", ""),
        "  ",
        status_text(state.status),
    )
    stats = Table.grid(padding=(0, 0), expand=True)
    stats.add_column(ratio=1, no_wrap=True, overflow="crop")
    stats.add_column(no_wrap=True, justify="right")
    stats.add_row(_Spark(state.loss_history), Text("   " + events_line(state), style="dim"))
    parts: list[RenderableType] = [_progress(state, now), _metrics(state), stats]
    samples = _samples(state)
    if samples is not None:
        parts.append(samples)
    if state.stop is not None:
        parts.append(Text(stop_line(state.stop), style="yellow"))
    if state.error:
        parts.append(Text(f"error: {printable(state.error)}", style="red"))
    parts += [Text(deployment_line(d), style="green") for d in state.deployments]
    return Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED, width=width)


def render_runs(view: ViewState, now: float, *, width: int | None = None) -> RenderableType:
    """Draw many runs as one table: a row per run, the pruned and stopped ones marked.

    Args:
        view: the runs to show, in the order first seen.
        now: the clock, for each run's ETA.
        width: a fixed width (see [`render`][arkor_rx.dashboard.render]).

    Returns:
        A rich table.
    """
    runs = view.ordered
    done = sum(r.finished for r in runs)
    table = Table(
        title=f"arkor-rx  {len(runs)} runs, {done} finished",
        title_justify="left",
        box=box.ROUNDED,
        expand=True,
        width=width,
    )
    # The figures keep their own width (at 80 columns a status read "compl…");
    # the run's name and the note share what is left. A name is never cut (two
    # runs of a sweep differ only at its end): it gets its width, up to 48
    # columns, and folds onto a second line past that.
    longest = max((len(run.label) for run in runs), default=10)
    table.add_column("run", min_width=min(max(longest, 10), 48), overflow="fold")
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("step", justify="right", no_wrap=True, min_width=5)
    # what the one-run view calls "smoothed" and "best eval", not its raw and latest values
    smoothed = f"smoothed\nloss ({view.template.smoothing:g})"
    table.add_column(smoothed, justify="right", no_wrap=True, min_width=7)
    table.add_column("best\neval", justify="right", no_wrap=True, min_width=7)
    table.add_column("ETA", justify="right", no_wrap=True, min_width=7)
    table.add_column("note", ratio=1, min_width=10, overflow="fold")
    for run in runs:
        steps = f"{run.step}/{run.max_steps}" if run.max_steps else str(run.step)
        note = ""
        if run.stop is not None:
            note = ("✂ " if run.status is RunStatus.PRUNED else "") + run.stop.reason
        elif run.error:
            note = run.error
        table.add_row(
            Text(printable(run.label, NAME_CHARS)),
            status_text(run.status),
            steps,
            num(run.smoothed_loss),
            num(run.best_eval_loss),
            clock_text(eta_seconds(run, now)),
            Text(shorten(note, 120), style="yellow" if run.stop else "red"),
        )
    return table


def render_view(view: ViewState, now: float, *, width: int | None = None) -> RenderableType:
    """One run as a panel, several as the runs table with a line per deployment under it."""
    if len(view.order) > 1:
        table = render_runs(view, now, width=width)
        lines = [
            Text(f"[{printable(run.label, NAME_CHARS)}] {deployment_line(d)}", style="green")
            for run in view.ordered
            for d in run.deployments
        ]
        return Group(table, *lines) if lines else table
    return render(view.primary, now, width=width)


def render_summary(state: DashboardState, now: float) -> Table:
    """The end-of-run table: status, steps, best eval loss, accuracy, time, reconnects, events.

    The ``events`` row says ``events: N, lost: L, repeated: R``: with the
    local server (which numbers events 1, 2, 3, ...) ``lost: 0, repeated: 0``
    means every event arrived exactly once, reconnects or not.
    """
    table = Table(title="run summary", box=box.ROUNDED, show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_row("job", Text(printable(state.job_id or "?", NAME_CHARS)))
    table.add_row("status", status_text(state.status))
    steps = f"{state.step}/{state.max_steps}" if state.max_steps else str(state.step)
    table.add_row("steps", steps)
    best = num(state.best_eval_loss)
    if state.best_eval_step is not None:
        best += f" (step {state.best_eval_step})"
    table.add_row("best eval loss", best)
    table.add_row("accuracy", "—" if state.accuracy is None else f"{state.accuracy:.1%}")
    table.add_row("time", f"{state.elapsed(now):.1f} s")
    table.add_row("reconnects", str(state.reconnects))
    stream = events_line(state)
    if state.replays_skipped:
        stream += f" ({state.replays_skipped} replayed by the server, skipped by the client)"
    table.add_row("stream", stream)
    if state.stop is not None:
        table.add_row("stopped by", Text(printable(stop_line(state.stop))))
    if state.error:
        table.add_row("error", Text(printable(state.error), style="red"))
    for deployment in state.deployments:
        table.add_row("deployment", Text(deployment_line(deployment)))
    return table
