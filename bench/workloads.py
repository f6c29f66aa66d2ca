"""The workloads of ``make bench``, as plain functions of their size.

Each function does one whole run and returns how many items it processed
(frames for decoders and streams, events for dispatch), so the harness can
check that a contestant really did all the work, and the smoke test
(``tests/bench/test_bench_smoke.py``) can run every one of them at a tiny
size. None of them times itself except where the set-up must be left out
(noted on the function); the harness in :mod:`bench.run` does the timing.

Groups (the letters of the issue):

a. in-memory decode of the training stream fed in 64 KiB chunks;
b. decode plus typed events (``parse_event``);
c. end to end over loopback from the static server (:mod:`bench.server`);
d. dispatch of user callbacks, and an operator pipeline;
e. memory (in :mod:`bench.memory`, a child process per measurement);
f. fan-in of many concurrent job streams.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import aiohttp
import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx.events import TrainingEvent, TrainingLog, parse_batch, parse_event
from bench.streams import chunked, training_stream

__all__ = [
    "EMA_ALPHA",
    "aiohttp_raw_bytes",
    "arkor_client_stream",
    "arkor_decode",
    "arkor_decode_frames",
    "arkor_decode_parse",
    "arkor_decode_parse_batch",
    "arkor_event_stream",
    "arkor_event_stream_batches",
    "arkor_events_stream",
    "arkor_fan_in",
    "bare_queue_loop",
    "httpx_sse_decode_json",
    "naive_concat_map",
    "pipeline_arkor",
    "pipeline_rxpy_subject",
    "queued",
    "stream_chunks",
    "typed_events",
]

EMA_ALPHA = 0.1
"""The smoothing factor of the EMA in the operator pipeline."""


def stream_chunks(n: int) -> list[bytes]:
    """The training stream of ``n`` frames in 64 KiB chunks."""
    return chunked(training_stream(n))


def typed_events(n: int) -> list[TrainingEvent]:
    """The typed events of a stream of ``n`` frames (pings and ``end`` dropped)."""
    from arkor_rx.sse import SSEDecoder

    decoder = SSEDecoder()
    out: list[TrainingEvent] = []
    for chunk in stream_chunks(n):
        for sse in decoder.feed(chunk):
            event = parse_event(sse)
            if event is not None:
                out.append(event)
    decoder.close()
    return out


# --- (a) and (b): in memory -------------------------------------------------


def arkor_decode(chunks: list[bytes]) -> int:
    """``arkor_rx.sse.SSEDecoder.feed`` over the chunks; returns the frames seen."""
    from arkor_rx.sse import SSEDecoder

    decoder = SSEDecoder()
    feed = decoder.feed
    count = 0
    for chunk in chunks:
        count += len(feed(chunk))
    decoder.close()
    return count


def arkor_decode_frames(chunks: list[bytes]) -> int:
    """``SSEDecoder.feed_frames`` over the chunks (columns, no object per frame)."""
    from arkor_rx.sse import SSEDecoder

    decoder = SSEDecoder()
    feed = decoder.feed_frames
    count = 0
    for chunk in chunks:
        count += len(feed(chunk))
    decoder.close()
    return count


def arkor_decode_parse(chunks: list[bytes]) -> int:
    """Decode and turn every frame into a typed event; returns the frames seen."""
    from arkor_rx.sse import SSEDecoder

    decoder = SSEDecoder()
    feed = decoder.feed
    parse = parse_event
    count = 0
    for chunk in chunks:
        for sse in feed(chunk):
            parse(sse)
            count += 1
    decoder.close()
    return count


def arkor_decode_parse_batch(chunks: list[bytes]) -> int:
    """``SSEDecoder.feed_frames`` + ``parse_batch``: a chunk's frames decoded and validated
    together, as ``EventStream`` does; returns the frames seen."""
    from arkor_rx.sse import SSEDecoder

    decoder = SSEDecoder()
    feed = decoder.feed_frames
    count = 0
    for chunk in chunks:
        frames = feed(chunk)
        parse_batch(frames)
        count += len(frames)
    decoder.close()
    return count


def httpx_sse_decode_json(chunks: list[bytes]) -> int:
    """httpx-sse's decoder plus ``json.loads`` of each data: untyped dicts, for reference."""
    import codecs

    from bench.peers import _import

    decoders = _import("httpx_sse._decoders")
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = decoders.SSELineDecoder()
    sse_decoder = decoders.SSEDecoder()
    loads = json.loads
    count = 0
    for chunk in chunks:
        for line in lines.decode(text_decoder.decode(chunk)):
            sse = sse_decoder.decode(line.rstrip("\n"))
            if sse is not None:
                count += 1
                if sse.data:
                    loads(sse.data)
    return count


# --- (c) end to end ---------------------------------------------------------


