"""Follow a job's event stream across reconnects, as an async iterator or a cold Observable.

Rule 1: one pull loop, one await per network read. [`EventStream`][arkor_rx.stream.EventStream]
opens
the stream, reads a chunk, decodes its frames and validates them together,
and hands the chunk's events to the consumer as one batch (a big read in
pieces of about 32 KiB, see ``_PIECE``; the network is not awaited between
them); it reads nothing more until the consumer asks for the next batch (or,
iterating event by event, for the event after the batch's last). So the
consumer's handling of an event always happens before the stream goes on.

Rule 2: the resume id moves only after an event has been handled, that is,
when the consumer comes back for the next one. A consumer that fails on event
N stops there: a later resume (if any) sends the id of N-1, and N is not lost.
This holds inside a batch too: the stream reads how far the consumer got
from the batch's own iterator (see [`EventStream.batches`][arkor_rx.stream.EventStream.batches]).

Rule 3: the idle watchdog times the network read and nothing else: each
``read_chunk()`` gets ``idle_timeout`` seconds to bring a byte (a keepalive
counts). The time the consumer spends with an event is never counted.

Rule 4: events already delivered are not delivered again (see
`arkor_rx._dedupe`): a frame's own id (never one SSE carried over) is
checked against the ids of the last ``dedupe_window`` events, and when the
ids are increasing integers a high-water mark makes a server that replays
from the start after a resume deliver nothing twice. Such a replay is logged
as a warning and counted in [`StreamStats.replays`][arkor_rx.stream.StreamStats.replays].

Rule 5: the iteration ends after a terminal event (``training.completed``,
``training.failed``) or an ``event: end`` frame, with no reconnect. It raises a
permanent error at once, and [`ReconnectExhaustedError`][arkor_rx.errors.ReconnectExhaustedError]
past ``max_attempts`` (see [`arkor_rx.retry`][arkor_rx.retry] for the rules).

Rule 6: cancellation is never swallowed. Cancelling the consumer interrupts a
pending connect, read or backoff delay at once and closes the connection.

Rule 7: ``on_reconnect(n)``, when given, is called each time the stream is
opened again, as it happens (before the attempt, with ``n`` the new value of
[`StreamStats.reconnects`][arkor_rx.stream.StreamStats.reconnects]): how the
sinks' reconnect counters move while a run is live.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from arkor_rx._dedupe import Batch, Planner, split_at_end
from arkor_rx._loop import loop_of as loop_of  # its old home: kept importable from here
from arkor_rx._observe import observe_async
from arkor_rx.errors import StreamIdleTimeout
from arkor_rx.events import TERMINAL_STREAM_EVENT, TrainingEvent, parse_batch
from arkor_rx.retry import GiveUp, ReconnectPolicy, ReconnectState, RetryDecision
from arkor_rx.sse import SSEDecoder
from arkor_rx.transport import StreamResponse

__all__ = [
    "EventSource",
    "EventStream",
    "Sleep",
    "StreamStats",
    "loop_of",
    "observe_async",
]

logger = logging.getLogger(__name__)

_PIECE = 32 * 1024
"""Bytes decoded, validated and delivered together. A network read can bring far
more (aiohttp hands over everything buffered, 256 KiB and up); taking it in
pieces keeps a piece's text, frames and events in the CPU cache while they are
decoded, validated and handled, which is about a fifth faster on a big read.
Any split of the bytes gives the same events (SSE Rule 9)."""


def _pieces(chunk: bytes) -> list[bytes]:
    if len(chunk) <= _PIECE + _PIECE // 2:
        return [chunk]
    return [chunk[i : i + _PIECE] for i in range(0, len(chunk), _PIECE)]


Sleep = Callable[[float], Awaitable[None]]
"""How the stream waits between connections (``asyncio.sleep``; inject another in tests)."""


class EventSource(Protocol):
    """What [`EventStream`][arkor_rx.stream.EventStream] needs from a client, such as an
    ArkorClient."""

    async def open_event_stream(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> StreamResponse:
        """Open the job's event stream, resuming after ``last_event_id`` when given."""
        ...


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counters of one [`EventStream`][arkor_rx.stream.EventStream], as a snapshot."""

    connections: int = 0
    """Streams opened successfully (a 2xx answer)."""
    reconnects: int = 0
    """Times the stream was opened again after the first attempt."""
    failures: int = 0
    """Failures so far (connect errors, drops, idle timeouts, transient statuses)."""
    events: int = 0
    """Events delivered (and handled)."""
    duplicates: int = 0
    """Replayed events skipped because they had already been delivered."""
    last_event_id: str | None = None
    """The resume id: the id of the last handled event, sent as ``Last-Event-ID``."""
    replays: int = 0
    """Resumed connections on which the server sent again events already
    delivered (it ignored ``Last-Event-ID``, say, and replayed from the start).
    Each is logged as a warning; the replayed events count in
    [`duplicates`][arkor_rx.stream.StreamStats.duplicates]."""


class EventStream:
    """A job's events, in order, each once, across reconnects: an async iterator.

    Examples:
        >>> async def follow(client, job_id):  # doctest: +SKIP
        ...     stream = EventStream(client, job_id, ReconnectPolicy(max_attempts=10))
        ...     async with contextlib.aclosing(stream):
        ...         async for event in stream:
        ...             print(event.type)
        ...     print(stream.stats.reconnects)

    Iterate it once, either event by event (``async for``) or a chunk at a
    time ([`batches`][arkor_rx.stream.EventStream.batches], the faster way). Leaving the loop early
    (``break``, an exception, a cancellation) closes the connection when the
    iterator is closed: use ``contextlib.aclosing`` or call
    [`aclose`][arkor_rx.stream.EventStream.aclose].

    Args:
        client: what opens the stream, usually an [`ArkorClient`][arkor_rx.client.ArkorClient].
        job_id: the job to follow.
        policy: the reconnect rules.
        last_event_id: resume after this id on the first connection too.
        sleep: how to wait between connections (default ``asyncio.sleep``).
        on_reconnect: called with the reconnect count each time the stream is
            opened again (Rule 7); it must return quickly and not raise.
        random: the jitter's random source (default ``random.random``).

    Raises (from iteration):
        CloudApiError: a permanent status (401, 403, 410, 426 ...), at once.
        ReconnectExhaustedError: more consecutive failures than ``max_attempts``;
            ``__cause__`` is the last one.
        asyncio.CancelledError: the consumer was cancelled; the connection is closed.
    """

    def __init__(
        self,
        client: EventSource,
        job_id: str,
        policy: ReconnectPolicy | None = None,
        *,
        last_event_id: str | None = None,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        on_reconnect: Callable[[int], object] | None = None,
    ) -> None:
        self._client = client
        self._on_reconnect = on_reconnect
        self._job_id = job_id
        self._policy = policy if policy is not None else ReconnectPolicy()
        self._sleep = sleep
        self._state = ReconnectState(self._policy, random=random)
        self._last_id: str | None = last_event_id or None
        self._planner = Planner(self._policy.dedupe_window)
        self._batch: Batch | None = None  # the batch being handled, if any
        self._connections = 0
        self._reconnects = 0
        self._events = 0  # handled, in the batches before the current one
        self._duplicates = 0
        self._source = self._run()
        self._each: AsyncGenerator[TrainingEvent, None] | None = None

    @property
    def job_id(self) -> str:
        """The job followed."""
        return self._job_id

    @property
    def last_event_id(self) -> str | None:
        """The resume id: the id of the last handled event (None before any)."""
        batch = self._batch
        if batch is None:
            return self._last_id
        return batch.resume_id(batch.handled())

    @property
    def stats(self) -> StreamStats:
        """A snapshot of the counters."""
        batch = self._batch
        events, duplicates = self._events, self._duplicates
        if batch is not None:
            handled = batch.handled()
            events += handled
            duplicates += batch.duplicates_before(handled)
        return StreamStats(
            connections=self._connections,
            reconnects=self._reconnects,
            failures=self._state.total_failures,
            events=events,
            duplicates=duplicates,
            last_event_id=self.last_event_id,
            replays=self._planner.replays,
        )

    def batches(self) -> AsyncIterator[Iterator[TrainingEvent]]:
        """The events a chunk at a time: one plain iterator per network read.

        Take the events of each batch in a plain ``for`` loop and handle each
        one before taking the next: the stream reads how far you got from the
        iterator itself, so an event counts as handled once you take the next
        one from it, or ask for the next batch (Rule 2). Leaving a batch early
        (an exception, ``break``) leaves the resume id on the last event
        handled. Use either this or ``async for``, not both.

        Examples:
            >>> async def follow(stream):  # doctest: +SKIP
            ...     async with contextlib.aclosing(stream):
            ...         async for batch in stream.batches():
            ...             for event in batch:
            ...                 print(event.type)
        """
        return self._source

    def __aiter__(self) -> EventStream:
        return self

    def __anext__(self) -> Awaitable[TrainingEvent]:
        # A plain method handing out the generator's awaitable: no extra
        # coroutine per event on the hot path.
        each = self._each
        if each is None:
            each = self._each = self._one_by_one()
        return each.__anext__()

    async def aclose(self) -> None:
        """Stop following and close the connection. Idempotent."""
        if self._each is not None:
            await self._each.aclose()
        await self._source.aclose()

    async def _one_by_one(self) -> AsyncGenerator[TrainingEvent, None]:
        async for batch in self._source:
            for event in batch:
                yield event

    async def _read(self, response: StreamResponse) -> bytes:
        idle = self._policy.idle_timeout
        if idle is None:
            return await response.read_chunk()
        try:
            async with asyncio.timeout(idle):
                return await response.read_chunk()
        except TimeoutError as exc:
            raise StreamIdleTimeout(
                f"no bytes on the event stream of job {self._job_id} for {idle:g} s"
            ) from exc

    def _handled(self, batch: Batch) -> None:
        """The consumer came back for more: every event of ``batch`` was handled."""
        self._batch = None
        self._events += len(batch.events)
        self._duplicates += batch.duplicates
        self._last_id = batch.end

    async def _run(self) -> AsyncGenerator[Iterator[TrainingEvent], None]:
        state = self._state
        planner = self._planner
        first = True
        while True:
            if not first:
                self._count_reconnect()
            first = False
            response: StreamResponse | None = None
            decoder = SSEDecoder()
            try:
                resumed_from = self._last_id
                response = await self._client.open_event_stream(
                    self._job_id, last_event_id=resumed_from
                )
                self._connections += 1
                planner.connected(resumed=resumed_from is not None)
                replays = planner.replays
                # An id-only block is caught up with (see _sync_id) at the end
                # of its chunk, once every event before it was handled.
                synced = ""
                retry: int | None = None
                while chunk := await self._read(response):
                    for piece in _pieces(chunk):
                        frames = decoder.feed_frames(piece)
                        if decoder.retry != retry:
                            retry = decoder.retry
                            state.record_server_retry(retry)
                        if not frames:
                            synced = self._sync_id(decoder, synced)
                            continue
                        frames, ended = split_at_end(frames, TERMINAL_STREAM_EVENT)
                        if not frames:
                            return
                        batch = planner.plan(frames, parse_batch(frames), self._last_id)
                        if planner.replays != replays:
                            replays = planner.replays
                            self._warn_replayed(resumed_from)
                        if batch.events:
                            state.record_data()
                            self._batch = batch
                            yield batch.iterator
                        self._handled(batch)  # the consumer is back (Rule 2), if it was away
                        if ended or batch.stop:
                            return
                        # every frame of the chunk is done
                        synced = self._sync_id(decoder, frames.id[-1] or "")
                decoder.close()
                decision = state.on_clean_close()
            except Exception as exc:
                decision = state.on_failure(exc)
                logger.debug("event stream of job %s failed: %s", self._job_id, exc)
            finally:
                if response is not None:
                    await response.aclose()
            await self._back_off(decision)

    def _count_reconnect(self) -> None:
        self._reconnects += 1
        if self._on_reconnect is not None:
            self._on_reconnect(self._reconnects)

    def _sync_id(self, decoder: SSEDecoder, synced: str) -> str:
        """Catch the resume id up with the decoder's last event ID; the value synced.

        ``synced`` is the decoder's value as the resume id last reflected it: an
        id-only block (or an empty ``id:``) moves the decoder's value without
        dispatching anything.
        """
        if decoder.last_event_id != synced:
            synced = decoder.last_event_id
            self._last_id = synced or None
        return synced

    def _warn_replayed(self, resumed_from: str | None) -> None:
        logger.warning(
            "event stream of job %s: the server sent again events already "
            "delivered although the stream resumed after id %s (does it "
            "ignore Last-Event-ID?); skipping them",
            self._job_id,
            resumed_from,
        )

    async def _back_off(self, decision: RetryDecision) -> None:
        """Raise the error of a ``GiveUp``; otherwise wait before reconnecting."""
        if isinstance(decision, GiveUp):
            raise decision.error
        logger.debug("event stream of job %s: reconnecting in %.3f s", self._job_id, decision.delay)
        await self._sleep(decision.delay)
