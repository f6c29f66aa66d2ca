"""The notebook renderer: pure functions from the views' state to HTML with an inline SVG plot.

Rule 1: [`render_html`][arkor_rx.dashboard._html.render_html] is pure: a
state and ``now`` in, one HTML string out. The plot is an SVG drawn by
matplotlib's SVG backend (no JavaScript, no widget), so the frame reads the
same in JupyterLab, VS Code, Colab and a static HTML export.

Rule 2: every plotted series carries a ``gid`` (``arkor-loss-raw``,
``arkor-loss-smoothed``, ``arkor-loss-eval``, ``arkor-stop``, and
``arkor-run-<n>`` for the runs of a sweep), and path simplification is off,
so the SVG holds exactly one vertex per point and a test can count them.

Rule 3: matplotlib is imported only when a plot is drawn (the ``notebook``
extra); a missing one is a one-line ``ImportError`` naming the install.
"""

from __future__ import annotations

import html
import io
import math
import re
import threading
from typing import Any

from rich.console import Console

from arkor_rx._printable import NAME_CHARS, printable
from arkor_rx.dashboard._actions import RunStatus
from arkor_rx.dashboard._runs import ViewState
from arkor_rx.dashboard._state import DashboardState
from arkor_rx.dashboard._terminal import (
    clock_text,
    deployment_line,
    eta_seconds,
    events_line,
    num,
    render_view,
    shorten,
    stop_line,
)

__all__ = ["NOTEBOOK_EXTRA", "plot_svg", "render_html", "render_text", "require_matplotlib"]

NOTEBOOK_EXTRA = "pip install 'arkor_rx[notebook]'"
"""What to install for the notebook view (matplotlib and IPython)."""

_PLOT_LOCK = threading.Lock()
"""One plot at a time: rcParams are global and the painter renders in a worker thread."""

_STATUS_COLOUR = {
    RunStatus.WAITING: "#888",
    RunStatus.RUNNING: "#1f77b4",
    RunStatus.COMPLETED: "#2ca02c",
    RunStatus.EARLY_STOPPED: "#d68910",
    RunStatus.PRUNED: "#d68910",
    RunStatus.FAILED: "#d62728",
    RunStatus.CANCELLED: "#9467bd",
}


def require_matplotlib() -> Any:
    """Import matplotlib, or fail with one line naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"the notebook view needs matplotlib: {NOTEBOOK_EXTRA}") from None
    return matplotlib


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else math.nan


def plot_svg(view: ViewState, *, width: float = 7.5, height: float = 3.0) -> str:
    """The loss curve of every run as an inline ``<svg>`` element.

    One run: raw loss, TensorBoard-smoothed loss and eval loss over the whole
    run, and a dashed line at the step a rule stopped it. Several runs: one
    smoothed curve per run, dashed for the pruned or stopped ones.

    Args:
        view: the runs to plot.
        width: figure width in inches (72 points each).
        height: figure height in inches.

    Returns:
        The ``<svg>`` markup (no XML prolog), or ``""`` when there is nothing to plot.
    """
    runs = [r for r in view.ordered if r.curve or r.evals]
    if not runs:
        return ""
    mpl = require_matplotlib()
    from matplotlib.figure import Figure

    with (
        _PLOT_LOCK,
        mpl.rc_context(
            {"path.simplify": False, "svg.hashsalt": "arkor_rx", "svg.fonttype": "none"}
        ),
    ):
        fig = Figure(figsize=(width, height), dpi=72, layout="constrained")
        ax = fig.add_subplot()
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.25)
        if len(view.order) == 1:
            _plot_one(ax, runs[0])
        else:
            for position, key in enumerate(view.order):
                _plot_run(ax, position, view.runs[key])
        ax.legend(loc="upper right", fontsize=8, frameon=False)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _plot_one(ax: Any, run: DashboardState) -> None:
    steps = [p[0] for p in run.curve]
    if steps:
        ax.plot(
            steps,
            [_finite(p[1]) for p in run.curve],
            lw=1,
            alpha=0.4,
            color="#1f77b4",
            label="loss",
            gid="arkor-loss-raw",
        )
        ax.plot(
            steps,
            [_finite(p[2]) for p in run.curve],
            lw=2,
            color="#1f77b4",
            label=f"smoothed ({run.smoothing:g})",
            gid="arkor-loss-smoothed",
        )
    if run.evals:
        ax.plot(
            [e.step for e in run.evals],
            [_finite(e.eval_loss) for e in run.evals],
            marker="o",
            ms=4,
            lw=1.5,
            color="#ff7f0e",
            label="eval loss",
            gid="arkor-loss-eval",
        )
    if run.stop is not None and run.stop.step is not None:
        ax.axvline(
            run.stop.step,
            color="#d62728",
            ls="--",
            lw=1.2,
            label=f"{run.stop.rule} @ {run.stop.step}",
            gid="arkor-stop",
        )


_LEGEND_CHARS = 40
"""The most characters of a run's name in the legend (a longer one would not fit the plot)."""


