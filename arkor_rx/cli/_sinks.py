"""The sink flags the run commands share, and the per-job sink feed of a pull loop.

Rule 1: ``demo``, ``watch`` (``--all`` too) and ``replay`` take ``--tensorboard DIR --mlflow
URI --prometheus PORT --webhook URL --record FILE --csv FILE``; a missing
extra is the one-line error naming its ``pip install``.

Rule 2: a pull loop (``watch``, ``record``, ``replay``) hands each event to
the sinks and, when a ``block`` sink is full, waits before reading the next
one. A stream's reconnects reach the sinks as they happen
([`JobSinks.reconnected`][arkor_rx.cli._sinks.JobSinks.reconnected]).
``replay`` builds every sink with ``overflow="block"`` (the Webhook
included): a backfill loses nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from arkor_rx.cli._common import port
from arkor_rx.events import TrainingEvent
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import OutcomeKind, Sink, SinkHub

__all__ = ["JobSinks", "add_sink_flags", "build_sinks", "close_sinks"]


def add_sink_flags(parser: argparse.ArgumentParser) -> None:
    """Add the six sink flags to a command."""
    group = parser.add_argument_group("sinks (where the run's events also go)")
    group.add_argument("--tensorboard", metavar="DIR", help="TensorBoard event files under DIR")
    group.add_argument("--mlflow", metavar="URI", help="MLflow tracking URI (sqlite:///m.db ...)")
    group.add_argument(
        "--prometheus", metavar="PORT", type=port, help="serve /metrics on 127.0.0.1:PORT"
    )
    group.add_argument("--webhook", metavar="URL", help="post JSON notifications to URL")
    group.add_argument("--record", metavar="FILE", help="record the events to FILE (JSONL)")
    group.add_argument("--csv", metavar="FILE", help="one row per log event in FILE")


def build_sinks(args: argparse.Namespace, *, backfill: bool = False) -> list[Sink]:
    """The sinks the flags ask for (``backfill``: every one with ``overflow="block"``).

    Raises:
        MissingExtraError: a sink's library is not installed.
        ConfigError: a bad flag value (say, a webhook URL that is not http).
    """
    from arkor_rx import sinks

    extra: dict[str, Any] = {"overflow": "block"} if backfill else {}
    out: list[Sink] = []
    if getattr(args, "tensorboard", None):
        out.append(sinks.TensorBoard(args.tensorboard, **extra))
    if getattr(args, "mlflow", None):
        out.append(sinks.MLflow(args.mlflow, **extra))
    if getattr(args, "prometheus", None) is not None:
        out.append(sinks.Prometheus(port=args.prometheus, **extra))
    if getattr(args, "webhook", None):
        out.append(sinks.Webhook(args.webhook, **extra))
    if getattr(args, "record", None):
        out.append(sinks.JSONL(args.record))
    if getattr(args, "csv", None):
        out.append(sinks.CSV(args.csv, **extra))
    return out


async def with_sinks(
    args: argparse.Namespace,
    run: Callable[[list[Sink]], Awaitable[int]],
    *,
    reading: Sequence[str] = (),
    backfill: bool = False,
) -> int:
    """Run a command's body with the sinks its flags ask for, and say how they did.

    The targets are checked first (a bad one is one line, exit 1, before anything
    starts; none may be, or hold, a file in ``reading``); the sinks are released
    however the body ends; a sink that failed is named after the summary and turns
    a successful exit status into 1.
    """
    from arkor_rx.cli._checks import prepare_sinks, report_sink_failures
    from arkor_rx.cli._live import console

    prepare_sinks(args, reading=reading)
    sinks = build_sinks(args, backfill=backfill)
    try:
        status = await run(sinks)
    finally:
        await close_sinks(sinks)
    return report_sink_failures(console(), sinks, status)


async def close_sinks(sinks: list[Sink]) -> None:
    """Release what sinks hold beyond a run (the Prometheus endpoint, HTTP sessions)."""
    for sink in sinks:
        aclose = getattr(sink, "aclose", None)
        if aclose is not None:
            await aclose()


class JobSinks:
    """The sinks of a pull loop: a [`SinkHub`][arkor_rx.sinks.SinkHub] that opens a job at
    its first event and closes it at its end, and waits when a sink is full."""

    def __init__(self, sinks: list[Sink], *, name: str = "") -> None:
        self._hub = SinkHub(sinks, name=name, close_at_end=True) if sinks else None

    async def feed(self, event: TrainingEvent, job: TrainingJob | None = None) -> None:
        """Hand ``event`` to the sinks (opening its job first); wait when a sink is full."""
        if self._hub is not None:
            await self._hub.feed(event, job)

    def reconnected(self, job_id: str, reconnects: int) -> None:
        """The stream of ``job_id`` was opened again (its count so far): an ``EventStream``'s
        ``on_reconnect``."""
        if self._hub is not None:
            self._hub.reconnected(job_id, reconnects)

    def end(self, job_id: str, kind: OutcomeKind, **extra: Any) -> None:
        """Close the run of ``job_id`` as ``kind``, if it is still open (no terminal event)."""
        if self._hub is not None:
            self._hub.end(job_id, kind, **extra)

    async def finish(self, kind: OutcomeKind = "cancelled", **extra: Any) -> None:
        """Close the jobs still open as ``kind``, then wait until every sink flushed."""
        if self._hub is not None:
            self._hub.end_all(kind, **extra)
            await self._hub.finish()
