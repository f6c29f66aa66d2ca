"""Make the pictures of the docs from real runs on the local backend (``make pictures``).

- ``docs/images/terminal.svg``: the terminal view (``LiveDashboard``'s panel)
  at the end of the demo's run, exported with rich's ``Console.export_svg``.
- ``docs/images/web-*.png``: the web dashboard (runs table, a run page,
  compare, phone width in dark mode) from real runs, screenshot by Chromium
  driven by Playwright (``tools/web_pictures.py``; skipped without them).
- ``docs/images/notebook.png``: the notebook view (``LiveView``'s final HTML
  frame) of a run stopped by its divergence rule, screenshot by headless
  Chromium (``--chromium PATH``; without one, ``notebook.svg`` is the frame's
  plot alone).

Not part of CI: the pictures are committed; rerun this after a change to the views.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reactivex import Observable
from reactivex import operators as ops
from rich.console import Console

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.cli.demo import DEMO_SMOOTHING, DEMO_TICKET, demo_rules
from arkor_rx.dashboard import (
    CheckpointAnswer,
    DashboardState,
    JobSubmitted,
    LiveDashboard,
    RunFinished,
    RunStatus,
    RunStopped,
    render,
)
from arkor_rx.events import TrainingEvent
from arkor_rx.notebook import LiveView
from arkor_rx.server import LocalServer, ServerConfig
from arkor_rx.server.demo_data import SYSTEM_PROMPT
from arkor_rx.stopping import StopDecision

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


async def terminal_picture(client: ax.ArkorClient) -> None:
    """The demo's run (60 steps, its rules and its question), drawn as the terminal view."""
    quiet = Console(file=io.StringIO())
    view = LiveDashboard(quiet, live=False, state=DashboardState(smoothing=DEMO_SMOOTHING))

    async def on_event(ctx: Any) -> None:
        view.dispatch(ctx.event)

    async def on_checkpoint(ctx: Any) -> None:
        view.dispatch(ctx.event)
        reply = await ctx.infer(
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": DEMO_TICKET},
            ],
            max_tokens=40,
        )
        view.dispatch(CheckpointAnswer(ctx.step, await reply.text(), prompt=DEMO_TICKET))

    trainer = ax.create_trainer(
        name="triage-demo",
        model="unsloth/gemma-4-E4B-it",
        dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
        max_steps=60,
        logging_steps=2,
        eval_steps=5,
        save_steps=20,
        seed=0,
        callbacks={
            "on_log": on_event,
            "on_started": on_event,
            "on_checkpoint": on_checkpoint,
            "on_completed": on_event,
            "on_failed": on_event,
        },
        early_stopping=demo_rules(),
        client=client,
    )
    view.dispatch(JobSubmitted(await trainer.start(), name=trainer.name, max_steps=60))
    result = await trainer.wait()
    if result.stop is not None:
        view.dispatch(RunStopped(result.stop))
    view.dispatch(
        RunFinished(RunStatus.COMPLETED if result.status == "completed" else view.state.status)
    )
    console = Console(record=True, width=100, file=io.StringIO(), force_terminal=True)
    console.print(render(view.state, now=view.state.finished_at or 0.0))
    (OUT / "terminal.svg").write_text(console.export_svg(title="arkor-rx demo"), encoding="utf-8")


async def notebook_frame(client: ax.ArkorClient) -> str:
    """The notebook's diverging run, drawn by LiveView: its final HTML frame."""
    view = LiveView(smoothing=0.9, display=lambda html, text: None)
    rules = [aop.divergence("loss", factor=3.0, smoothing=0.9, warmup_steps=10), aop.non_finite()]
    trainer = ax.create_trainer(
        name="too-hot",
        model="arkor/triage-tiny",
        dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
        max_steps=300,
        learning_rate=5e-3,
        warmup_steps=40,
        lr_scheduler_type="constant",
        logging_steps=1,
        eval_steps=10,
        seed=7,
        client=client,
    )
    stop: Callable[[Observable[TrainingEvent]], Observable[TrainingEvent | StopDecision]]
    stop = aop.stop_when(*rules)
    stopped: Observable[TrainingEvent | StopDecision] = trainer.events().pipe(stop)
    await stopped.pipe(aop.to_sink(view), ops.to_list())
    await trainer.cancel()
    return view.html


def notebook_picture(frame: str, chromium: str | None) -> None:
    """A screenshot of the frame as a notebook shows it (or its plot alone, without Chromium)."""
    if chromium is None:
        svg = frame[frame.index("<svg") : frame.index("</svg>") + 6]
        (OUT / "notebook.svg").write_text(svg, encoding="utf-8")
        return
    page = f"<!doctype html><meta charset=utf-8><body style='margin:12px'>{frame}</body>"
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "frame.html"
        html.write_text(page, encoding="utf-8")
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--screenshot={OUT / 'notebook.png'}",
                "--window-size=780,500",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


async def runs() -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    async with (
        LocalServer(ServerConfig(step_delay=0.0)) as server,
        ax.ArkorClient(server.url, server.token, "local", "demo") as client,
    ):
        await terminal_picture(client)
        return await notebook_frame(client)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium"), help="headless Chromium")
    args = parser.parse_args()
    notebook_picture(asyncio.run(runs()), args.chromium)
    import importlib.util

    if args.chromium and importlib.util.find_spec("playwright") is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from web_pictures import web_pictures

        asyncio.run(web_pictures(OUT, args.chromium))
    else:
        print("web dashboard pictures skipped: needs chromium and playwright", file=sys.stderr)
    print(f"pictures written to {OUT}", file=sys.stderr)
