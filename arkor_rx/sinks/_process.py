"""Run CPU-heavy sinks in arkor_rx's sink worker process, off the event loop's core.

A sink that costs many microseconds of Python per event (TensorBoard's
protobufs) steals CPU from the stream when it runs on the loop, and a thread
does not help (the GIL). A sink whose ``isolation`` attribute is
``"process"`` therefore runs in a child process instead, behind a
[`ProcessProxy`][arkor_rx.sinks._process.ProcessProxy] that the runner drives
like any sink.

Rule 1: one worker process per parent process, shared by every isolated sink
and every event loop. It starts at the first ``open`` (``python -m
arkor_rx.sinks._worker``, with the parent's ``sys.path`` as ``PYTHONPATH``,
stderr inherited, ``ARKOR_TOKEN`` removed from its environment: a sink never
needs credentials; one thread for OpenBLAS, OpenMP and MKL unless the
environment says otherwise) and stops at interpreter exit. If it dies, the calls of
the runs opened in it raise [`SinkWorkerError`][arkor_rx.sinks._process.SinkWorkerError]
and the next ``open`` starts a fresh one.

Rule 2: every call is acknowledged. ``open``, ``write`` and ``close`` of the
proxy resolve when the sink's copy in the child has returned, so the runner's
buffer, overflow policy and counters work exactly as for a sink on the loop.
An exception the sink raised in the child is raised again from the awaited
call: the original exception when it survives pickling, else a
[`SinkWorkerError`][arkor_rx.sinks._process.SinkWorkerError] reading
``"<TypeName>: <message>"``; the child's traceback is attached as a note.

Rule 3: a batch crosses as its frames' text, not as pickled models (which cost
microseconds each): the ``data`` text of each event
([`wire_data`][arkor_rx.events.wire_data]), its SSE id and its SSE name, as
three columns; the child parses them again into equal events. Only items
without frame text (events built in Python, checkpoint samples) are pickled.

Rule 4: the sink itself is pickled once per worker and sent before its first
``open``. A sink that cannot be pickled, or that refers to anything defined
in ``__main__`` (which the child cannot import), runs on the loop instead:
[`process_proxy`][arkor_rx.sinks._process.process_proxy] returns the sink
itself and logs one warning saying why.

Wire format (both ways over the child's stdin and stdout): a fixed header and
a pickle. Parent to child: ``!IQQB`` (body length, request id, sink key, op).
Child to parent: ``!IQB`` (body length, request id, status); an error reply's
body is the pickled ``(exception pickle or None, "Type: message", traceback)``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import itertools
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, Final, Literal, NamedTuple, TypeAlias

from arkor_rx.errors import ArkorError, ConfigError
from arkor_rx.events import _KNOWN, UnknownEvent, _EventBase, parse_batch, parse_event, wire_data
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import Outcome, Sink, SinkItem, SinkStats, sink_name
from arkor_rx.sse import Frames, ServerSentEvent

__all__ = [
    "ISOLATIONS",
    "Isolation",
    "ProcessProxy",
    "SinkWorkerError",
    "check_isolation",
    "isolated",
    "isolation_of",
    "process_proxy",
    "worker_env",
]

logger = logging.getLogger("arkor_rx.sinks")

Isolation: TypeAlias = Literal["loop", "process"]
"""Where a sink runs: on the event loop, or in arkor_rx's sink worker process."""

ISOLATIONS: Final = ("loop", "process")
"""The valid values of a sink's ``isolation`` attribute."""


class SinkWorkerError(ArkorError, RuntimeError):
    """The sink worker process failed a call: it exited, or the sink's error could not be pickled.

    The message reads ``"<TypeName>: <message>"`` for an error the sink
    raised in the child whose exception could not cross back as itself.
    """


