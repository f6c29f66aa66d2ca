"""``arkor-rx replay FILE [--speed X]``: the live view over a recording; sink flags backfill.

Rule 1: ``--speed`` 1 replays in the recorded timing, 10 ten times faster;
without it, as fast as possible.

Rule 2: with sink flags (``--tensorboard DIR`` ...) the recording is
backfilled: every sink is built with ``overflow="block"``, and the replay
waits for a full sink, so nothing is dropped.

Rule 3: a bad line stops the replay with the one-line error naming the file
and line, after the events before it were shown and written (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING, Any

from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_INTERRUPTED, positive_float
from arkor_rx.cli._sinks import JobSinks, add_sink_flags, build_sinks, close_sinks
from arkor_rx.dashboard import JobSubmitted, RunFinished

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers

__all__ = ["add_parser", "run"]

_YIELD_EVERY = 256
"""Events between two turns given to the loop at full speed (the sinks' tasks)."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``replay`` and its flags."""
    parser = subparsers.add_parser(
        "replay",
        help="show a recording in the live view, or backfill sinks from it",
        description="Replay a recording (from `record` or --record) under the live view; "
        "with sink flags, write it to TensorBoard, MLflow ... as if it were live.",
    )
    parser.add_argument("file", metavar="FILE", help="the recording (JSONL)")
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=None,
        metavar="X",
        help="1 for the recorded timing, 10 for ten times faster (default: as fast as possible)",
    )
    parser.add_argument("--no-live", action="store_true", help="plain log lines, no live view")
    add_sink_flags(parser)
    return parser


async def run(args: argparse.Namespace) -> int:
    """Replay the file under the view into the sinks."""
    sinks = build_sinks(args, backfill=True)
    try:
        return await _replay(args, sinks)
    finally:
        await close_sinks(sinks)


async def _replay(args: argparse.Namespace, sinks: list[Any]) -> int:
    from arkor_rx.events import TrainingCompleted, TrainingFailed, TrainingStarted
    from arkor_rx.replay import ReplayError, read_recording

    console = _live.console()
    view = _live.view(console, args.no_live)
    feed = JobSinks(sinks, name="replay")
    speed = args.speed
    seen: set[str] = set()
    interrupted = False
    failure: ReplayError | None = None
    with view:
        start = time.monotonic()
        first: float | None = None
        try:
            for count, (event, at) in enumerate(read_recording(args.file, timed=speed is not None)):
                if speed is not None:
                    first = at if first is None else first
                    delay = start + (at - first) / speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                if event.job_id not in seen:
                    seen.add(event.job_id)
                    max_steps = None
                    if isinstance(event, TrainingStarted) and event.metadata:
                        steps = event.metadata.get("maxSteps")
                        max_steps = steps if isinstance(steps, int) else None
                    view.dispatch(JobSubmitted(event.job_id, name=args.file, max_steps=max_steps))
                view.dispatch(event)
                await feed.feed(event)
                if isinstance(event, TrainingCompleted | TrainingFailed):
                    view.dispatch(RunFinished(event.type.split(".")[1]))
        except ReplayError as exc:
            failure = exc
        except asyncio.CancelledError:
            interrupted = True
        await feed.finish("cancelled", error="the recording ended before the run did")
    view.print_summary()
    if failure is not None:
        raise failure
    return EXIT_INTERRUPTED if interrupted else _live.exit_status(view.state)
