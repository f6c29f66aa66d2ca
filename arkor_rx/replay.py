"""Replay a recording (the format [`JSONL`][arkor_rx.sinks.JSONL] writes) as typed events.

Rule 1: [`replay`][arkor_rx.replay.replay] is cold: each subscription reads the file again, line
by line, as it emits (a large recording is never held in memory).

Rule 2: timing. ``speed=None`` emits the events back to back, in chunks, so
an asyncio loop still runs other tasks (the sinks) between chunks.
Otherwise the first event is emitted at subscription and event *i* at
``(receivedAt_i - receivedAt_0) / speed`` seconds after it, on the scheduler
(``scheduler=``, else the one given to ``subscribe``, else the running
asyncio loop, else reactivex's current-thread scheduler), so a
``TestScheduler`` drives it in virtual time.

Rule 3: a recording is hostile input. A line that is not a record (not
UTF-8, not JSON, nested too deeply, longer than
[`MAX_LINE_BYTES`][arkor_rx.replay.MAX_LINE_BYTES], not the four keys, a
``data`` that is not a valid event, or, with ``speed``, a time too far from
the first to be scheduled) ends the replay: the events before it are
emitted, then ``on_error(ReplayError)`` naming the file and the 1-based line.
A last line without its newline that does not parse (a writer killed in
mid-line) is skipped with a logged warning, and the replay completes.

Rule 4: on a running asyncio loop (an ``AsyncIOScheduler``) the file is
opened and read on a daemon thread, a bounded number of events ahead, so a
FIFO or a slow disk never stalls the loop; on any other scheduler (the
trampoline, a ``TestScheduler``) it is read on the subscribing thread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
from collections import deque
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable, MultipleAssignmentDisposable
from reactivex.scheduler import CurrentThreadScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler

from arkor_rx._read_ahead import ReadAhead
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent, event_adapter

__all__ = ["MAX_LINE_BYTES", "RECORD_KEYS", "ReplayError", "read_recording", "replay"]

logger = logging.getLogger(__name__)

RECORD_KEYS = frozenset({"id", "event", "data", "receivedAt"})
"""The four keys of every line of a recording."""

_CHUNK = 256
"""Events emitted per scheduler action at full speed: a loop turn for others in between."""

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line a recording may hold (16 MiB; an event line is usually under 1 KB).

A longer line (or a file with no newline, such as ``/dev/zero``) ends the
replay with a `ReplayError` at that line, read in bounded memory."""


_Numbered = tuple[TrainingEvent, float, int]
"""An event, its receive time and its line number."""

_AHEAD_BYTES = 8 * 1024 * 1024
"""The most bytes of lines read ahead of the loop (and one line more)."""


class ReplayError(ConfigError):
    """A recording that cannot be replayed: names the file and the 1-based line."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        """The recording's path."""
        self.line = line
        """The 1-based line number of the bad line (None when the file could not be read)."""


