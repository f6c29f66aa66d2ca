"""``arkor-rx dashboard``: every job of the backend (or recordings) live in a browser.

Rule 1: without ``--replay`` it follows every job of the backend configured
like ``ArkorClient.from_env()`` (`arkor_rx.dashboard.web._follow`); a
backend that cannot be listed at start is the one-line error. With
``--replay FILE ...`` it shows the recordings only, with no backend (cancel
and the playground are then refused).

Rule 2: it prints the URL (which holds the launch token) on stdout, a
warning on stderr when ``--host`` is not loopback, and serves until Ctrl-C
(exit 0).

Rule 3: ``serve --dashboard`` and ``demo --dashboard`` start theirs with the
same helpers (``arkor_rx.cli._web``), so the three commands print the same lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from arkor_rx.cli._commands import HELP
from arkor_rx.cli._common import EXIT_OK, port
from arkor_rx.cli._web import follow_backend, start_dashboard

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers
    from arkor_rx.dashboard import WebDashboard

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``dashboard`` and its flags."""
    parser = subparsers.add_parser(
        "dashboard",
        help=HELP["dashboard"],
        description="Serve a web dashboard of every job of the backend "
        "(ARKOR_CLOUD_API_URL, ARKOR_TOKEN ... as for the other commands), or of "
        "recordings. Binds 127.0.0.1; reach it from elsewhere with an SSH tunnel.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=8766, help="port (default 8766; 0: any)")
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="FILE",
        default=None,
        help="show these recordings instead of a backend's jobs",
    )
    return parser


async def _show_recordings(view: WebDashboard, files: list[str]) -> None:
    from arkor_rx.replay import ReplayError

    for file in files:
        try:
            await _show_recording(view, file)
        except ReplayError as exc:  # the events before the bad line stay shown
            print(f"arkor-rx dashboard: {exc}", file=sys.stderr, flush=True)


async def _show_recording(view: WebDashboard, file: str) -> None:
    from arkor_rx.events import TrainingCompleted, TrainingFailed
    from arkor_rx.jobs import TrainingJob
    from arkor_rx.replay import read_recording
    from arkor_rx.sinks import Outcome

    opened: set[str] = set()
    with contextlib.closing(read_recording(file)) as records:
        for count, (event, _) in enumerate(records):
            if event.job_id not in opened:
                opened.add(event.job_id)
                name = Path(file).name if len(opened) == 1 else f"{Path(file).name} #{len(opened)}"
                await view.open(TrainingJob(id=event.job_id, name=name, status="running"))
            await view.write([event])
            if isinstance(event, TrainingCompleted):
                await view.close(Outcome("completed", event.job_id))
            elif isinstance(event, TrainingFailed):
                await view.close(Outcome("failed", event.job_id, error=event.error))
            if count % 256 == 0:
                await asyncio.sleep(0)  # let pages be served while a long file is read


async def run(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C."""
    try:
        if args.replay:
            from arkor_rx.replay import read_recording

            for file in args.replay:  # an unreadable file fails here, as one line, before serving
                with contextlib.closing(read_recording(file)) as check:
                    next(check, None)
            view = await start_dashboard(args.host, args.port)
            try:
                await _show_recordings(view, args.replay)
                await asyncio.Event().wait()  # serve until Ctrl-C
            finally:
                await view.aclose()
        else:
            from arkor_rx.client import ArkorClient

            async with ArkorClient.from_env() as client:
                await follow_backend(client, args.host, args.port)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task
        print("stopped", flush=True)
    return EXIT_OK
