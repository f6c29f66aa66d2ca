"""The web dashboard beside a command: ``--dashboard`` for ``serve`` and ``demo``, and its start.

``arkor-rx dashboard``, ``serve --dashboard`` and ``demo --dashboard`` use
these helpers, so the three commands print the same lines, and none of them
imports another command's module (Rule 4 of [`arkor_rx.cli`][arkor_rx.cli]).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from arkor_rx.cli._common import port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard import WebDashboard
    from arkor_rx.sinks import Sink

__all__ = ["add_dashboard_flag", "dashboard_beside", "follow_backend", "start_dashboard"]


def add_dashboard_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--dashboard`` and ``--dashboard-port`` (for ``serve`` and ``demo``)."""
    parser.add_argument(
        "--dashboard", action="store_true", help="also serve the web dashboard and print its URL"
    )
    parser.add_argument(
        "--dashboard-port",
        type=port,
        default=8766,
        metavar="PORT",
        help="the web dashboard's port (default 8766; 0: any)",
    )


async def start_dashboard(
    host: str, port_number: int, client: ArkorClient | None = None
) -> WebDashboard:
    """Start a dashboard and print its URL (and the warning for a non-loopback host)."""
    from arkor_rx.dashboard.web import WebDashboard, exposed_warning

    warning = exposed_warning(host)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    view = WebDashboard(host, port_number, client=client, warn=False)
    await view.start()
    print(f"dashboard: {view.url}", flush=True)
    return view


@contextlib.asynccontextmanager
async def dashboard_beside(
    args: argparse.Namespace, client: ArkorClient
) -> AsyncIterator[list[Sink]]:
    """``demo --dashboard``: a dashboard sink on loopback for the run(s), or no sink."""
    if not getattr(args, "dashboard", False):
        yield []
        return
    view = await start_dashboard("127.0.0.1", args.dashboard_port, client)
    try:
        yield [view]
    finally:
        await view.aclose()


async def follow_backend(client: ArkorClient, host: str, port_number: int) -> None:
    """Serve a dashboard of every job of ``client`` until cancelled.

    Raises:
        ArkorError: the job list cannot be read at start (a wrong token, no server ...).
    """
    from arkor_rx.dashboard.web._follow import BackendFollower

    view = await start_dashboard(host, port_number, client)
    try:
        follower = BackendFollower(client, view)
        await follower.poll_once()
        await follower.run()
    finally:
        await view.aclose()