def _record(raw: bytes, where: str) -> tuple[TrainingEvent, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 (a bad byte at column {exc.start + 1})") from None
    try:
        record = json.loads(text)
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON ({exc})") from None
    if not isinstance(record, dict) or set(record) != RECORD_KEYS:
        raise ValueError(f"{where}: expected an object with the keys id, event, data, receivedAt")
    data, sse_id, received = record["data"], record["id"], record["receivedAt"]
    if not isinstance(data, dict):
        raise ValueError(f"{where}: data is not a JSON object")
    if not (sse_id is None or isinstance(sse_id, str)) or not isinstance(record["event"], str):
        raise ValueError(f"{where}: id must be a string or null and event a string")
    if not isinstance(received, str):
        raise ValueError(f"{where}: receivedAt is not an ISO-8601 string")
    try:
        event = event_adapter.validate_python(data)
    except RecursionError:
        raise ValueError(f"{where}: data nested too deeply") from None
    except ValueError as exc:
        first = str(exc).splitlines()
        raise ValueError(f"{where}: data is not a valid event ({' '.join(first[:3])})") from None
    if sse_id is not None:
        event.__dict__["event_id"] = sse_id  # as parse_event attaches it
    return event, received


def _seconds(received: str, where: str) -> float:
    shown = received if len(received) <= 40 else received[:40] + "..."
    try:
        return datetime.fromisoformat(received).timestamp()
    except ValueError:
        raise ValueError(f"{where}: receivedAt {shown!r} is not an ISO-8601 time") from None
    except OverflowError:  # a local time (no offset) the platform cannot convert
        raise ValueError(f"{where}: receivedAt {shown!r} is out of range") from None


def _lines(path: str) -> Generator[tuple[int, bytes], None, None]:
    """The file's non-blank lines with their 1-based numbers, each at most ``MAX_LINE_BYTES``."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the generator)
    except OSError as exc:
        raise ReplayError(f"cannot read recording {path}: {exc.strerror}", path=path) from None
    with handle:
        number = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                message = f"{path}, line {number + 1}: cannot read ({exc.strerror})"
                raise ReplayError(message, path=path, line=number + 1) from None
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                where = f"{path}, line {number}"
                message = f"{where}: longer than {MAX_LINE_BYTES} bytes (the limit of a line)"
                raise ReplayError(message, path=path, line=number)
            if not raw.isspace():
                yield number, raw


def _parsed(path: str, number: int, raw: bytes, timed: bool) -> _Numbered | None:
    """The record of one line; None for a truncated last line (skipped, logged)."""
    where = f"{path}, line {number}"
    try:
        event, received = _record(raw, where)
        at = _seconds(received, where) if timed else 0.0
    except ValueError as exc:
        if not raw.endswith(b"\n"):  # no newline within the limit: the file's end
            logger.warning("%s: truncated last line skipped (a writer killed mid-line)", where)
            return None
        raise ReplayError(str(exc), path=path, line=number) from None
    return event, at, number


def _numbered(path: str, timed: bool) -> Generator[_Numbered, None, None]:
    """``read_recording``'s records with their 1-based line numbers."""
    lines = _lines(path)
    try:
        for number, raw in lines:
            record = _parsed(path, number, raw, timed)
            if record is None:
                return
            yield record
    finally:
        lines.close()


def read_recording(
    path: str | os.PathLike[str], *, timed: bool = False
) -> Generator[tuple[TrainingEvent, float], None, None]:
    """The events of a recording with their receive time (POSIX seconds; 0.0 when not ``timed``).

    A plain generator for pull loops (the CLI's ``replay``); [`replay`][arkor_rx.replay.replay]
    is the Observable over it. Close it to close the file. It reads on the
    calling thread: a coroutine should read it off its loop (a FIFO blocks).

    Raises:
        ReplayError: the file cannot be read, or a bad line (after the events before it).
    """
    records = _numbered(os.fspath(path), timed)
    try:
        for event, at, _line in records:
            yield event, at
    finally:
        records.close()


def _default_scheduler() -> abc.SchedulerBase:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return CurrentThreadScheduler.singleton()
    return AsyncIOScheduler(loop)  # never block a running loop with the trampoline's sleep


def replay(
    path: str | os.PathLike[str],
    *,
    speed: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> reactivex.Observable[TrainingEvent]:
    """The typed events of a recording, as a cold Observable.

    Every operator, sink and view works on it, as on a live ``trainer.events()``.

    ::

        file:    L1 (t=0s)   L2 (t=2s)   C (t=3s)
        speed=None:  L1 L2 C|                 (back to back, at subscription)
        speed=2.0:   L1 --- L2 - C|           (at 0, 1 and 1.5 s)

    Examples:
        >>> import tempfile, pathlib
        >>> from reactivex import operators as ops
        >>> line = ('{"id": "1", "event": "training.log", "receivedAt": "2026-01-01T00:00:00Z",'
        ...         ' "data": {"type": "training.log", "jobId": "j1", "step": 1, "loss": 2.5}}')
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.jsonl"
        >>> _ = path.write_text(line + "\\n")
        >>> [(e.step, e.loss, e.event_id) for e in replay(path).pipe(ops.to_list()).run()]
        [(1, 2.5, '1')]

    Args:
        path: the recording (one JSON object per line: ``id``, ``event``,
            ``data``, ``receivedAt``).
        speed: None for as fast as possible, ``1.0`` for the recorded timing,
            ``10.0`` for ten times faster.
        scheduler: where the events are scheduled; default: the scheduler
            given to ``subscribe``, else the running asyncio loop's, else the
            current-thread scheduler (which sleeps between timed events).

    Returns:
        The events; ``on_error`` gets a [`ReplayError`][arkor_rx.replay.ReplayError]
        for a missing file or a bad line (after the events before it).

    Raises:
        ConfigError: ``speed`` is not a positive number.
    """
    _check_speed(speed)
    name = os.fspath(path)

    def subscribe(
        observer: abc.ObserverBase[TrainingEvent], sub_scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        sched = scheduler or sub_scheduler or _default_scheduler()
        return _Replaying(name, speed, observer, sched).start()

    return reactivex.create(subscribe)


def _check_speed(speed: object) -> None:
    if speed is not None and (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not math.isfinite(speed)
        or speed <= 0
    ):
        raise ConfigError(f"replay speed must be a positive number or None, not {speed!r}")


class _Replaying:
    """One subscription of ``replay``: the records of its source, emitted back to back in
    chunks (``speed=None``) or each at its time (Rule 2), until the end, an error or disposal."""

    def __init__(
        self,
        path: str,
        speed: float | None,
        observer: abc.ObserverBase[TrainingEvent],
        sched: abc.SchedulerBase,
    ) -> None:
        self._path, self._speed = path, speed
        self._observer, self._sched = observer, sched
        self._source = _source(path, speed is not None, sched)
        self._pending: deque[_Numbered] = deque()
        self._serial = MultipleAssignmentDisposable()  # the next scheduled action
        self._disposed = False
        self._start: datetime | None = None  # when the first timed event was emitted
        self._first_at = 0.0  # and its receivedAt

    def start(self) -> abc.DisposableBase:
        """Schedule the first action; return what stops the replay."""
        self._wake()
        return Disposable(self.dispose)

    def dispose(self) -> None:
        """Stop: no action runs after this, and the source is closed."""
        self._disposed = True
        self._serial.dispose()
        self._source.close()

    def _wake(self) -> None:
        if not self._disposed:
            action = self._fast if self._speed is None else self._timed
            self._serial.disposable = self._sched.schedule(action)

    def _ready(self) -> bool:
        """True: a record is pending; False: the replay ended, or waits for the reader."""
        if self._pending:
            return True
        got = self._source.take(_CHUNK, self._wake)
        if got is None:
            if self._source.error is not None:
                self._observer.on_error(self._source.error)
            else:
                self._observer.on_completed()
            return False
        self._pending.extend(got)
        return bool(got)

    def _fast(self, _s: abc.SchedulerBase, _state: Any = None) -> None:
        for _ in range(_CHUNK):
            if self._disposed or not self._ready():
                return
            self._observer.on_next(self._pending.popleft()[0])
        self._serial.disposable = self._sched.schedule(self._fast)

    def _timed(self, _s: abc.SchedulerBase, _state: Any = None) -> None:
        speed = self._speed
        assert speed is not None
        while not self._disposed and self._ready():
            event, at, line = self._pending[0]
            if self._start is None:
                self._start, self._first_at = self._sched.now, at
            try:
                due = self._start + timedelta(seconds=max(0.0, at - self._first_at) / speed)
            except OverflowError:  # years apart: past the calendar's end
                self.dispose()
                self._observer.on_error(_too_far(self._path, line, at - self._first_at, speed))
                return
            if due > self._sched.now:
                self._serial.disposable = self._sched.schedule_absolute(due, self._timed)
                return
            self._pending.popleft()
            self._observer.on_next(event)


def _too_far(path: str, line: int, gap: float, speed: float) -> ReplayError:
    where = f"{path}, line {line}"
    return ReplayError(
        f"{where}: receivedAt is {gap:.0f} s after the first event's, "
        f"too far to schedule at speed {speed:g}",
        path=path,
        line=line,
    )


class _Inline:
    """The records read on the caller's thread (no loop to stall: the trampoline, virtual time)."""

    def __init__(self, path: str, timed: bool) -> None:
        self._records = _numbered(path, timed)
        self.error: Exception | None = None

    def take(self, limit: int, on_ready: Callable[[], None]) -> list[_Numbered] | None:
        out: list[_Numbered] = []
        try:
            out.extend(itertools.islice(self._records, limit))
        except ReplayError as exc:
            self.error = exc
        return out or None

    def close(self) -> None:
        self._records.close()


class _OffLoop:
    """The lines read on a thread, a bounded number of bytes ahead; parsed here, on the loop
    (the reader stays ahead of the parser, so the loop takes whole chunks)."""

    def __init__(self, path: str, timed: bool, loop: asyncio.AbstractEventLoop) -> None:
        self._path, self._timed = path, timed
        self._lines = ReadAhead(
            lambda: _lines(path),
            loop,
            f"arkor-rx replay {path}",
            cost=lambda line: len(line[1]),
            budget=_AHEAD_BYTES,
        )
        self._ended = False
        self.error: Exception | None = None

    def take(self, limit: int, on_ready: Callable[[], None]) -> list[_Numbered] | None:
        if self._ended:
            return None
        got = self._lines.take(limit, on_ready)
        if got is None:
            self._ended, self.error = True, self._lines.error
            return None
        out: list[_Numbered] = []
        for number, raw in got:
            try:
                record = _parsed(self._path, number, raw, self._timed)
            except ReplayError as exc:
                self.error = exc
                record = None
            if record is None:
                self._ended = True
                self._lines.close()
                return out or None
            out.append(record)
        return out

    def close(self) -> None:
        self._lines.close()


def _source(path: str, timed: bool, sched: abc.SchedulerBase) -> _Inline | _OffLoop:
    """Where the records come from: off the loop when the scheduler is the running loop's."""
    if isinstance(sched, AsyncIOScheduler):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return _OffLoop(path, timed, loop)
    return _Inline(path, timed)