def _plot_text(text: str) -> str:
    """A server's string as matplotlib text: bounded, no control characters, and
    literal (``$\\foo$`` is not mathtext; a leading ``_`` does not hide it from the legend).
    """
    shown = printable(text, _LEGEND_CHARS).replace("$", r"\$")
    return "\u200b" + shown if shown.startswith("_") else shown


def _plot_run(ax: Any, position: int, run: DashboardState) -> None:
    if not run.curve:
        return
    marked = run.status.stopped
    label = _plot_text(run.label) + (" (pruned)" if run.status is RunStatus.PRUNED else "")
    ax.plot(
        [p[0] for p in run.curve],
        [_finite(p[2]) for p in run.curve],
        lw=1.6,
        ls="--" if marked else "-",
        label=label,
        gid=f"arkor-run-{position}",
    )


# --------------------------------------------------------------------------- HTML

_STYLE = (
    "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;"
    "line-height:1.4;max-width:760px"
)
_TABLE = "border-collapse:collapse;margin:6px 0;font-size:12px"
_CELL = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:{align}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _name(text: str) -> str:
    """A server's name or id as HTML: bounded (a 400,000-character name costs
    nothing per frame) and escaped."""
    return _e(printable(text, NAME_CHARS))


def _table(
    cls: str, head: list[str], rows: list[list[str]], *, classes: list[str] | None = None
) -> str:
    """A plain table; cells are already-escaped HTML."""
    th = "".join(
        f'<th style="{_CELL.format(align="left" if i == 0 and h != "Step" else "right")}">'
        f"{_e(h)}</th>"
        for i, h in enumerate(head)
    )
    body = []
    for n, row in enumerate(rows):
        cls_attr = f' class="{classes[n]}"' if classes else ""
        tds = "".join(f'<td style="{_CELL.format(align="left")}">{cell}</td>' for cell in row)
        body.append(f"<tr{cls_attr}>{tds}</tr>")
    return (
        f'<table class="{cls}" style="{_TABLE}"><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _status(status: RunStatus) -> str:
    colour = _STATUS_COLOUR.get(status, "#888")
    return (
        f'<span class="arkor-status" data-status="{status.value}" '
        f'style="color:{colour};font-weight:600">{status.value}</span>'
    )


def _progress(run: DashboardState, now: float) -> str:
    total = run.max_steps
    bar = ""
    if total:
        bar = (
            f'<progress value="{min(run.step, total)}" max="{total}" '
            'style="width:45%;vertical-align:middle"></progress> '
        )
    pct = f" ({100 * min(run.step, total) / total:.0f}%)" if total else ""
    return (
        f'<div class="arkor-progress">{bar}step {run.step}/{total or "?"}{pct}'
        f" · elapsed {clock_text(run.elapsed(now))} · ETA {clock_text(eta_seconds(run, now))}</div>"
    )


EVAL_ROWS = 20
"""The latest evaluations the notebook's table shows (a frame's size does not
grow with the run: the plot shows the whole curve)."""


def _evals(run: DashboardState) -> str:
    if not run.evals:
        return ""
    shown = run.evals[-EVAL_ROWS:]
    rows = [[str(e.step), num(e.loss), num(e.smoothed_loss), num(e.eval_loss)] for e in shown]
    table = _table("arkor-evals", ["Step", "Training Loss", "Smoothed", "Validation Loss"], rows)
    if len(shown) < len(run.evals):
        note = f"the latest {len(shown)} evaluations (the plot shows the whole run)"
        table = f'<div class="arkor-evals-more">{note}</div>{table}'
    return table


def _samples(run: DashboardState) -> str:
    if not run.checkpoints:
        return ""
    rows = []
    for c in run.checkpoints:
        if c.answer is not None:
            said = _e(c.answer)
            if c.error:
                said = f'<span style="color:#d62728">{said}</span>'
        elif run.asks_samples and not run.finished:
            said = "<i>(asking…)</i>"
        else:
            said = "<i>no sample asked at this checkpoint</i>"
        rows.append([str(c.step), _e(c.prompt) if c.prompt else "—", said])
    return _table("arkor-samples", ["Step", "Asked", "Answer"], rows)


def _deployments(run: DashboardState, *, named: bool = False) -> str:
    """One escaped line per deployment (the URL as text, never a link: it is the server's)."""
    prefix = f"[{printable(run.label, NAME_CHARS)}] " if named else ""
    div = '<div class="arkor-deployment" style="color:#2ca02c">'
    return "".join(f"{div}{_e(prefix + deployment_line(d))}</div>" for d in run.deployments)


def _one(run: DashboardState, now: float, svg: str) -> list[str]:
    parts = [
        f'<div class="arkor-head">{f"<b>{_name(run.name)}</b> " if run.name else ""}'
        f"<code>{_name(run.job_id or '?')}</code> {_status(run.status)}</div>",
        _progress(run, now),
    ]
    if run.stop is not None:
        parts.append(f'<p class="arkor-stop" style="color:#b9770e">{_e(stop_line(run.stop))}</p>')
    if run.error:
        error = _e(printable(run.error))
        parts.append(f'<p class="arkor-error" style="color:#d62728">error: {error}</p>')
    parts += [_deployments(run), svg, _evals(run), _samples(run)]
    parts.append(f'<div class="arkor-stream" style="color:#888">{_e(events_line(run))}</div>')
    return parts


def _many(view: ViewState, now: float, svg: str) -> list[str]:
    runs = view.ordered
    rows, classes = [], []
    for run in runs:
        note = ""
        if run.stop is not None:
            note = ("✂ pruned: " if run.status is RunStatus.PRUNED else "") + run.stop.reason
        elif run.error:
            note = run.error
        steps = f"{run.step}/{run.max_steps}" if run.max_steps else str(run.step)
        rows.append(
            [
                _name(run.label),
                _status(run.status),
                steps,
                num(run.smoothed_loss),
                num(run.best_eval_loss),
                clock_text(eta_seconds(run, now)),
                _e(shorten(note, 200)),
            ]
        )
        classes.append("arkor-run" + (" arkor-pruned" if run.status is RunStatus.PRUNED else ""))
    done = sum(r.finished for r in runs)
    head = ["Run", "Status", "Step", "Smoothed loss", "Best eval", "ETA", "Note"]
    return [
        f'<div class="arkor-head"><b>{len(runs)} runs</b>, {done} finished</div>',
        svg,
        _table("arkor-runs", head, rows, classes=classes),
        *(_deployments(run, named=True) for run in runs),
    ]


def render_html(view: ViewState, now: float, *, plot: bool = True) -> str:
    """One frame of the notebook view as an HTML fragment (no script, inline SVG).

    Pure: the same state and ``now`` give the same HTML.

    Args:
        view: the runs to show.
        now: the clock, for elapsed time and ETA.
        plot: draw the loss curve (needs matplotlib).

    Returns:
        An HTML ``<div class="arkor-live">`` fragment.
    """
    svg = ""
    if plot:
        svg = plot_svg(view)
        if svg:
            svg = f'<div class="arkor-plot">{svg}</div>'
    parts = _many(view, now, svg) if len(view.order) > 1 else _one(view.primary, now, svg)
    return f'<div class="arkor-live" style="{_STYLE}">' + "".join(p for p in parts if p) + "</div>"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def render_text(view: ViewState, now: float, *, width: int = 100) -> str:
    """The same frame as plain text (the terminal renderer), for frontends without HTML."""
    # force_jupyter=False: inside a kernel rich would otherwise display the frame
    # itself (a panel under the cell per frame) and leave the buffer empty.
    console = Console(
        file=io.StringIO(),
        width=width,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
    )
    console.print(render_view(view, now))
    out = console.file
    assert isinstance(out, io.StringIO)
    return _ANSI.sub("", out.getvalue())
