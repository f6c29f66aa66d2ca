"""``arkor-rx serve``: run the local training backend until Ctrl-C.

Rule 1: the bearer token is printed only when ``serve`` generated it, so the
user can pass it on; a token the user gave is never echoed.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from arkor_rx.cli._common import EXIT_OK, non_negative_float, port

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``serve`` and its flags."""
    parser = subparsers.add_parser(
        "serve",
        help="run the local training backend",
        description="Run the local Arkor-compatible backend (loopback only by default). "
        "Every request needs the bearer token; one is generated and printed when "
        "--token is not given.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=8765, help="port (0: any free one)")
    parser.add_argument("--data-dir", default=None, help="where jobs and checkpoints are kept")
    parser.add_argument("--token", default=None, help="bearer token to require (default: random)")
    parser.add_argument(
        "--step-delay",
        type=non_negative_float,
        default=None,
        help="seconds to wait between training steps (to make runs watchable)",
    )
    return parser


async def run(args: argparse.Namespace) -> int:
    """Serve until cancelled (Ctrl-C); exit 0."""
    from arkor_rx.server import LocalServer, ServerConfig, serve

    config = ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        token=args.token,
        step_delay=args.step_delay if args.step_delay is not None else 0.0,
    )

    def ready(server: LocalServer) -> None:
        print(f"listening on {server.url}", flush=True)
        if server.token_generated:
            print(f"token: {server.token}", flush=True)
        print("press Ctrl-C to stop", flush=True)

    try:
        await serve(config, ready=ready)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task
        print("stopped", flush=True)
        return EXIT_OK
    return EXIT_OK  # pragma: no cover - serve() only returns when cancelled
