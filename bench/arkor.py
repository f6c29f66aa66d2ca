"""arkor_rx's side of the workloads: the library used the way a user would use it.

Kept apart from :mod:`bench.workloads` so that the reactive layers
(``trainer``, ``operators``) are imported only by the workloads that measure
them, and so a layer that is missing shows up as one row's error rather than
an import failure of the whole bench.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from reactivex import Observable
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx.client import ArkorClient
from arkor_rx.events import TrainingEvent, parse_batch
from arkor_rx.sse import SSEDecoder
from arkor_rx.stream import _pieces

__all__ = [
    "client_stream",
    "dispatch",
    "event_stream",
    "event_stream_batches",
    "fan_in",
    "follow_events",
    "make_client",
    "operator_pipeline",
]

EventHook = Callable[[TrainingEvent], None]

_DATASET = {"type": "huggingface", "name": "bench/bench"}


def _module(name: str) -> Any:
    return importlib.import_module(name)


def make_client(base_url: str) -> ArkorClient:
    """A client of the static bench server (any token and slugs will do)."""
    return ArkorClient(base_url, token="bench-token", org_slug="bench", project_slug="bench")


async def _consume(source: Observable[Any], on_event: EventHook | None = None) -> int:
    """Subscribe to ``source`` on the running loop; count items until it completes."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    count = 0

    def on_next(event: Any) -> None:
        nonlocal count
        count += 1
        if on_event is not None:
            on_event(event)

    def on_error(exc: Exception) -> None:
        if not done.done():
            done.set_exception(exc)

    def on_completed() -> None:
        if not done.done():
            done.set_result(None)

    subscription = source.subscribe(
        on_next, on_error, on_completed, scheduler=AsyncIOScheduler(loop)
    )
    try:
        await done
    finally:
        subscription.dispose()
    return count


def _trainer(client: ArkorClient, name: str, frames: int, **kwargs: Any) -> Any:
    trainer_module = _module("arkor_rx.trainer")
    return trainer_module.create_trainer(
        name=name,
        model="bench",
        dataset=_DATASET,
        max_steps=frames,
        client=client,
        **kwargs,
    )


async def follow_events(
    base_url: str,
    frames: int,
    *,
    name: str = "bench",
    on_event: EventHook | None = None,
    max_attempts: int | None = None,
) -> int:
    """Start a job and follow ``trainer.events()`` to the end; return the events delivered.

    ``max_attempts`` goes to the trainer's ``ReconnectPolicy`` (default: retry forever).
    """
    from arkor_rx.retry import ReconnectPolicy

    async with make_client(base_url) as client:
        trainer = _trainer(
            client, name, frames, reconnect=ReconnectPolicy(max_attempts=max_attempts)
        )
        return await _consume(trainer.events(), on_event)


async def client_stream(base_url: str, frames: int, *, name: str = "bench") -> int:
    """The layers under the stream: client stream, ``feed_frames`` and ``parse_batch``.

    One connection, no reconnect logic, no de-duplication, no observable: the
    same decoding and validation per chunk as ``EventStream``, so what the
    stream and the trainer add on top shows as the differences with
    :func:`event_stream_batches` and :func:`follow_events`.
    """
    async with make_client(base_url) as client:
        job = await client.create_job(
            name, {"model": "bench", "datasetSource": _DATASET, "maxSteps": frames}
        )
        stream = await client.open_event_stream(job.id)
        decoder = SSEDecoder()
        count = 0
        try:
            while chunk := await stream.read_chunk():
                for piece in _pieces(chunk):  # as EventStream takes a big read
                    count += len(parse_batch(decoder.feed_frames(piece)).events)
        finally:
            await stream.aclose()
        decoder.close()
        return count


async def fan_in(base_url: str, streams: int, frames: int) -> int:
    """``streams`` live jobs on one client, all followed at once; return the events delivered.

    The server holds the second half of each stream until all of them are
    open (see :mod:`bench.server`), as live jobs would.
    """
    tag = f"fan{next(_RUNS)}"
    async with make_client(base_url) as client:
        counts = await asyncio.gather(
            *(
                _consume(_trainer(client, f"{tag}-{i}-of-{streams}", frames).events())
                for i in range(streams)
            )
        )
    return sum(counts)


_RUNS = itertools.count()


async def dispatch(
    events: list[TrainingEvent], callback: Callable[[Any], Awaitable[None] | None]
) -> int:
    """The Trainer's serialized callback dispatch of ``events`` with ``callback`` as ``on_log``.

    ``Dispatcher.dispatch`` driven by ``drain``, the loop ``Trainer.wait()``
    runs, fed from the very same ``asyncio.Queue`` source as the bare-loop
    reference, so the difference is exactly what the Trainer adds per event.
    """
    from arkor_rx.callbacks import Dispatcher, TrainerCallbacks, drain
    from arkor_rx.jobs import TrainingJob
    from bench.workloads import queued

    dispatcher = Dispatcher(TrainerCallbacks(on_log=callback), TrainingJob(id="bench"))
    return await drain(queued(events), dispatcher.dispatch)


async def event_stream(base_url: str, frames: int, *, name: str = "bench") -> int:
    """``arkor_rx.stream.EventStream``, the async iterator under ``trainer.events()``."""
    from arkor_rx.stream import EventStream

    async with make_client(base_url) as client:
        job = await client.create_job(
            name, {"model": "bench", "datasetSource": _DATASET, "maxSteps": frames}
        )
        stream = EventStream(client, job.id)
        count = 0
        try:
            async for _event in stream:
                count += 1
        finally:
            await stream.aclose()
        return count


async def event_stream_batches(base_url: str, frames: int, *, name: str = "bench") -> int:
    """``EventStream.batches()``: a chunk's events in a plain loop, as ``trainer.events()`` does."""
    from arkor_rx.stream import EventStream

    async with make_client(base_url) as client:
        job = await client.create_job(
            name, {"model": "bench", "datasetSource": _DATASET, "maxSteps": frames}
        )
        stream = EventStream(client, job.id)
        count = 0
        try:
            async for batch in stream.batches():
                for _event in batch:
                    count += 1
        finally:
            await stream.aclose()
        return count


def operator_pipeline(events: Iterable[TrainingEvent], alpha: float) -> int:
    """``logs()``, ``metric("loss")``, ``ema(alpha)`` from ``arkor_rx.operators`` on a Subject."""
    aop = _module("arkor_rx.operators")
    seen = 0

    def sink(_point: Any) -> None:
        nonlocal seen
        seen += 1

    subject: Subject[TrainingEvent] = Subject()
    subject.pipe(aop.logs(), aop.metric("loss"), aop.ema(alpha)).subscribe(on_next=sink)
    on_next = subject.on_next
    for event in events:
        on_next(event)
    subject.on_completed()
    return seen