def check_isolation(owner: str, value: object) -> Isolation:
    """``value`` as an [`Isolation`][arkor_rx.sinks._process.Isolation].

    Raises:
        ConfigError: ``value`` is neither ``"loop"`` nor ``"process"`` (the
            message names ``owner`` and the value).
    """
    if value == "loop":
        return "loop"
    if value == "process":
        return "process"
    raise ConfigError(f"{owner}: isolation must be 'loop' or 'process', not {value!r}")


def isolation_of(sink: object) -> Isolation:
    """The ``isolation`` attribute of ``sink`` (``"loop"`` when it has none).

    Raises:
        ConfigError: the attribute is neither ``"loop"`` nor ``"process"``.
    """
    return check_isolation(sink_name(sink), getattr(sink, "isolation", "loop"))


def isolated(sink: Sink) -> Sink:
    """What the runner should drive for ``sink``: itself, or its process proxy.

    Raises:
        ConfigError: the sink's ``isolation`` attribute is invalid.
    """
    if isolation_of(sink) == "process":
        return process_proxy(sink)
    return sink


# --------------------------------------------------------------------------------------------
# The wire: headers, ops, and the columns of a batch.

REQUEST: Final = struct.Struct("!IQQB")
"""Parent to child: body length, request id, sink key, op."""
REPLY: Final = struct.Struct("!IQB")
"""Child to parent: body length, request id, status (``OK`` or ``FAILED``)."""
OPEN, WRITE, CLOSE, FORGET = 0, 1, 2, 3
OK, FAILED = 0, 1
_SEP: Final = "\x00"  # never in a frame's JSON text (a control character) nor in an SSE id

# What a batch's columns are read with, from C: no Python frame per item.
_wire_of: Final = attrgetter("_wire")  # the frame-text slot wire_data reads; unset: AttributeError
_dict_of: Final = attrgetter("__dict__")
_event_id_of: Final = itemgetter("event_id")
_EVENT_CLASSES: Final[tuple[type[_EventBase], ...]] = tuple(_KNOWN.values())  # known types
_NAME_OF_CLASS: Final[dict[type | None, str]] = {
    cls: cls.model_fields["type"].default for cls in _EVENT_CLASSES
}
"""The SSE name of an event whose frame named its own type, by class (not UnknownEvent's)."""
_ALL_CLASSES: Final[tuple[type[_EventBase], ...]] = (*_EVENT_CLASSES, UnknownEvent)
_FIELD_COUNT: Final[dict[type | None, int]] = {cls: len(cls.model_fields) for cls in _ALL_CLASSES}
"""How many entries an event's ``__dict__`` holds when nothing was added (``sse_event``)."""
_ITS_TYPE: Final = ""
"""The name sent for an UnknownEvent whose frame named its own type (the child reads it)."""


def encode_batch(batch: Sequence[SinkItem]) -> bytes:
    """The body of a ``write``: the batch as columns of frame text, ids and SSE names.

    The usual batch (every item parsed from a frame) costs a few C-level
    passes over the items and one small pickle: the texts joined by NUL, the
    ids joined likewise, and the SSE name once when every item shares it.
    Any other batch is sent as lists, with the items that have no frame text
    pickled whole.
    """
    n = len(batch)
    if n:
        try:
            wires = _SEP.join(map(_wire_of, batch))
        except (AttributeError, TypeError):
            pass  # an item without frame text: the general path
        else:
            dicts = list(map(_dict_of, batch))
            classes = set(map(type, batch))
            names: Any
            cls = classes.pop() if len(classes) == 1 else None
            fields = _FIELD_COUNT.get(cls, 0)
            if fields and sum(map(len, dicts)) == n * fields:
                # One class, and no instance holds more than its fields (no
                # ``sse_event``): one name for the whole batch.
                names = _NAME_OF_CLASS.get(cls, _ITS_TYPE)
            else:
                # Each SSE name: the frame's own when it differed from the type,
                # else the class's type, else (an UnknownEvent) "" for "its own".
                names = list(
                    map(
                        dict.get,
                        dicts,
                        repeat("sse_event"),
                        map(_NAME_OF_CLASS.get, map(type, batch), repeat(_ITS_TYPE)),
                    )
                )
                first = names[0]
                if names.count(first) == n:
                    names = first
            try:
                ids: Any = _SEP.join(map(_event_id_of, dicts))
            except TypeError:  # an event without id
                ids = None
            if ids is None or ids.count(_SEP) != n - 1:
                ids = list(map(_event_id_of, dicts))
            if wires.count(_SEP) == n - 1:
                return pickle.dumps((wires, ids, names, None), 5)
    texts: list[str | None] = []
    all_ids: list[str | None] = []
    all_names: list[str | None] = []
    others: list[object] = []
    for item in batch:
        text = wire_data(item)
        texts.append(text)
        if text is None:
            all_ids.append(None)
            all_names.append(None)
            others.append(item)
        else:
            all_ids.append(item.__dict__.get("event_id"))
            all_names.append(item.__dict__.get("sse_event") or item.__dict__["type"])
    return pickle.dumps((texts, all_ids, all_names, others), 5)


