"""The ``arkor-rx`` command: serve the local backend, run the demo, watch a job.

Usage::

    arkor-rx serve [--host 127.0.0.1] [--port 8765] [--data-dir DIR] [--token T]
    arkor-rx demo [--chaos] [--steps N] [--learning-rate X] [--seed S] [--no-live]
    arkor-rx demo --sweep [--max-concurrent N] [--steps N] [--seed S] [--no-live]
    (demo, watch and replay also take --tensorboard DIR --mlflow URI
     --prometheus PORT --webhook URL --record FILE --csv FILE)
    arkor-rx watch JOB_ID | --all
    arkor-rx record JOB_ID FILE
    arkor-rx replay FILE [--speed X]
    arkor-rx dashboard [--host 127.0.0.1] [--port 8766] [--replay FILE ...]
    (serve and demo also take --dashboard [--dashboard-port PORT])
    arkor-rx jobs [--limit N]
    arkor-rx cancel JOB_ID
    arkor-rx version

Rule 1: a user mistake (a bad flag, an unreachable server, a wrong token) is
one line on stderr, ``arkor-rx: error: <what went wrong>``, and a non-zero
exit status; never a traceback. Only bugs show tracebacks.

Rule 2: exit statuses: 0 for a completed or early-stopped run (and for a
server stopped with Ctrl-C); 1 for a failed run or an error; 2 for a usage
error; 130 when Ctrl-C interrupted a run (the job is cancelled first).

Rule 3: one module per command. A command module has ``add_parser(subparsers)``
(adds its subcommand and flags, returns the subparser) and ``run(args) -> int``
(sync, or async: it is then run with ``asyncio.run``); adding a command is a
new module plus one entry in [`COMMANDS`][arkor_rx.cli.COMMANDS]. What commands share lives in
`arkor_rx.cli._common` (exit codes, argument types, the one-line error)
and `arkor_rx.cli._live` (the live view of a run).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from arkor_rx.cli import cancel, dashboard, demo, jobs, record, replay, serve, version, watch
from arkor_rx.cli._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    Parser,
    UsageError,
    fail,
)
from arkor_rx.errors import ArkorError

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "UsageError",
    "build_parser",
    "main",
]


class Command(Protocol):
    """What a command module provides (see Rule 3)."""

    def add_parser(self, subparsers: Subparsers) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace) -> int | Coroutine[Any, Any, int]: ...


COMMANDS: tuple[Command, ...] = (
    serve,
    demo,
    watch,
    record,
    replay,
    dashboard,
    jobs,
    cancel,
    version,
)
"""The subcommands, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``arkor-rx`` (usage errors raise
    [`UsageError`][arkor_rx.cli.UsageError])."""
    parser = Parser(
        prog=PROG,
        description="Follow Arkor fine-tuning runs live; run the local backend and its demo.",
    )
    from arkor_rx.protocol import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``arkor-rx`` with ``argv`` (default: the process arguments).

    Args:
        argv: the arguments after the program name.

    Returns:
        The exit status (see the module docstring); the console script exits with it.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        prog = str(exc).split(": error:", 1)[0]  # "arkor-rx demo": point at its own help
        print(f"{exc} (see {prog} --help)", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version exit 0 by design
        return exc.code if isinstance(exc.code, int) else EXIT_OK

    try:
        status = args.run(args)
        if inspect.iscoroutine(status):
            status = asyncio.run(status)
        assert isinstance(status, int)
        return status
    except ArkorError as exc:
        return fail(str(exc))
    except OSError as exc:  # e.g. the port is taken
        return fail(exc.strerror or str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
