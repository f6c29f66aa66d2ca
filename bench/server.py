"""A static stream server: just enough of the Arkor API for the end-to-end workloads.

It speaks the routes of ``/work/shared/PROTOCOL.md`` that a client needs to
follow a job, and answers them from pre-built bytes so that the server costs
as little as possible and the client is what gets measured:

- ``POST /v1/jobs`` answers a ``running`` job whose id encodes the stream size:
  the job's ``config.maxSteps`` frames (``n<frames>``);
- ``GET /v1/jobs/{id}`` answers that job (``completed`` once its stream was served);
- ``GET /v1/jobs/{id}/events/stream`` sends the training stream of
  :mod:`bench.streams` in 64 KiB writes, honouring ``Last-Event-ID``;
  a job id ending in ``n<frames>`` picks the size, any other prefix is free,
  so 1,000 concurrent streams can each have their own id; a job named
  ``<tag>-<i>-of-<k>`` is *live*: its stream sends half its frames, then
  waits until all ``k`` streams of ``<tag>`` are open (at most 0.5 s) before
  the rest, so a client must really hold them all open at once;
- a job named ``paced<ms>-<anything>`` is *paced*: its stream carries its own
  job id in every event and sends one frame every ``<ms>`` milliseconds, like
  a live run (the sinks' live workload runs 1,000 of them at once);
- ``GET /v1/jobs/bigline/events/stream`` sends a 100 MB ``data:`` line with no
  newline, then closes;
- ``POST /v1/jobs/{id}/cancel`` answers 200;
- ``GET /bench/stats`` tells the peak number of streams served at once since
  the last call (for the fan-in workload).

Run it in its own process (``python -m bench.server``, it prints its port),
so that its CPU time is not charged to the client under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.streams import CHUNK_SIZE, END_FRAME, frame_id_offsets, frames_of, training_stream

__all__ = ["BIGLINE_BYTES", "ServerProcess", "main", "make_app", "spawn"]

BIGLINE_BYTES = 100 * 1024 * 1024
"""Size of the newline-free ``data:`` line sent by the ``bigline`` job."""

_SIZE = re.compile(r"n(\d+)$")


def _job(job_id: str, status: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "orgId": "bench",
        "projectId": "bench",
        "name": job_id,
        "status": status,
        "config": {"model": "bench", "datasetSource": {"type": "huggingface", "name": "b/b"}},
        "error": None,
        "createdAt": "2026-01-01T00:00:00Z",
        "startedAt": "2026-01-01T00:00:00Z",
        "completedAt": None,
    }


def _frames_of(job_id: str) -> int:
    match = _SIZE.search(job_id)
    if match is None:
        raise web.HTTPNotFound(text='{"error": "unknown job"}', content_type="application/json")
    return int(match.group(1))


async def _create(request: web.Request) -> web.Response:
    body = await request.json()
    config = body.get("config") or {}
    frames = int(config.get("maxSteps") or 1000)
    name = str(body.get("name") or "job")
    job_id = "bigline" if name == "bigline" else f"{name}-n{frames}"
    return web.json_response({"job": _job(job_id, "running")})


async def _get(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    status = "completed" if job_id in request.app[_SERVED] else "running"
    return web.json_response({"job": _job(job_id, status)})


async def _cancel(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _stream(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["job_id"]
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    if job_id == "bigline":
        await resp.prepare(request)
        await _send_bigline(resp)
        return resp
    frames = _frames_of(job_id)
    paced = _PACED.match(job_id)
    if paced is not None:
        await resp.prepare(request)
        await _send_paced(resp, job_id, frames, int(paced.group(1)) / 1000)
        request.app[_SERVED].add(job_id)
        return resp
    data = training_stream(frames)
    start = 0
    last = request.headers.get("Last-Event-ID")
    if last:
        start = frame_id_offsets(frames).get(last, 0)
    await resp.prepare(request)
    gauge = request.app[_STREAMS]
    gauge.enter()
    try:
        view = memoryview(data)
        middle = start + (len(data) - start) // 2
        barrier = _barrier_of(request.app, job_id)
        if barrier is not None:
            # A live job: half of the stream now, the rest once every stream of
            # the group is open (or after a grace period), like jobs that run
            # at the same time and must all be followed at the same time.
            await resp.write(view[start:middle])
            await barrier.wait()
            start = middle
        for pos in range(start, len(data), CHUNK_SIZE):
            await resp.write(view[pos : pos + CHUNK_SIZE])
        await resp.write_eof()
    finally:
        gauge.leave()
    request.app[_SERVED].add(job_id)
    return resp


_PACED = re.compile(r"^paced(\d+)-")


async def _send_paced(resp: web.StreamResponse, job_id: str, frames: int, every: float) -> None:
    """One frame of the job's own stream every ``every`` seconds (no resume: a fresh run)."""
    with contextlib.suppress(ConnectionError):  # the client left after the terminal event
        for frame in frames_of(frames, job_id):
            await resp.write(frame)
            if frame is not END_FRAME:
                await asyncio.sleep(every)
        await resp.write_eof()