async def aiohttp_raw_bytes(url: str, expected_bytes: int) -> int:
    """The transport floor: aiohttp reading the body as fast as it arrives. Returns bytes."""
    total = 0
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        read = response.content.readany
        while chunk := await read():
            total += len(chunk)
    if total != expected_bytes:
        raise RuntimeError(f"read {total} bytes, expected {expected_bytes}")
    return total


async def arkor_events_stream(base_url: str, frames: int, *, name: str = "bench") -> int:
    """``trainer.events()`` of a job on the static server: typed events until the end.

    Returns the number of typed events delivered (pings and ``end`` are not events).
    """
    from bench.arkor import follow_events

    return await follow_events(base_url, frames, name=name)


async def arkor_client_stream(base_url: str, frames: int) -> int:
    """The layers under the trainer (client, decoder, ``parse_event``); returns typed events."""
    from bench.arkor import client_stream

    return await client_stream(base_url, frames)


async def arkor_event_stream(base_url: str, frames: int) -> int:
    """``arkor_rx.stream.EventStream`` (the pull loop under the trainer); returns typed events."""
    from bench.arkor import event_stream

    return await event_stream(base_url, frames)


async def arkor_event_stream_batches(base_url: str, frames: int) -> int:
    """``EventStream.batches()`` in a plain loop per chunk; returns typed events."""
    from bench.arkor import event_stream_batches

    return await event_stream_batches(base_url, frames)


async def arkor_fan_in(base_url: str, streams: int, frames: int) -> int:
    """``streams`` jobs followed at once in one process; returns the events delivered."""
    from bench.arkor import fan_in

    return await fan_in(base_url, streams, frames)


# --- (d) dispatch -----------------------------------------------------------


async def _noop_async(_event: object) -> None:
    return None


def queued(events: list[TrainingEvent]) -> AsyncIterator[TrainingEvent]:
    """The events through an ``asyncio.Queue``, as an async iterator: the dispatch source."""
    queue: asyncio.Queue[TrainingEvent | None] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    queue.put_nowait(None)

    async def drain() -> AsyncIterator[TrainingEvent]:
        while True:
            item = await queue.get()
            if item is None:
                return
            yield item

    return drain()


async def bare_queue_loop(events: list[TrainingEvent]) -> int:
    """The floor: ``async for`` over an ``asyncio.Queue``, awaiting a no-op per event."""
    count = 0
    async for event in queued(events):
        await _noop_async(event)
        count += 1
    return count


async def naive_concat_map(events: list[TrainingEvent]) -> int:
    """What a user writes with plain RxPY: ``concat_map(defer(from_future(task)))``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    count = 0

    def call(event: TrainingEvent) -> reactivex.Observable[None]:
        return reactivex.defer(
            lambda _scheduler: reactivex.from_future(asyncio.ensure_future(_noop_async(event)))
        )

    def on_next(_value: None) -> None:
        nonlocal count
        count += 1

    reactivex.from_iterable(events).pipe(ops.concat_map(call)).subscribe(
        on_next=on_next,
        on_error=done.set_exception,
        on_completed=lambda: done.set_result(count),
        scheduler=AsyncIOScheduler(loop),
    )
    return await done


def run_callbacks(
    events: list[TrainingEvent], callback: Callable[[Any], Awaitable[None] | None]
) -> Awaitable[int]:
    """The Trainer's own serialized dispatch of ``callback`` (as ``on_log``) for ``events``."""
    from bench.arkor import dispatch

    return dispatch(events, callback)


# --- (d) operator pipelines ---------------------------------------------------


def _is_log(event: TrainingEvent) -> bool:
    return isinstance(event, TrainingLog)


def _loss(event: TrainingEvent) -> tuple[int, float]:
    assert isinstance(event, TrainingLog)
    return (event.step, event.loss if event.loss is not None else 0.0)


def pipeline_rxpy_subject(events: Iterable[TrainingEvent]) -> int:
    """RxPY's bare ``Subject`` with filter, map and an EMA written as ``scan``.

    The map makes ``(step, loss)`` points, as ``arkor_rx.operators.metric`` does.
    """
    alpha = EMA_ALPHA
    seen = 0

    def ema(acc: tuple[int, float] | None, point: tuple[int, float]) -> tuple[int, float]:
        if acc is None:
            return point
        return (point[0], alpha * point[1] + (1 - alpha) * acc[1])

    def sink(_value: tuple[int, float] | None) -> None:
        nonlocal seen
        seen += 1

    subject: Subject[TrainingEvent] = Subject()
    subject.pipe(
        ops.filter(_is_log),
        ops.map(_loss),
        ops.scan(ema, None),
    ).subscribe(on_next=sink)
    on_next = subject.on_next
    for event in events:
        on_next(event)
    subject.on_completed()
    return seen


def pipeline_arkor(events: Iterable[TrainingEvent]) -> int:
    """The same pipeline with arkor_rx's operators (``arkor_rx.operators``)."""
    from bench.arkor import operator_pipeline

    return operator_pipeline(events, EMA_ALPHA)
