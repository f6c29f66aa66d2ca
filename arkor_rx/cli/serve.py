"""Run the local Arkor-compatible backend (loopback only by default). Every request
needs the bearer token; one is generated and printed when --token is not given.

Rule 1: once listening, ``serve`` prints everything a user needs to connect,
ready to paste: the ``export`` line and the ``ArkorClient(...)`` call hold the
real token, the generated one or the ``--token`` the user typed (shell-quoted).
It goes to this process's stdout, the user's own terminal, as the generated
token always did; nothing is logged, and the server never puts the token in a
URL or a log line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from arkor_rx.cli._common import EXIT_OK, non_negative_float, port, positive_float, positive_int
from arkor_rx.cli._web import add_dashboard_flag

__all__ = ["ORG_SLUG", "PROJECT_SLUG", "add_arguments", "connect_text", "run"]

ORG_SLUG = "local"
"""The org slug the connection hint suggests (the local backend records, not enforces, it)."""
PROJECT_SLUG = "demo"
"""The project slug the connection hint suggests."""


def connect_text(url: str, token: str, *, generated: bool = True) -> str:
    """What ``serve`` prints once listening: everything a user needs to connect.

    Args:
        url: the server's base URL.
        token: the bearer token the server requires.
        generated: the server made the token up (it is then shown on its own
            line too); False when the user gave it with ``--token``.

    Examples:
        >>> print(connect_text("http://127.0.0.1:8765", "t0k"))  # doctest: +NORMALIZE_WHITESPACE
        listening on http://127.0.0.1:8765
        token: t0k
        connect from a shell (paste both lines; then `arkor-rx watch JOB_ID` follows a job):
          export ARKOR_CLOUD_API_URL=http://127.0.0.1:8765 ARKOR_TOKEN=t0k \\
                 ARKOR_ORG_SLUG=local ARKOR_PROJECT_SLUG=demo
        or from Python (then ax.ArkorClient.from_env() works too):
          ax.ArkorClient("http://127.0.0.1:8765", token="t0k", org_slug="local",
                         project_slug="demo")
        press Ctrl-C to stop
    """
    lines = [f"listening on {url}"]
    if generated:
        lines.append(f"token: {token}")
    lines += [
        "connect from a shell (paste both lines; then `arkor-rx watch JOB_ID` follows a job):",
        f"  export ARKOR_CLOUD_API_URL={shlex.quote(url)} ARKOR_TOKEN={shlex.quote(token)} \\",
        f"         ARKOR_ORG_SLUG={ORG_SLUG} ARKOR_PROJECT_SLUG={PROJECT_SLUG}",
        "or from Python (then ax.ArkorClient.from_env() works too):",
        f'  ax.ArkorClient("{url}", token={json.dumps(token)}, org_slug="{ORG_SLUG}",',
        f'                 project_slug="{PROJECT_SLUG}")',
        "press Ctrl-C to stop",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags."""
    _add_server_flags(parser)
    _add_training_flags(parser)
    _add_timeout_flags(parser)
    add_dashboard_flag(parser)


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    """Where the server listens, where it keeps jobs, the token it requires."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to bind (default %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=port,
        default=8765,
        metavar="PORT",
        help="port (default %(default)s; 0: any free one)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="where jobs and checkpoints are kept (default: in memory, lost at exit)",
    )
    parser.add_argument(
        "--token",
        default=None,
        metavar="TOKEN",
        help="bearer token to require (default: a random one, printed)",
    )


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    """How jobs train: their pace, the datasets they may read, how many at once."""
    parser.add_argument(
        "--step-delay",
        type=non_negative_float,
        metavar="SECONDS",
        default=None,
        help="seconds to wait between training steps, to make runs watchable (default 0)",
    )
    parser.add_argument(
        "--dataset-root",
        action="append",
        default=None,
        metavar="DIR",
        help="a folder file:// datasets may be read from (repeatable; default: the "
        "current folder and the data dir)",
    )
    parser.add_argument(
        "--max-concurrent-jobs",
        type=positive_int,
        default=None,
        metavar="N",
        help="jobs training at once; more wait as queued (default: the number of CPUs)",
    )


def _add_timeout_flags(parser: argparse.ArgumentParser) -> None:
    """How long a slow client may take to send a request."""
    parser.add_argument(
        "--header-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="close a connection that has not sent a whole request head by then (default 20)",
    )
    parser.add_argument(
        "--body-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="answer 408 to a request body not received by then (default 30)",
    )


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
    server_options = {
        "dataset_roots": args.dataset_root,
        "max_concurrent_jobs": args.max_concurrent_jobs,
        "header_timeout": args.header_timeout,
        "body_timeout": args.body_timeout,
    }

    beside: list[asyncio.Task[None]] = []

    def ready(server: LocalServer) -> None:
        text = connect_text(server.url, server.token, generated=server.token_generated)
        print(text, flush=True)
        if args.dashboard:
            beside.append(asyncio.get_running_loop().create_task(_dashboard(server, args)))

    try:
        await serve(config, ready=ready, **server_options)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task
        for task in beside:
            task.cancel()
        await asyncio.gather(*beside, return_exceptions=True)
        print("stopped", flush=True)
        return EXIT_OK
    return EXIT_OK  # pragma: no cover - serve() only returns when cancelled


async def _dashboard(server: Any, args: argparse.Namespace) -> None:
    """``--dashboard``: every job of this server in the web dashboard (on loopback).

    Any failure of the dashboard (its port taken, the job list refused, a bug)
    is one line on stderr; the backend goes on without it.
    """
    from arkor_rx._printable import printable
    from arkor_rx.cli._web import follow_backend
    from arkor_rx.client import ArkorClient
    from arkor_rx.errors import ArkorError

    try:
        async with ArkorClient(server.url, server.token, ORG_SLUG, PROJECT_SLUG) as client:
            await follow_backend(client, "127.0.0.1", args.dashboard_port)
        return
    except OSError as exc:  # the port is taken
        detail = exc.strerror or str(exc)
    except ArkorError as exc:  # the job list refused (the client redacts its token)
        detail = str(exc)
    except Exception as exc:  # a bug: still one line, never a silent end
        detail = f"{type(exc).__name__}: {exc}"
    line = " ".join(printable(detail).splitlines())
    print(
        f"arkor-rx serve: error: dashboard: {line} (the backend goes on without it)",
        file=sys.stderr,
        flush=True,
    )
