"""The ``arkor-rx`` command: serve the local backend, run the demo, watch a job.

Every command and flag is documented in docs/reference/cli.md, which
``tools/cli_docs.py`` renders from [`build_parser`][arkor_rx.cli.build_parser]
(a test fails when the page is out of date): ``arkor-rx COMMAND --help``
shows the same.

Rule 1: a user mistake (a bad flag, a path that cannot be written, an
unreachable server, a wrong token) is one line on stderr, ``arkor-rx: error:
<what went wrong>``, and a non-zero exit status; never a traceback. Only bugs
show tracebacks.

Rule 2: exit statuses: 0 for a completed or early-stopped run (and for a
server stopped with Ctrl-C); 1 for a failed run, a sink that failed during
the run, or an error; 2 for a usage error; 130 when Ctrl-C interrupted a run
(the job is cancelled first). ``EXIT_MEANINGS`` in ``arkor_rx.cli._common``
says so for the reference page.

Rule 3: one module per command. A command module has ``add_parser(subparsers)``
(adds its subcommand and flags, returns the subparser) and ``run(args) -> int``
(sync, or async: it is then run with ``asyncio.run``); adding a command is a
new module plus one entry in [`COMMANDS`][arkor_rx.cli.COMMANDS], then
``python tools/cli_docs.py`` to add it to the reference and the README's
table. What commands share lives in `arkor_rx.cli._common` (exit codes,
argument types, the one-line error), `arkor_rx.cli._live` (the live view of
a run) and `arkor_rx.cli._checks` (the sinks' targets, checked before a run).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from arkor_rx.cli import (
    cancel,
    demo,
    deploy,
    deployments,
    jobs,
    keys,
    record,
    replay,
    serve,
    undeploy,
    version,
    watch,
)
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
    *(serve, demo, watch, record, replay, jobs, cancel, version),
    *(deploy, deployments, undeploy, keys),
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