def decode_batch(body: bytes) -> list[SinkItem]:
    """The batch [`encode_batch`][arkor_rx.sinks._process.encode_batch] sent, item for item."""
    wires, ids, names, others = pickle.loads(body)
    rest = iter(others or ())
    if others is None:
        datas: list[str] = wires.split(_SEP)
        n = len(datas)
        types: list[str] = [names] * n if isinstance(names, str) else names
        id_list: list[str | None] = list(ids.split(_SEP)) if isinstance(ids, str) else ids
        if _ITS_TYPE not in types:
            frames = Frames(type=types, data=datas, id=id_list, carried=[], retry={})
            return [event for event in parse_batch(frames).aligned if event is not None]
        wires, ids, names = datas, id_list, types
    items: list[SinkItem] = []
    for text, event_id, name in zip(wires, ids, names, strict=True):
        if text is None:
            items.append(next(rest))
            continue
        event = parse_event(ServerSentEvent(event=name, data=text, id=event_id))
        if event is None:
            continue
        if name == _ITS_TYPE:  # an UnknownEvent whose frame was named by its type
            event.__dict__.pop("sse_event", None)
        items.append(event)
    return items


class _NoMain(pickle.Pickler):
    """A pickler that refuses anything defined in ``__main__`` (the child cannot import it)."""

    def reducer_override(self, obj: Any) -> Any:
        if callable(obj) and getattr(obj, "__module__", None) == "__main__":
            name = getattr(obj, "__qualname__", repr(obj))
            raise pickle.PicklingError(f"{name} is defined in __main__")
        return NotImplemented


def _pickle_sink(sink: object) -> bytes:
    out = io.BytesIO()
    _NoMain(out, 5).dump(sink)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# The worker process, seen from the parent.


_PIPE_SIZE: Final = 1 << 20


def _widen(fd: int) -> None:
    """Let a pipe hold a whole batch (Linux: up to 1 MiB), so one write hands it over."""
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or None at end of file."""
    if size == 0:
        return b""
    chunk = os.read(fd, size)
    if len(chunk) == size:
        return chunk
    parts = bytearray(chunk)
    while len(parts) < size:
        if not chunk:
            return None
        chunk = os.read(fd, size - len(parts))
        parts += chunk
    return bytes(parts)


def worker_env(environ: Mapping[str, str], path: Sequence[str]) -> dict[str, str]:
    """The sink worker's environment: yours without ``ARKOR_TOKEN``, with ``path`` to import from.

    Examples:
        >>> env = worker_env({"ARKOR_TOKEN": "secret", "HOME": "/h"}, ["/src"])
        >>> sorted(env.items())  # doctest: +NORMALIZE_WHITESPACE
        [('HOME', '/h'), ('MKL_NUM_THREADS', '1'), ('OMP_NUM_THREADS', '1'),
         ('OPENBLAS_NUM_THREADS', '1'), ('PYTHONPATH', '/src')]
        >>> worker_env({"OMP_NUM_THREADS": "4"}, [])["OMP_NUM_THREADS"]  # yours wins
        '4'
    """
    env = dict(environ)
    env.pop("ARKOR_TOKEN", None)  # a sink never needs credentials
    for name in _ONE_THREAD:  # unless you set them: a sink needs no parallel BLAS
        env.setdefault(name, "1")
    paths = [p or os.getcwd() for p in path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Thread pools of the math libraries a sink may import (numpy, through tensorboardX).
OpenBLAS starts one thread per core at import, and its threads spin while
they wait: on a small machine they took CPU from the stream, for no work."""


