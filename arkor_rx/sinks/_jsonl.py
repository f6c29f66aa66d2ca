"""``sinks.JSONL(path)``: the recording, one line per event, flushed per batch."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter, contains, itemgetter
from typing import IO, Any

from arkor_rx.events import _KNOWN, TrainingEvent, UnknownEvent, _get_wire
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import SinkItem
from arkor_rx.sinks._builtin import FileSink

__all__ = ["JSONL", "received_now", "record_line"]


def record_line(event: SinkItem, received_at: str) -> str | None:
    """One line of a recording (with its newline), or None for what is not a wire event.

    ``data`` is the event's JSON exactly as received: the frame's ``data``
    text ([`wire_data`][arkor_rx.events.wire_data]), unknown fields and all.
    A frame whose JSON spans several ``data:`` lines is written on one line
    (re-serialized compactly, every field kept). An event with no frame
    behind it (built in Python, or a copy) is serialized from its fields:
    those it was given, camelCase, plus its ``type`` so that the line replays;
    an [`UnknownEvent`][arkor_rx.events.UnknownEvent] from its ``raw`` object.

    Examples:
        >>> from arkor_rx.events import TrainingLog, parse_event
        >>> from arkor_rx.sse import ServerSentEvent
        >>> ev = TrainingLog(type="training.log", job_id="j1", step=3, loss=0.5)
        >>> print(record_line(ev, "2026-01-01T00:00:00.000000Z"), end="")
        {"id": null, "event": "training.log", "data": {"type":"training.log","jobId":"j1","step":3,"loss":0.5}, "receivedAt": "2026-01-01T00:00:00.000000Z"}
        >>> wire = parse_event(ServerSentEvent(
        ...     id="7", event="training.log", data='{"type": "training.log", "step": 7, "gpu": 0}'))
        >>> print(record_line(wire, "2026-01-01T00:00:00.000000Z"), end="")
        {"id": "7", "event": "training.log", "data": {"type": "training.log", "step": 7, "gpu": 0}, "receivedAt": "2026-01-01T00:00:00.000000Z"}
    """  # noqa: E501
    if isinstance(event, SamplesAnswered):
        return None
    try:
        data = _get_wire(event)
    except AttributeError:  # no frame behind it
        data = _serialized(event)
    else:
        if "\n" in data:  # JSON over several data: lines; a line of a recording has none
            data = json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False)
    sse_id = event.event_id
    if sse_id is None:
        quoted_id = "null"
    elif sse_id.isalnum() and sse_id.isascii():
        quoted_id = f'"{sse_id}"'  # the common case (numbers): nothing to escape
    else:
        quoted_id = json.dumps(sse_id)
    name = event.__dict__.get("sse_event") or event.type
    quoted_name = _NAMES.get(name) or json.dumps(name)
    return (
        f'{{"id": {quoted_id}, "event": {quoted_name}, '
        f'"data": {data}, "receivedAt": "{received_at}"}}\n'
    )


def _serialized(event: TrainingEvent) -> str:
    """The JSON of an event without a frame: what it was given, and its type."""
    if isinstance(event, UnknownEvent):
        return json.dumps(event.raw, separators=(",", ":"))
    if "type" in event.__pydantic_fields_set__:
        return event.model_dump_json(by_alias=True, exclude_unset=True)
    return event.model_dump_json(by_alias=True, include=event.__pydantic_fields_set__ | {"type"})


def _plain_lines(events: list[SinkItem], received_at: str) -> str | None:
    """The lines of a batch of plain wire events, made by C loops; None when one is not plain.

    Plain (a live stream's every event, almost always): parsed from a
    one-line frame, with an alphanumeric ASCII id, and with an SSE name that
    is its type. The result is what [`record_line`][arkor_rx.sinks._jsonl.record_line]
    would give each of them, joined.
    """
    try:
        datas = list(map(_get_wire, events))
        names = list(map(_NAME_OF_CLASS.__getitem__, map(type, events)))
        dicts = list(map(_dict_of, events))
        ids = list(map(_event_id_in, dicts))
    except (AttributeError, TypeError, KeyError):  # no frame, not an event, no id ...
        return None
    if any(map(contains, dicts, repeat("sse_event"))):  # a frame named otherwise
        return None
    return _lines(ids, names, datas, received_at)


def _lines(
    ids: list[str | None], names: list[str], datas: list[str], received_at: str
) -> str | None:
    """The lines, or None unless every id is alphanumeric ASCII and every data one line."""
    if not _plain_ids(ids) or "\n" in "".join(datas):  # "\n": JSON over several data: lines
        return None
    # One list of every piece, filled by slice (no tuple per event), then one join.
    tail = f', "receivedAt": "{received_at}"}}\n'
    pieces: list[str] = ['{"id": "', "", '", "event": "', "", '", "data": ', "", tail] * len(ids)
    pieces[1::7] = ids  # type: ignore[assignment]
    pieces[3::7] = names
    pieces[5::7] = datas
    return "".join(pieces)


def _plain_ids(ids: list[Any]) -> bool:
    """Whether every id is alphanumeric ASCII (then none needs escaping, and none is missing)."""
    try:
        # bytes.isalnum is a table lookup per byte; str.isalnum a Unicode query per character.
        return "".join(ids).encode("ascii").isalnum()
    except (TypeError, UnicodeEncodeError):  # an event without an id, or a non-ASCII id
        return False


def _plain_name(name: str) -> bool:
    """Whether json.dumps(name) is the name in quotes: printable ASCII, no quote or backslash."""
    return (
        bool(name)
        and name.isascii()
        and name.isprintable()
        and '"' not in name
        and "\\" not in name
    )


def _write_all(handle: IO[bytes], data: bytes) -> None:
    """Write all of ``data`` (an unbuffered file may take part of it per call)."""
    view = memoryview(data)
    while view:
        view = view[handle.write(view) or 0 :]


_dict_of = attrgetter("__dict__")
_event_id_in = itemgetter("event_id")


def received_now() -> str:
    """Now, as a recording's ``receivedAt`` (ISO-8601, UTC, microseconds).

    Examples:
        >>> stamp = received_now()
        >>> len(stamp), stamp[4], stamp[10], stamp[19], stamp[-1]
        (27, '-', 'T', '.', 'Z')
    """
    global _second
    now = time.time()
    second = int(now)
    cached = _second
    if cached[0] != second:  # the date and time of day change once a second: format them then
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{int((now - second) * 1e6):06d}Z"


_second: tuple[int, str] = (-1, "")
"""The last second ``received_now`` formatted, and its text."""


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

_PLAIN_NAMES = frozenset(_NAMES)
"""The SSE names a recording usually holds (each needs no escaping)."""

_NAME_OF_CLASS = {cls: cls.model_fields["type"].default for cls in _KNOWN.values()}
"""The SSE name of each known event class (its type: the common case)."""


class JSONL(FileSink[IO[bytes]]):
    """Record every event to a file, in the format [`arkor_rx.replay`][arkor_rx.replay] reads.

    Each line is ``{"id", "event", "data", "receivedAt"}``: the SSE id and
    event name, the frame's JSON text exactly as received, and when the
    batch holding the event was written (the events of one batch share one
    time). Lines are written and flushed per batch, in a worker thread, so
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

    def _open_file(self) -> IO[bytes]:
        # Unbuffered: each batch goes to the OS in one write (a killed process
        # leaves whole lines), with no copy into a buffer first.
        return open(self.path, "ab" if self._append else "wb", buffering=0)

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Write the batch's lines and flush, in a worker thread (one hop per batch)."""
        handle = self._file
        if handle is not None and events:
            await asyncio.to_thread(_write_lines, handle, events, received_now())


def _write_lines(handle: IO[bytes], events: Sequence[SinkItem], received_at: str) -> None:
    """The lines of ``events`` (see [`record_line`][arkor_rx.sinks._jsonl.record_line]), written."""
    items = list(events)
    text = _plain_lines(items, received_at)
    if text is None:
        text = "".join(line for event in items if (line := record_line(event, received_at)))
    if text:
        _write_all(handle, text.encode())
