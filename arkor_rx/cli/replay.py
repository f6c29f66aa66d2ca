"""Replay a recording (from `record` or --record) under the live view; with sink flags,
write it to TensorBoard, MLflow ... as if it were live.

Rule 1: ``--speed`` 1 replays in the recorded timing, 10 ten times faster;
without it, as fast as possible.

Rule 2: with sink flags (``--tensorboard DIR`` ...) the recording is
backfilled: every sink is built with ``overflow="block"``, and the replay
waits for a full sink, so nothing is dropped.

Rule 3: the run keeps a name: ``--name``, else the recording's file name
without its extension (a recording holds the wire events only, not the job's
name). The view and every sink (the CSV ``name`` column, the TensorBoard
folder ``NAME-JOB_ID``) use it; the runs after the first of a many-run
recording are ``NAME #2`` ... in the view. The view says the job is
``recorded``, not ``running``: its events then tell how it went.

Rule 4: a bad line stops the replay with the one-line error naming the file
and line, after the events before it were shown and written (exit 1).

Rule 5: no sink writes over the recording: ``--record FILE``, ``--csv FILE``
or an MLflow SQLite database that is FILE, or a ``--tensorboard`` or MLflow
folder that holds it, is refused in one line before anything is read (Rule 2
of ``arkor_rx.cli._checks``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arkor_rx._read_ahead import ReadAhead
from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, fail, positive_float
from arkor_rx.cli._sinks import JobSinks, add_sink_flags, with_sinks

if TYPE_CHECKING:
    from arkor_rx.dashboard import LiveDashboard
    from arkor_rx.events import TrainingEvent

__all__ = ["add_arguments", "run"]

_YIELD_EVERY = 256
"""Events between two turns given to the loop at full speed (the sinks' tasks)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add FILE and the flags."""
    parser.add_argument("file", metavar="FILE", help="the recording (JSONL)")
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=None,
        metavar="X",
        help="1 for the recorded timing, 10 for ten times faster (default: as fast as possible)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        default=None,
        help="the run's name in the view and the sinks (default: FILE's name without "
        "its extension)",
    )
    _live.add_view_flags(parser)
    add_sink_flags(parser)


async def run(args: argparse.Namespace) -> int:
    """Replay the file under the view into the sinks."""
    return await with_sinks(
        args, lambda sinks: _replay(args, sinks), reading=[args.file], backfill=True
    )  # no sink may write over the recording


async def _replay(args: argparse.Namespace, sinks: list[Any]) -> int:
    from arkor_rx.replay import read_recording

    speed = args.speed
    # Read off the loop (a FIFO blocks); an unreadable file or a bad first line
    # fails here, as one line, before any view is drawn.
    records = ReadAhead(
        lambda: read_recording(args.file, timed=speed is not None),
        asyncio.get_running_loop(),
        "arkor-rx replay",
    )
    try:
        return await _show_all(args, sinks, records)
    finally:
        records.close()


async def _show_all(
    args: argparse.Namespace, sinks: list[Any], records: ReadAhead[tuple[TrainingEvent, float]]
) -> int:
    from arkor_rx.replay import ReplayError
    from arkor_rx.sinks import Outcome

    speed = args.speed
    head = await records.next()
    if head is None:
        return fail(f"{args.file}: the recording holds no events")
    console = _live.console()
    view = _live.view(console, args.no_live)
    name = args.name or Path(args.file).stem
    feed = JobSinks(sinks, name=name)
    interrupted = False
    failure: ReplayError | None = None
    with view:
        start = time.monotonic()
        first: float | None = None
        try:
            count = 0
            item: tuple[TrainingEvent, float] | None = head
            while item is not None:
                event, at = item
                if speed is not None:
                    first = at if first is None else first
                    delay = start + (at - first) / speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                await _show(view, event, name)
                await feed.feed(event)
                count, item = count + 1, await records.next()
        except ReplayError as exc:
            failure = exc
        except asyncio.CancelledError:
            interrupted = True
        ended = "the recording ended before the run did"
        for run in view.view.ordered:
            if not run.finished and run.job_id is not None:
                await view.close(Outcome("cancelled", run.job_id, error=ended))
        await feed.finish("cancelled", error=ended)
    view.print_summary()
    if failure is not None:
        raise failure
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(run.succeeded for run in view.view.ordered) else EXIT_ERROR


async def _show(view: LiveDashboard, event: TrainingEvent, name: str) -> None:
    """One recorded event on the view's row of its job (a recording may hold many jobs)."""
    from arkor_rx.events import TrainingCompleted, TrainingFailed, TrainingStarted
    from arkor_rx.jobs import TrainingJob
    from arkor_rx.sinks import Outcome

    job_id = event.job_id
    if job_id not in view.view.runs:
        config: dict[str, Any] = {}
        if isinstance(event, TrainingStarted) and event.metadata:
            config["maxSteps"] = event.metadata.get("maxSteps")
        count = len(view.view.order)
        label = name if count == 0 else f"{name} #{count + 1}"  # the runs of a sweep's recording
        # "recorded": the job's status when recorded is unknown; its events show how it went
        await view.open(TrainingJob(id=job_id, name=label, status="recorded", config=config))
    await view.write([event])
    if isinstance(event, TrainingCompleted):
        await view.close(Outcome("completed", job_id))
    elif isinstance(event, TrainingFailed):
        await view.close(Outcome("failed", job_id, error=event.error))
