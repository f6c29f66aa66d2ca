"""Pre-built byte streams that every workload decodes: one shape of traffic for all.

A training stream of ``n`` frames looks like what a long fine-tuning job sends:

- ``training.log`` frames with an ``id:`` line, an ``event:`` line and one
  ``data:`` line of camelCase JSON (about 230 bytes each);
- about 1% ``event: ping`` keepalives (no id, empty data);
- a ``checkpoint.saved`` frame every 500 frames;
- the last two frames are ``training.completed`` and ``event: end``.

Every frame counts as one frame in the per-second rates, pings included, so a
decoder that drops pings does not look faster than one that yields them.
"""

from __future__ import annotations

import functools
import json
import math

__all__ = [
    "CHUNK_SIZE",
    "JOB_ID",
    "chunked",
    "frame_id_offsets",
    "frames_of",
    "training_stream",
]

CHUNK_SIZE = 64 * 1024
"""The in-memory workloads feed the decoders 64 KiB at a time, like a socket read."""

JOB_ID = "bench-job"

PING_EVERY = 100
CHECKPOINT_EVERY = 500


def _timestamp(i: int) -> str:
    s = i % 60
    m = (i // 60) % 60
    h = (i // 3600) % 24
    d = 1 + (i // 86400) % 28
    return f"2026-01-{d:02d}T{h:02d}:{m:02d}:{s:02d}Z"


def _log_frame(i: int, job_id: str) -> bytes:
    # Formatted by hand (not json.dumps) so that building a million frames stays quick;
    # the result is the same compact JSON.
    step = i + 1
    loss = round(0.4 + 2.0 * math.exp(-step / 20000.0) + 0.01 * math.sin(step), 6)
    epoch = round(step / 5000.0, 4)
    sps = round(40.0 + math.cos(step / 7.0), 3)
    return (
        f"id: {i}\nevent: training.log\ndata: "
        f'{{"type":"training.log","jobId":"{job_id}","timestamp":"{_timestamp(i)}",'
        f'"step":{step},"loss":{loss!r},"evalLoss":null,"learningRate":0.0002,'
        f'"epoch":{epoch!r},"samplesPerSecond":{sps!r}}}\n\n'
    ).encode()


def _checkpoint_frame(i: int, job_id: str) -> bytes:
    payload = {
        "type": "checkpoint.saved",
        "jobId": job_id,
        "timestamp": _timestamp(i),
        "step": i + 1,
        "artifacts": [{"path": f"checkpoints/step-{i + 1}/adapter.safetensors"}],
    }
    data = json.dumps(payload, separators=(",", ":"))
    return f"id: {i}\nevent: checkpoint.saved\ndata: {data}\n\n".encode()


def _completed_frame(i: int, job_id: str) -> bytes:
    payload = {
        "type": "training.completed",
        "jobId": job_id,
        "timestamp": _timestamp(i),
        "metrics": {"loss": 0.41},
        "artifacts": [{"path": "final/adapter.safetensors"}],
    }
    data = json.dumps(payload, separators=(",", ":"))
    return f"id: {i}\nevent: training.completed\ndata: {data}\n\n".encode()


PING_FRAME = b"event: ping\ndata:\n\n"
END_FRAME = b"event: end\ndata: {}\n\n"


@functools.lru_cache(maxsize=8)
def _frames(n: int, job_id: str) -> tuple[bytes, ...]:
    if n < 3:
        raise ValueError("a training stream has at least 3 frames")
    frames: list[bytes] = []
    for i in range(n - 2):
        if i % PING_EVERY == PING_EVERY - 1:
            frames.append(PING_FRAME)
        elif i % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 2:
            frames.append(_checkpoint_frame(i, job_id))
        else:
            frames.append(_log_frame(i, job_id))
    frames.append(_completed_frame(n - 2, job_id))
    frames.append(END_FRAME)
    return tuple(frames)


def frames_of(n: int, job_id: str = JOB_ID) -> list[bytes]:
    """The ``n`` frames of a stream for ``job_id``, one bytes object each (not cached)."""
    return list(_frames.__wrapped__(n, job_id))


@functools.lru_cache(maxsize=8)
def training_stream(n: int, job_id: str = JOB_ID) -> bytes:
    """The whole stream of ``n`` frames as one bytes object (cached)."""
    return b"".join(_frames(n, job_id))


@functools.lru_cache(maxsize=4)
def frame_id_offsets(n: int, job_id: str = JOB_ID) -> dict[str, int]:
    """For resuming: the byte offset just after the frame with each SSE id."""
    offsets: dict[str, int] = {}
    pos = 0
    for i, frame in enumerate(_frames(n, job_id)):
        pos += len(frame)
        if frame.startswith(b"id: "):
            offsets[str(i)] = pos
    return offsets


def chunked(data: bytes, size: int = CHUNK_SIZE) -> list[bytes]:
    """``data`` cut into ``size``-byte chunks (frames straddle the cuts)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def count_kinds(n: int, job_id: str = JOB_ID) -> dict[str, int]:
    """How many frames of each kind a stream of ``n`` frames has (for checks)."""
    kinds: dict[str, int] = {}
    for frame in _frames(n, job_id):
        name = frame.split(b"event: ", 1)[1].split(b"\n", 1)[0].decode()
        kinds[name] = kinds.get(name, 0) + 1
    return kinds
