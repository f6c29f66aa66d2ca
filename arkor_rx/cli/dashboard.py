"""Serve a web dashboard of every job of the backend (ARKOR_CLOUD_API_URL, ARKOR_TOKEN
... as for the other commands), or of recordings. Binds 127.0.0.1; reach it from
elsewhere with an SSH tunnel.

Rule 1: without ``--replay`` it follows every job of the backend configured
like ``ArkorClient.from_env()`` (`arkor_rx.dashboard.web._follow`); a
backend that cannot be listed at start is the one-line error. With
``--replay FILE ...`` it shows the recordings only, with no backend (cancel
and the playground are then refused), each read through
[`replay`][arkor_rx.replay.replay] into the dashboard with
[`to_sink`][arkor_rx.operators.to_sink]: off the event loop (a FIFO or a slow
disk never stops the pages' streams), each file opened once. A file that
cannot be read, or a bad line, is one line on stderr; the events before it
stay shown, and the dashboard serves on.

Rule 2: it prints the URL (which holds the launch token) on stdout, a
warning on stderr when ``--host`` is not loopback, and serves until Ctrl-C
(exit 0).

Rule 3: ``serve --dashboard`` and ``demo --dashboard`` start theirs with the
same helpers (``arkor_rx.cli._web``), so the three commands print the same lines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from arkor_rx.cli._common import EXIT_OK, fail, port
from arkor_rx.cli._web import follow_backend, start_dashboard

if TYPE_CHECKING:
    from reactivex import Observable

    from arkor_rx.dashboard import WebDashboard
    from arkor_rx.events import TrainingEvent

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=8766, help="port (default 8766; 0: any)")
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="FILE",
        default=None,
        help="show these recordings instead of a backend's jobs",
    )


async def _show_recordings(view: WebDashboard, files: list[str]) -> None:
    """Show each recording in turn, read through ``ax.replay`` (Rule 1)."""
    from reactivex import operators as ops

    from arkor_rx import operators as aop
    from arkor_rx.replay import ReplayError, replay

    for file in files:
        try:
            events: Observable[TrainingEvent] = replay(file).pipe(
                aop.to_sink(view, name=Path(file).name)
            )
            shown = await events.pipe(ops.count())
        except ReplayError as exc:  # a missing file, a bad line: the events before it stay
            print(f"arkor-rx dashboard: {exc}", file=sys.stderr, flush=True)
            continue
        if shown == 0:
            print(f"arkor-rx dashboard: {file}: the recording holds no events", file=sys.stderr)


async def run(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C."""
    try:
        if args.replay:
            for file in args.replay:  # a missing file fails before serving; none is opened here
                try:
                    os.stat(file)
                except OSError as exc:
                    return fail(f"{file}: {exc.strerror or exc}")
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
