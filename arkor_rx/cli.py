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
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from arkor_rx.dashboard import (
    CheckpointAnswer,
    DashboardAction,
    DashboardState,
    JobSubmitted,
    LiveDashboard,
    RunFinished,
    RunStopped,
    StreamProgress,
)
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


def _file_uri(text: str) -> str:
    return Path(text).expanduser().resolve().as_uri()


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
    demo.add_argument(
        "--dataset",
        type=_file_uri,
        default=None,
        metavar="PATH",
        help="train on this chat JSONL file instead of the built-in triage set",
    )
    demo.add_argument(
        "--fail-at-step",
        type=_positive_int,
        default=None,
        metavar="N",
        help="make the local backend fail the run at step N, to see the failure path",
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
DEMO_TICKET = "Hello, can you explain the extra fee on my latest invoice? My bill is higher."
"""The support ticket each checkpoint is asked to triage in the demo."""

DEMO_STEP_DELAY = 0.15
"""Default seconds between steps in the demo: 60 steps take about 10 s to watch."""

DEMO_CHAOS = {"drop_after_events": 7, "garbage_every": 3, "fail_first_opens": 1}
"""What ``demo --chaos`` breaks: drop every connection after 7 events, a garbage
frame before every third event, and the first stream open answered 503."""


def _version() -> int:
    from arkor_rx.protocol import __version__

    print(f"{PROG} {__version__}", flush=True)
    return EXIT_OK


def _exit_status(state: DashboardState) -> int:
    """0 for a completed or early-stopped run, 1 for a failed or cancelled one."""
    return EXIT_OK if state.succeeded else EXIT_ERROR


def _console() -> Console:
    # Built per command so that a redirected sys.stdout (tests, pipes) is honoured.
    return Console(file=sys.stdout, highlight=False)


def _view(console: Console, no_live: bool) -> LiveDashboard:
    return LiveDashboard(console, live=False if no_live else None)


async def _serve(args: argparse.Namespace) -> int:
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


def _demo_rules() -> list[Any]:
    from arkor_rx.operators import divergence, patience

    return [
        # Per-step losses of small batches are noisy: judge the smoothed curve.
        divergence("loss", factor=3.0, threshold=20.0, smoothing=0.8, warmup_steps=10),
        patience("eval_loss", 3, min_delta=1e-3),
    ]


async def _demo(args: argparse.Namespace) -> int:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dispatch import TrainerCallbacks
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.server import FaultConfig, LocalServer, ServerConfig
    from arkor_rx.server.demo_data import SYSTEM_PROMPT
    from arkor_rx.trainer import create_trainer

    chaos: dict[str, Any] = dict(DEMO_CHAOS) if args.chaos else {}
    faults = FaultConfig(**chaos, fail_at_step=args.fail_at_step)
    step_delay = DEMO_STEP_DELAY if args.step_delay is None else args.step_delay
    dataset: dict[str, Any] = dict(DEMO_DATASET)
    if args.dataset is not None:
        dataset = {"type": "blob", "url": args.dataset}
    console = _console()
    view = _view(console, args.no_live)

    async with (
        LocalServer(ServerConfig(step_delay=step_delay, faults=faults)) as server,
        ArkorClient(server.url, server.token, "local", "demo") as client,
    ):
        trainer_box: list[Any] = []

        def show(action: DashboardAction) -> None:
            view.dispatch(action)
            if trainer_box:
                stats = trainer_box[0].stats
                view.dispatch(StreamProgress(stats.reconnects, duplicates=stats.duplicates))

        async def on_checkpoint(ctx: Any) -> None:
            show(ctx.event)
            try:
                response = await ctx.infer(
                    messages=[
                        {"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": DEMO_TICKET},
                    ],
                    max_tokens=40,
                )
                view.dispatch(CheckpointAnswer(ctx.step, await response.text()))
            except ArkorError as exc:  # a failed sample is shown, not fatal
                view.dispatch(CheckpointAnswer(ctx.step, str(exc), error=True))

        def on_event(ctx: Any) -> None:
            show(ctx.event)

        trainer = create_trainer(
            name="triage-demo",
            model=DEMO_MODEL,
            dataset=dataset,
            max_steps=args.steps,
            learning_rate=args.learning_rate,
            logging_steps=2,
            eval_steps=max(1, args.steps // 12),
            save_steps=max(1, args.steps // 3),
            seed=args.seed,
            callbacks=TrainerCallbacks(
                on_started=on_event,
                on_log=on_event,
                on_checkpoint=on_checkpoint,
                on_completed=on_event,
                on_failed=on_event,
            ),
            client=client,
            # quick reconnects: the backend is on this machine
            reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=20),
            early_stopping=_demo_rules(),
        )
        trainer_box.append(trainer)
        return await _follow_trainer(trainer, view, console)


async def _follow_trainer(trainer: Any, view: LiveDashboard, console: Console) -> int:
    """Run ``trainer`` under ``view``; on Ctrl-C cancel the job. Print the summary."""
    interrupted = False
    with view:
        job_id = await trainer.start()
        view.dispatch(JobSubmitted(job_id, name=trainer.name, max_steps=trainer.config.max_steps))
        try:
            result = await trainer.wait()
        except asyncio.CancelledError:
            interrupted = True
            await trainer.cancel()
            view.dispatch(RunFinished("cancelled", error="interrupted by Ctrl-C"))
        else:
            stats = result.stats
            view.dispatch(StreamProgress(stats.reconnects, duplicates=stats.duplicates))
            if result.stop is not None:
                view.dispatch(RunStopped(result.stop))
            view.dispatch(_finished(result.job, view.state))
    view.print_summary()
    return EXIT_INTERRUPTED if interrupted else _exit_status(view.state)


def _finished(job: Any, state: DashboardState) -> RunFinished:
    status = job.status if job.status in ("completed", "failed", "cancelled") else state.status
    if status not in ("completed", "failed", "cancelled", "early-stopped"):
        status = "failed"  # the stream ended without the run ending: not a success
        return RunFinished(status, error=f"the stream ended while the job was {job.status}")
    return RunFinished(status, error=job.error if status == "failed" else None)


async def _watch(args: argparse.Namespace) -> int:
    from arkor_rx.client import ArkorClient
    from arkor_rx.events import TrainingCompleted, TrainingFailed
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.stream import EventStream

    client = ArkorClient.from_env()
    async with client:
        job = await client.get_job(args.job_id)  # fails fast: unreachable, wrong token, unknown job
        console = _console()
        view = _view(console, args.no_live)
        stream = EventStream(client, job.id, ReconnectPolicy())
        interrupted = False
        with view:
            view.dispatch(
                JobSubmitted(
                    job.id, name=job.name, max_steps=_int_or_none(job.config.get("maxSteps"))
                )
            )
            try:
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        view.dispatch(event)
                        stats = stream.stats
                        view.dispatch(StreamProgress(stats.reconnects, duplicates=stats.duplicates))
                        if isinstance(event, TrainingCompleted | TrainingFailed):
                            break
                final = await client.get_job(job.id)
                view.dispatch(_finished(final, view.state))
            except asyncio.CancelledError:  # Ctrl-C: stop watching; the job goes on
                interrupted = True
        view.print_summary()
    return EXIT_INTERRUPTED if interrupted else _exit_status(view.state)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