class _Worker:
    """One running child process, its writer and reader threads, and the requests in flight."""

    def __init__(self) -> None:
        env = worker_env(os.environ, sys.path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arkor_rx.sinks._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
            close_fds=True,
        )
        self.pid = self.proc.pid
        assert self.proc.stdin is not None
        _widen(self.proc.stdin.fileno())
        self.parent_pid = os.getpid()
        self.sent: set[int] = set()
        """Keys of the sinks whose pickle this worker has been sent."""
        self.dead = False
        self.returncode: int | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[bytes]]] = {}
        self._out: queue.SimpleQueue[tuple[bytes, bytes] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_loop, name="arkor-sink-worker-writer", daemon=True
        )
        self._reader = threading.Thread(
            target=self._read_loop, name="arkor-sink-worker-reader", daemon=True
        )
        self._writer.start()
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None and self.parent_pid == os.getpid()

    def exited(self) -> SinkWorkerError:
        code = self.returncode if self.returncode is not None else self.proc.poll()
        return SinkWorkerError(
            f"the sink worker process exited (code {code}); the runs opened in it are lost "
            "(its stderr says why)"
        )

    def request(self, key: int, op: int, body: bytes) -> asyncio.Future[bytes]:
        """Send one call; the future resolves with the reply's body (empty when it succeeded)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        with self._lock:
            if self.dead:
                raise self.exited()
            rid = next(self._ids)
            self._pending[rid] = (loop, future)
        self._out.put((REQUEST.pack(len(body), rid, key, op), body))
        return future

    def send(self, key: int, op: int) -> None:
        """Send a call without a reply (``FORGET``)."""
        if not self.dead:
            self._out.put((REQUEST.pack(0, 0, key, op), b""))

    def stop(self, timeout: float = 2.0) -> None:
        """Close the child's stdin (it exits), wait up to ``timeout`` seconds, then kill it."""
        self._out.put(None)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _write_loop(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        fd = stdin.fileno()
        broken = False
        while (item := self._out.get()) is not None:
            if broken:
                continue  # the reader fails the requests once it sees the child's end
            try:
                _write_all(fd, item[0])
                _write_all(fd, item[1])
            except OSError:
                broken = True
        with contextlib.suppress(OSError):
            stdin.close()

    def _read_loop(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        try:
            while (header := _read_exact(fd, REPLY.size)) is not None:
                size, rid, status = REPLY.unpack(header)
                body = _read_exact(fd, size)
                if body is None:
                    break
                with self._lock:
                    entry = self._pending.pop(rid, None)
                if entry is not None:
                    _settle_soon(entry, body if status == FAILED else b"", status == FAILED)
        except OSError:
            pass
        finally:
            self.returncode = self.proc.wait()
            with self._lock:
                self.dead = True
                pending, self._pending = self._pending, {}
            error = self.exited()
            for entry in pending.values():
                _fail_soon(entry, error)
            with contextlib.suppress(OSError):
                stdout.close()


def _settle_soon(
    entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[bytes]], body: bytes, failed: bool
) -> None:
    loop, future = entry
    with contextlib.suppress(RuntimeError):  # that loop closed meanwhile: nobody waits
        if failed:
            loop.call_soon_threadsafe(_set_exception, future, body)
        else:
            loop.call_soon_threadsafe(_set_result, future)


def _fail_soon(
    entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[bytes]], error: BaseException
) -> None:
    loop, future = entry
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_set_error, future, error)


