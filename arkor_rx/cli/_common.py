"""What every ``arkor-rx`` command shares: exit codes, the parser, argument types, errors.

Rule 1: a usage error raises [`UsageError`][arkor_rx.cli.UsageError] (argparse would print usage
and exit); [`arkor_rx.cli.main`][arkor_rx.cli.main] turns it into one line and exit status 2.

Rule 2: the argument types (``port``, ``positive_int`` ...) raise
``argparse.ArgumentTypeError`` with a message that says what was wrong, so
the one line names the flag and the value; [`checked`][arkor_rx.cli._common.checked]
makes one of the library's own checks such a type, with the check's message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from arkor_rx._printable import printable
from arkor_rx.errors import ConfigError

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_MEANINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "Parser",
    "UsageError",
    "checked",
    "fail",
    "file_uri",
    "non_negative_float",
    "port",
    "positive_float",
    "positive_int",
    "usage_error",
]

PROG = "arkor-rx"

EXIT_OK = 0
"""A completed or early-stopped run; a server stopped on request."""
EXIT_ERROR = 1
"""A failed or cancelled run, or an error (server unreachable, wrong token ...)."""
EXIT_USAGE = 2
"""A bad command line."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), after the job was cancelled and the summary printed."""

EXIT_MEANINGS: dict[int, str] = {
    EXIT_OK: "the run completed or was early-stopped (a stop rule, a pruner); a command "
    "that is not a run did what it was asked; `serve` was stopped with Ctrl-C",
    EXIT_ERROR: "the run failed or was cancelled; a sink failed during the run (named in "
    "the summary); an error such as an unreachable server, a wrong token or a path "
    "that cannot be written",
    EXIT_USAGE: "a bad command line (an unknown flag, a bad value, two flags that do not "
    "go together)",
    EXIT_INTERRUPTED: "Ctrl-C interrupted a run (after `demo` cancelled its job and the "
    "summary was printed; `watch` and `record` leave the job running)",
}
"""Each exit status and when a command exits with it (the CLI reference lists them)."""


class UsageError(Exception):
    """A bad command line: argparse's message, shown as one line."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse, but extra arguments are blamed on the subcommand given."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            raise UsageError(f"{prog}: error: unrecognized arguments: {' '.join(extras)}")
        return parsed


def fail(message: str) -> int:
    """Print ``arkor-rx: error: <message>`` on stderr; return `EXIT_ERROR`."""
    # The message may quote a server (an error body, a job name): no terminal
    # control, and one line.
    line = " ".join(printable(message).splitlines())
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)
    return EXIT_ERROR


def _parse(text: str, kind: type[int] | type[float], noun: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None


def usage_error(message: str) -> int:
    """Print ``arkor-rx <message> (see arkor-rx <command> --help)``; return `EXIT_USAGE`.

    For a usage mistake only a command can see (two flags that do not go
    together). ``message`` starts with the command, ``"demo: error: ..."``,
    and the hint points at that command's own help, as argparse's errors do.
    """
    command = message.split(": error:", 1)[0] if ": error:" in message else ""
    where = f"{PROG} {command}".rstrip()
    print(f"{PROG} {message} (see {where} --help)", file=sys.stderr, flush=True)
    return EXIT_USAGE


def port(text: str) -> int:
    """A TCP port number, 0 to 65535 (0: any free one)."""
    value = int(_parse(text, int, "a port number"))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number above zero."""
    value = int(_parse(text, int, "a whole number"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above zero."""
    value = _parse(text, float, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number, zero or more."""
    value = _parse(text, float, "a number")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be zero or more: {text}")
    return value


_T = TypeVar("_T")


def checked(check: Callable[[str], _T]) -> Callable[[str], _T]:
    """An argument type from a check that raises ``ConfigError``: its message is the usage error.

    Examples:
        >>> from arkor_rx.deployments import check_deployment_slug
        >>> slug = checked(check_deployment_slug)
        >>> slug("support-bot")
        'support-bot'
        >>> slug("Bad Slug")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: ...
    """

    def convert(text: str) -> _T:
        try:
            return check(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def file_uri(text: str) -> str:
    """A local path as an absolute ``file://`` URI."""
    return Path(text).expanduser().resolve().as_uri()
