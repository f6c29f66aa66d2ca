"""The ``arkor-rx`` command: serve the local backend, run the demo, watch a job.

Usage::

    arkor-rx serve [--host 127.0.0.1] [--port 8765] [--data-dir DIR] [--token T]
    arkor-rx demo [--chaos] [--steps N] [--learning-rate X] [--seed S] [--no-live]
    arkor-rx watch JOB_ID
    arkor-rx version

Rule 1: a user mistake (a bad flag, an unreachable server, a wrong token) is
one line on stderr, ``arkor-rx: error: <what went wrong>``, and a non-zero
exit status; never a traceback. Only bugs show tracebacks.

Rule 2: exit statuses: 0 for a completed or early-stopped run (and for a
server stopped with Ctrl-C); 1 for a failed run or an error; 2 for a usage
error; 130 when Ctrl-C interrupted a run (the job is cancelled first).

Rule 3: the view is :class:`arkor_rx.dashboard.LiveDashboard`: a live rich
view on a terminal, plain log lines when stdout is not one (or ``--no-live``).

Rule 4: the bearer token is printed only when ``serve`` generated it, so the
user can pass it on; a token the user gave is never echoed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import NoReturn

from arkor_rx.errors import ArkorError

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

PROG = "arkor-rx"

EXIT_OK = 0
"""A completed or early-stopped run; a server stopped on request."""
EXIT_ERROR = 1
"""A failed or cancelled run, or an error (server unreachable, wrong token ...)."""
EXIT_USAGE = 2
"""A bad command line."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), after the job was cancelled and the summary printed."""


class UsageError(Exception):
    """A bad command line: argparse's message, shown as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be zero or more: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``arkor-rx`` (usage errors raise :class:`UsageError`)."""
    parser = _Parser(
        prog=PROG,
        description="Follow Arkor fine-tuning runs live; run the local backend and its demo.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the local training backend",
        description="Run the local Arkor-compatible backend (loopback only by default). "
        "Every request needs the bearer token; one is generated and printed when "
        "--token is not given.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8765, help="port (0: any free one)")
    serve.add_argument("--data-dir", default=None, help="where jobs and checkpoints are kept")
    serve.add_argument("--token", default=None, help="bearer token to require (default: random)")
    serve.add_argument(
        "--step-delay",
        type=_non_negative_float,
        default=None,
        help="seconds to wait between training steps (to make runs watchable)",
    )

    demo = sub.add_parser(
        "demo",
        help="train a small triage model on a local backend, with a live view",
        description="Start the local backend on a free port, submit a triage job and "
        "show it live; an early-stopping rule watches the run.",
    )
    demo.add_argument("--chaos", action="store_true", help="drop connections, send garbage")
    demo.add_argument("--steps", type=_positive_int, default=60, help="max steps (default 60)")
    demo.add_argument("--learning-rate", type=_positive_float, default=None, help="learning rate")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--step-delay",
        type=_non_negative_float,
        default=None,
        help="seconds between steps (default: a pace that is pleasant to watch)",
    )
    demo.add_argument("--no-live", action="store_true", help="plain log lines, no live view")

    watch = sub.add_parser(
        "watch",
        help="attach the live view to a job on any backend",
        description="Follow a job's events with the live view. The backend, token and "
        "scope come from ARKOR_CLOUD_API_URL, ARKOR_TOKEN, ARKOR_ORG_SLUG, "
        "ARKOR_PROJECT_SLUG or the official CLI's files.",
    )
    watch.add_argument("job_id", metavar="JOB_ID", help="the job to follow")
    watch.add_argument("--no-live", action="store_true", help="plain log lines, no live view")

    sub.add_parser("version", help="print the version")
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return EXIT_ERROR


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
        print(f"{exc} (see {PROG} --help)", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version exit 0 by design
        return exc.code if isinstance(exc.code, int) else EXIT_OK

    try:
        if args.command == "version":
            return _version()
        if args.command == "serve":
            return asyncio.run(_serve(args))
        if args.command == "demo":
            return asyncio.run(_demo(args))
        if args.command == "watch":
            return asyncio.run(_watch(args))
    except ArkorError as exc:
        return _fail(str(exc))
    except OSError as exc:  # e.g. the port is taken
        return _fail(exc.strerror or str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover


# --------------------------------------------------------------------------- commands

DEMO_MODEL = "unsloth/gemma-4-E4B-it"
DEMO_DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}
DEMO_SYSTEM = (
    "You are a support triage assistant. Read the ticket and answer with its category "
    "only: billing, refund request, account access, shipping, technical issue or "
    "feature request."
)
DEMO_TICKET = "Hello, I was charged twice for my March invoice. Can you look into it?"
"""The support ticket each checkpoint is asked to triage in the demo."""

DEMO_STEP_DELAY = 0.15
"""Default seconds between steps in the demo: 60 steps take about 10 s to watch."""


def _version() -> int:
    from arkor_rx.protocol import __version__

    print(f"{PROG} {__version__}", flush=True)
    return EXIT_OK


def _exit_status(state: DashboardState) -> int:
    return EXIT_OK if state.succeeded else EXIT_ERROR