def _set_result(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_result(b"")


def _set_error(future: asyncio.Future[bytes], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _set_exception(future: asyncio.Future[bytes], body: bytes) -> None:
    if not future.done():
        future.set_exception(child_error(body))


def child_error(body: bytes) -> BaseException:
    """The exception an error reply carries: the original one, else a SinkWorkerError."""
    blob, text, trace = pickle.loads(body)
    error: BaseException | None = None
    if blob is not None:
        try:
            error = pickle.loads(blob)
        except Exception:
            error = None
        if not isinstance(error, BaseException):
            error = None
    if error is None:
        error = SinkWorkerError(text)
    if trace:
        with contextlib.suppress(Exception):
            error.add_note(f"raised in arkor_rx's sink worker process:\n{trace.rstrip()}")
    return error


_LOCK = threading.Lock()
_WORKER: _Worker | None = None


def _worker() -> _Worker:
    """The live worker process, started when there is none (or the last one died)."""
    global _WORKER
    worker = _WORKER
    if worker is not None and worker.alive:
        return worker
    with _LOCK:
        worker = _WORKER
        if worker is None or not worker.alive:
            first = worker is None
            worker = _WORKER = _Worker()
            if first:
                atexit.register(_shutdown)
        return worker


def _current() -> _Worker | None:
    """The worker last started (alive or not), or None."""
    return _WORKER


def _shutdown() -> None:
    worker = _WORKER
    if worker is not None and worker.parent_pid == os.getpid():
        worker.stop()


# --------------------------------------------------------------------------------------------
# The proxy the runner drives.

_KEYS = itertools.count(1)


class _Encoded(NamedTuple):
    """A chunk of one run's items, encoded for the worker."""

    job_id: str
    body: bytes


class ProcessProxy:
    """Drive one sink's copy in the sink worker process, as if it were the sink.

    Built by [`process_proxy`][arkor_rx.sinks._process.process_proxy]. Its
    ``open``, ``write`` and ``close`` send the call to the worker and return
    once the child's copy has returned (raising what it raised). Its policy
    attributes (``overflow``, ``fail_on_error``, ``buffer_size``,
    ``batch_interval``), ``name`` and ``stats`` are the parent's sink's, so
    the counters the runner keeps land where users read them.
    """

    def __init__(self, sink: Sink, blob: bytes) -> None:
        self.sink = sink
        """The sink in this process (its copy in the child does the writing)."""
        self._blob = blob
        self._key = next(_KEYS)
        self._runs: dict[str, _Worker] = {}  # job id -> the worker its run was opened in
        self._forget = weakref.finalize(self, _forget, self._key)
        self._forget.atexit = False

    def __repr__(self) -> str:
        return f"ProcessProxy({self.sink!r})"

    @property
    def name(self) -> str:
        """The sink's name in log lines."""
        return sink_name(self.sink)

    @property
    def overflow(self) -> Any:
        """The sink's ``overflow`` (``"drop"`` when it has none)."""
        return getattr(self.sink, "overflow", "drop")

    @property
    def fail_on_error(self) -> Any:
        """The sink's ``fail_on_error`` (False when it has none)."""
        return getattr(self.sink, "fail_on_error", False)

    @property
    def buffer_size(self) -> Any:
        """The sink's ``buffer_size`` (AttributeError when it has none: the runner's default)."""
        return self.sink.buffer_size  # type: ignore[attr-defined]

    @property
    def batch_interval(self) -> Any:
        """The sink's ``batch_interval`` (AttributeError when it has none: the runner's default)."""
        return self.sink.batch_interval  # type: ignore[attr-defined]

    @property
    def stats(self) -> Any:
        """The sink's ``stats``, kept by the runner in this process."""
        return getattr(self.sink, "stats", None)

    @stats.setter
    def stats(self, value: SinkStats) -> None:
        self.sink.stats = value  # type: ignore[attr-defined]

    async def open(self, job: TrainingJob) -> None:
        """Open ``job`` in the child's copy (sending the sink first, once per worker).

        Raises:
            Exception: what the sink's ``open`` raised in the child, or a
                [`SinkWorkerError`][arkor_rx.sinks._process.SinkWorkerError].
        """
        worker = _worker()
        blob: bytes | None = None
        if self._key not in worker.sent:
            worker.sent.add(self._key)
            blob = self._blob
        self._runs[job.id] = worker
        await worker.request(self._key, OPEN, pickle.dumps((blob, job), 5))

    def encode(self, events: list[SinkItem]) -> list[Any]:
        """A chunk of one run's events as the worker takes it, made as they are handed over.

        The runner calls this at hand-off, so its buffer holds bytes rather
        than events (see [`encode_batch`][arkor_rx.sinks._process.encode_batch]).
        """
        return [_Encoded(events[0].job_id, encode_batch(events))] if events else []

    async def write(self, events: Sequence[Any]) -> None:
        """Write one run's batch in the child's copy (encoded chunks, or events).

        Raises:
            Exception: what the sink's ``write`` raised in the child, or a
                [`SinkWorkerError`][arkor_rx.sinks._process.SinkWorkerError]
                when the worker its run was opened in has exited.
        """
        if not events:
            return
        if not isinstance(events[0], _Encoded):
            events = self.encode(list(events))
        worker = self._runs.get(events[0].job_id)
        if worker is None:
            worker = _worker()
        await worker.request(self._key, WRITE, pickle.dumps([e.body for e in events], 5))

    async def close(self, outcome: Outcome) -> None:
        """Close the run in the child's copy.

        Raises:
            Exception: what the sink's ``close`` raised in the child, or a
                [`SinkWorkerError`][arkor_rx.sinks._process.SinkWorkerError]
                when the worker its run was opened in has exited.
        """
        worker = self._runs.pop(outcome.job_id or "", None)
        if worker is None:
            worker = _worker()
        await worker.request(self._key, CLOSE, pickle.dumps(outcome, 5))


def _forget(key: int) -> None:
    worker = _WORKER
    if worker is not None and key in worker.sent:
        worker.send(key, FORGET)


_PROXIES: weakref.WeakValueDictionary[int, ProcessProxy] = weakref.WeakValueDictionary()
_WARNED: set[int] = set()


def process_proxy(sink: Sink) -> Sink:
    """A [`ProcessProxy`][arkor_rx.sinks._process.ProcessProxy] for ``sink``, or the sink itself.

    One proxy per sink instance while it is in use, so every loop that drives
    the sink drives the same copy in the child. A sink that cannot run in the
    child (it cannot be pickled, or it refers to something defined in
    ``__main__``, which the child cannot import), or any sink on a system
    that is not POSIX, is returned as it is, to run on the loop, and one
    warning says why.
    """
    proxy = _PROXIES.get(id(sink))
    if proxy is not None and proxy.sink is sink:
        return proxy
    if os.name != "posix":
        _fall_back(sink, "the sink worker process needs a POSIX system")
        return sink
    try:
        blob = _pickle_sink(sink)
    except Exception as exc:
        _fall_back(sink, f"it cannot be sent there ({type(exc).__name__}: {exc})")
        return sink
    proxy = ProcessProxy(sink, blob)
    _PROXIES[id(sink)] = proxy
    return proxy


def _fall_back(sink: object, why: str) -> None:
    if id(sink) not in _WARNED:
        _WARNED.add(id(sink))
        logger.warning(
            "sink %s runs on the event loop, not in the sink worker process: %s",
            sink_name(sink),
            why,
        )
