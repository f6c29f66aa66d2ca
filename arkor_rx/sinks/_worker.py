"""The sink worker process: ``python -m arkor_rx.sinks._worker`` (started by the parent).

It reads framed calls from stdin and writes one framed acknowledgement per
call to stdout (the wire is described in
[`arkor_rx.sinks._process`][arkor_rx.sinks._process]).

Rule 1: one asyncio loop; each sink has its own queue and task, so a slow
sink does not delay another; the calls of one sink run one at a time, in the
order they were sent.

Rule 2: stdout carries the replies and nothing else. The real stdout is kept
on a private descriptor and descriptor 1 (and ``sys.stdout``) become stderr,
so a stray ``print`` in a library cannot corrupt the framing; stdin becomes
``/dev/null`` likewise.

Rule 3: at end of input (the parent closed the pipe or exited) the calls
already received are finished, nothing else is called (no implicit
``close``), and the process exits. It ignores SIGINT: a Ctrl-C in a terminal
is the parent's to handle (the parent may still close its runs), and the
child ends when the parent does.

Rule 4: it runs at a lower CPU priority (``os.nice(5)``). On a machine with a
core to spare this changes nothing; when the cores are contended the stream
wins and a ``"drop"`` sink drops (and counts) rather than slowing the run,
as the runner's rules promise for a slow sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from arkor_rx.sinks._process import (
    CLOSE,
    FAILED,
    FORGET,
    OK,
    OPEN,
    REPLY,
    REQUEST,
    WRITE,
    SinkWorkerError,
    decode_batch,
)

__all__ = ["NICE", "main"]

NICE = 5
"""How much lower the worker's CPU priority is than its parent's (``os.nice``)."""


@dataclass(slots=True)
class _Slot:
    """One sink's copy, its queue of calls and its task."""

    sink: Any = None
    error: BaseException | None = None
    calls: asyncio.Queue[tuple[int, int, bytes] | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class _Server:
    def __init__(self, out_fd: int) -> None:
        self._out = out_fd
        self._slots: dict[int, _Slot] = {}

    def dispatch(self, rid: int, key: int, op: int, body: bytes) -> None:
        slot = self._slots.get(key)
        if slot is None:
            if op == FORGET:
                return
            slot = self._slots[key] = _Slot()
            slot.task = asyncio.get_running_loop().create_task(self._drive(key, slot))
        slot.calls.put_nowait((rid, op, body))

    async def drain(self) -> None:
        """Finish the calls already received, then let every sink's task end."""
        tasks = []
        for slot in self._slots.values():
            slot.calls.put_nowait(None)
            if slot.task is not None:
                tasks.append(slot.task)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drive(self, key: int, slot: _Slot) -> None:
        while (call := await slot.calls.get()) is not None:
            rid, op, body = call
            if op == FORGET:
                del self._slots[key]
                return
            try:
                await self._call(slot, op, body)
            except Exception as exc:
                self._reply(rid, FAILED, _error_body(exc))
            else:
                self._reply(rid, OK, b"")

    async def _call(self, slot: _Slot, op: int, body: bytes) -> None:
        if op == OPEN:
            blob, job = pickle.loads(body)
            if blob is not None and slot.sink is None:
                try:
                    slot.sink = pickle.loads(blob)
                except Exception as exc:
                    slot.error = exc
                    raise
            await _sink(slot).open(job)
        elif op == WRITE:
            sink = _sink(slot)
            batch: list[Any] = []
            for part in pickle.loads(body):  # the batch's chunks, each as encode_batch made it
                batch.extend(decode_batch(part))
            await sink.write(batch)
        elif op == CLOSE:
            sink = _sink(slot)
            await sink.close(pickle.loads(body))
        else:
            raise SinkWorkerError(f"unknown call {op}")

    def _reply(self, rid: int, status: int, body: bytes) -> None:
        data = REPLY.pack(len(body), rid, status) + body
        view = memoryview(data)
        while view:
            view = view[os.write(self._out, view) :]


def _sink(slot: _Slot) -> Any:
    if slot.sink is None:
        if slot.error is not None:
            raise slot.error
        raise SinkWorkerError("the sink was never sent to this worker process")
    return slot.sink


def _error_body(exc: BaseException) -> bytes:
    text = f"{type(exc).__name__}: {exc}"
    try:
        blob: bytes | None = pickle.dumps(exc, 5)
    except Exception:
        blob = None
    trace = "".join(traceback.format_exception(exc))
    return pickle.dumps((blob, text, trace), 5)


async def _serve(in_fd: int, out_fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    pipe = os.fdopen(in_fd, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    server = _Server(out_fd)
    try:
        while True:
            try:
                header = await reader.readexactly(REQUEST.size)
                size, rid, key, op = REQUEST.unpack(header)
                body = await reader.readexactly(size) if size else b""
            except asyncio.IncompleteReadError:
                break
            server.dispatch(rid, key, op, body)
    finally:
        transport.close()
    await server.drain()


def main() -> None:
    """Serve the parent until its end of the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    asyncio.run(_serve(in_fd, out_fd))


if __name__ == "__main__":
    main()