_GROUP = re.compile(r"^(?P<tag>.+)-(?P<index>\d+)-of-(?P<size>\d+)-n\d+$")
BARRIER_GRACE = 0.5
"""Seconds a live stream waits for the rest of its group before going on anyway."""


class _Barrier:
    def __init__(self, size: int) -> None:
        self.size = size
        self.arrived = 0
        self.event = asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.size:
            self.event.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(BARRIER_GRACE):
                await self.event.wait()


def _barrier_of(app: web.Application, job_id: str) -> _Barrier | None:
    match = _GROUP.match(job_id)
    if match is None:
        return None
    barriers = app[_BARRIERS]
    tag = match.group("tag")
    if tag not in barriers:
        barriers[tag] = _Barrier(int(match.group("size")))
    return barriers[tag]


class _Gauge:
    """How many streams are being served at once, and the most since the last read."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0

    def enter(self) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)

    def leave(self) -> None:
        self.active -= 1


async def _stats(request: web.Request) -> web.Response:
    """``GET /bench/stats``: the peak number of concurrent streams since the last call."""
    gauge = request.app[_STREAMS]
    peak, gauge.peak = gauge.peak, gauge.active
    return web.json_response({"peak_concurrent_streams": peak})


async def _send_bigline(resp: web.StreamResponse) -> None:
    block = b"x" * CHUNK_SIZE
    await resp.write(b"id: 1\nevent: training.log\ndata: ")
    sent = 0
    try:
        while sent < BIGLINE_BYTES:
            await resp.write(block)
            sent += len(block)
    except (ConnectionResetError, ConnectionError):
        return  # the client gave up on the line, as it should


_SERVED = web.AppKey("served", set[str])
_STREAMS = web.AppKey("streams", _Gauge)
_BARRIERS = web.AppKey("barriers", dict[str, _Barrier])


def make_app() -> web.Application:
    """The aiohttp application (also used in-process by the smoke test)."""
    app = web.Application()
    app[_SERVED] = set()
    app[_STREAMS] = _Gauge()
    app[_BARRIERS] = {}
    app.router.add_get("/bench/stats", _stats)
    app.router.add_post("/v1/jobs", _create)
    app.router.add_get("/v1/jobs/{job_id}", _get)
    app.router.add_post("/v1/jobs/{job_id}/cancel", _cancel)
    app.router.add_get("/v1/jobs/{job_id}/events/stream", _stream)
    return app


async def _serve(port: int, warm: list[int]) -> None:
    for n in warm:  # build the streams before announcing the port
        training_stream(n)
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class ServerProcess:
    """A running ``bench.server`` child process."""

    base_url: str
    pid: int


@contextlib.contextmanager
def spawn(warm: list[int] | None = None) -> Iterator[ServerProcess]:
    """Start the server in a child process on a free loopback port; stop it on exit."""
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "bench.server", "--warm", *map(str, warm or [])]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"bench server did not start (said {line!r})")
        yield ServerProcess(base_url=f"http://127.0.0.1:{line}", pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.server [--port 0] [--warm N ...]``: serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--warm", type=int, nargs="*", default=[])
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port, args.warm))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
