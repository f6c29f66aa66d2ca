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

Rule 3: one module per command. A command module's docstring opens with
the paragraph its ``--help`` shows (its description: written for users,
the module's rules follow it; under ``python -OO``, which drops docstrings,
``--help`` shows the one-line help instead); the module has ``add_arguments(parser)``
(adds its flags) and ``run(args) -> int`` (sync, or async: it is then run
with ``asyncio.run``). [`build_parser`][arkor_rx.cli.build_parser] makes
every subcommand, with its one-line help from `arkor_rx.cli._commands`.
Adding a command is a new module plus its line in each table of
`arkor_rx.cli._commands` (its module and its one-line help), then ``python
tools/cli_docs.py`` to add it to the reference and the README's table. What
commands share lives in `arkor_rx.cli._common` (exit codes, argument types,
the one-line error), `arkor_rx.cli._live` (the live view of a run) and
`arkor_rx.cli._checks` (the sinks' targets, checked before a run).

Rule 4: a command imports only what it uses. [`main`][arkor_rx.cli.main]
loads the module of the one command named on the command line; ``--help``
and ``--version`` load none (a test holds every command to this).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from arkor_rx._version import __version__
from arkor_rx.cli._commands import HELP, MODULES, load
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

__all__ = [
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

    __doc__: str | None
    """Its first paragraph is what ``arkor-rx COMMAND --help`` shows under the usage."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int | Coroutine[Any, Any, int]: ...


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``arkor-rx`` (usage errors raise
    [`UsageError`][arkor_rx.cli.UsageError]).

    Args:
        only: load just this command's module and flags; the others are listed
            by name and help only. ``""`` loads none (enough for ``--help``);
            None, the default, loads them all (the reference page).
    """
    parser = Parser(
        prog=PROG,
        description="Follow Arkor fine-tuning runs live; run the local backend and its demo.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in MODULES:
        if only is None or name == only:
            command = load(name)
            own = sub.add_parser(
                name, help=HELP[name], description=_description(command) or HELP[name]
            )
            command.add_arguments(own)
            own.set_defaults(run=command.run)
        else:
            sub.add_parser(name, help=HELP[name])
    return parser


def _description(command: Command) -> str | None:
    """The first paragraph of a command module's docstring, on one line (None without one).

    Examples:
        >>> from arkor_rx.cli._commands import load
        >>> _description(load("version"))
        'Print the version.'
    """
    doc = command.__doc__
    return " ".join(doc.split("\n\n", 1)[0].split()) if doc else None


def _named(argv: Sequence[str]) -> str:
    """The command named on the command line, or ``""`` (none, or not one of ours)."""
    first = next((arg for arg in argv if not arg.startswith("-")), "")
    return first if first in MODULES else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``arkor-rx`` with ``argv`` (default: the process arguments).

    Args:
        argv: the arguments after the program name.

    Returns:
        The exit status (see the module docstring); the console script exits with it.
    """
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(only=_named(argv))
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
        if not isinstance(status, int):  # an async command's coroutine
            import asyncio

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
