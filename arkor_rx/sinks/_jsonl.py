"""``sinks.JSONL(path)``: the recording, one line per event, flushed per batch."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO

from arkor_rx.events import UnknownEvent
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, SinkItem
from arkor_rx.sinks._common import BuiltinSink

__all__ = ["JSONL", "record_line"]


def record_line(event: SinkItem, received_at: str) -> str | None:
    """One line of a recording (with its newline), or None for what is not a wire event.

    ``data`` is the event's JSON as received: the fields the frame carried,
    camelCase, in the same order, re-serialized from the typed event
    (``exclude_unset``; an event built in Python gets its ``type`` too). An
    [`UnknownEvent`][arkor_rx.events.UnknownEvent] is written from its ``raw`` object,
    exactly. A field that a known event type does not declare was ignored
    when the frame was parsed (events ignore extra fields), so it is not in
    the recording.

    Examples:
        >>> from arkor_rx.events import TrainingLog
        >>> ev = TrainingLog(type="training.log", job_id="j1", step=3, loss=0.5)
        >>> print(record_line(ev, "2026-01-01T00:00:00.000000Z"), end="")
        {"id": null, "event": "training.log", "data": {"type":"training.log","jobId":"j1","step":3,"loss":0.5}, "receivedAt": "2026-01-01T00:00:00.000000Z"}
    """  # noqa: E501
    if isinstance(event, SamplesAnswered):
        return None
    if isinstance(event, UnknownEvent):
        data = json.dumps(event.raw, separators=(",", ":"))
    elif "type" in event.__pydantic_fields_set__:  # every event decoded from the wire
        data = event.model_dump_json(by_alias=True, exclude_unset=True)
    else:  # built in Python: its type is what makes the line replayable
        data = event.model_dump_json(
            by_alias=True, include=event.__pydantic_fields_set__ | {"type"}
        )
    name = event.__dict__.get("sse_event") or event.type
    sse_id = event.event_id
    if sse_id is None:
        quoted_id = "null"
    elif sse_id.isalnum() and sse_id.isascii():
        quoted_id = f'"{sse_id}"'  # the common case (numbers): nothing to escape
    else:
        quoted_id = json.dumps(sse_id)
    quoted_name = _NAMES.get(name) or json.dumps(name)
    return (
        f'{{"id": {quoted_id}, "event": {quoted_name}, '
        f'"data": {data}, "receivedAt": "{received_at}"}}\n'
    )


_NAMES = {
    name: json.dumps(name)
    for name in (
        "training.started",
        "training.log",
        "checkpoint.saved",
        "training.completed",
        "training.failed",
        "message",
    )
}


class JSONL(BuiltinSink):
    """Record every event to a file, in the format [`arkor_rx.replay`][arkor_rx.replay] reads.

    Each line is ``{"id", "event", "data", "receivedAt"}``: the SSE id and
    event name, the JSON object as received and when the recorder took the
    event from its buffer (within milliseconds of its arrival on a live run;
    one batch shares one time). Lines are written and flushed per batch, so
    a killed process leaves a file readable up to its last full line.
    Checkpoint samples are not wire events and are not recorded. Many runs
    may share one recording: every line's ``data`` has its ``jobId``.

    Examples:
        >>> sink = JSONL("run.jsonl")
        >>> (sink.overflow, sink.fail_on_error)
        ('block', False)

    Args:
        path: the file; created (truncated) at the first run, unless ``append``.
        append: add to an existing file instead of starting a new one.
        overflow: ``"block"`` by default: a recording must not lose events.
        fail_on_error: fail ``wait()`` when writing fails.
        buffer_size: events buffered before the overflow policy applies.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        append: bool = False,
        overflow: Overflow = "block",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        self.path = os.fspath(path)
        """Where the recording goes."""
        self._append = append
        self._file: IO[str] | None = None
        self._runs = 0

    def __repr__(self) -> str:
        return f"JSONL({self.path!r})"

    async def open(self, job: TrainingJob) -> None:
        """Open the file at the first run (later runs append to it)."""
        if self._file is None:
            mode = "a" if self._append else "w"
            self._file = open(self.path, mode, encoding="utf-8")  # noqa: SIM115, ASYNC230
            self._append = True  # a later run of this sink adds to the same recording
        self._runs += 1

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Write one line per event and flush."""
        handle = self._file
        if handle is None:
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines = [line for event in events if (line := record_line(event, now)) is not None]
        if lines:
            # On the loop, not in a worker thread: a buffered write of a batch is
            # short, and a thread per batch would contend for the GIL with the
            # stream (each hand-off can stall it for the 5 ms switch interval).
            handle.write("".join(lines))
            handle.flush()

    async def close(self, outcome: Outcome) -> None:
        """Close the file once no run is open."""
        self._runs -= 1
        if self._runs <= 0 and self._file is not None:
            self._file.close()
            self._file = None
