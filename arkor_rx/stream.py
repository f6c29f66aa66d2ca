"""Follow a job's event stream across reconnects, as an async iterator or a cold Observable.

Rule 1: one pull loop. :class:`EventStream` opens the stream, reads chunks,
decodes frames and yields typed events one at a time; it reads nothing more
until the consumer asks for the next event. So the consumer's handling of an
event always happens before the stream goes on.

Rule 2: the resume id moves only after an event has been handled, that is,
when the consumer comes back for the next one. A consumer that fails on event
N stops there: a later resume (if any) sends the id of N-1, and N is not lost.

Rule 3: the idle watchdog times the network read and nothing else: each
``read_chunk()`` gets ``idle_timeout`` seconds to bring a byte (a keepalive
counts). The time the consumer spends with an event is never counted.

Rule 4: events already delivered are not delivered again when a server
replays after a resume: the ids of the last ``dedupe_window`` events are
remembered (ids are opaque strings). A frame without an ``id`` line of its own
inherits the previous id in SSE; it is neither de-duplicated nor recorded.

Rule 5: the iteration ends after a terminal event (``training.completed``,
``training.failed``) or an ``event: end`` frame, with no reconnect. It raises a
permanent error at once, and :class:`~arkor_rx.errors.ReconnectExhaustedError`
past ``max_attempts`` (see :mod:`arkor_rx.retry` for the rules).

Rule 6: cancellation is never swallowed. Cancelling the consumer interrupts a
pending connect, read or backoff delay at once and closes the connection.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import random as _random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from arkor_rx._loop import loop_of
from arkor_rx.errors import StreamIdleTimeout
from arkor_rx.events import TERMINAL_STREAM_EVENT, TrainingEvent, parse_event
from arkor_rx.retry import GiveUp, ReconnectPolicy, ReconnectState
from arkor_rx.sse import SSEDecoder
from arkor_rx.transport import StreamResponse

__all__ = [
    "EventSource",
    "EventStream",
    "Sleep",
    "StreamStats",
    "observe_async",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

Sleep = Callable[[float], Awaitable[None]]
"""How the stream waits between connections (``asyncio.sleep``; inject another in tests)."""


class EventSource(Protocol):
    """What :class:`EventStream` needs from a client, such as an ArkorClient."""

    async def open_event_stream(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> StreamResponse:
        """Open the job's event stream, resuming after ``last_event_id`` when given."""
        ...


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counters of one :class:`EventStream`, as a snapshot."""

    connections: int = 0
    """Streams opened successfully (a 2xx answer)."""
    reconnects: int = 0
    """Times the stream was opened again after the first attempt."""
    failures: int = 0
    """Failures so far (connect errors, drops, idle timeouts, transient statuses)."""
    events: int = 0
    """Events delivered (and handled)."""
    duplicates: int = 0
    """Replayed events skipped because their id had already been delivered."""
    last_event_id: str | None = None
    """The resume id: the id of the last handled event, sent as ``Last-Event-ID``."""


class EventStream:
    """A job's events, in order, each once, across reconnects: an async iterator.

    Examples:
        >>> async def follow(client, job_id):  # doctest: +SKIP
        ...     stream = EventStream(client, job_id, ReconnectPolicy(max_attempts=10))
        ...     async with contextlib.aclosing(stream):
        ...         async for event in stream:
        ...             print(event.type)
        ...     print(stream.stats.reconnects)

    Iterate it once. Leaving the loop early (``break``, an exception, a
    cancellation) closes the connection when the iterator is closed:
    use ``contextlib.aclosing`` or call :meth:`aclose`.

    Args:
        client: what opens the stream, usually an :class:`~arkor_rx.client.ArkorClient`.
        job_id: the job to follow.
        policy: the reconnect rules.
        last_event_id: resume after this id on the first connection too.
        sleep: how to wait between connections (default ``asyncio.sleep``).
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
    ) -> None:
        self._client = client
        self._job_id = job_id
        self._policy = policy if policy is not None else ReconnectPolicy()
        self._sleep = sleep
        self._state = ReconnectState(self._policy, random=random)
        self._last_id: str | None = last_event_id or None
        # Recent ids: a set to test, a deque to forget the oldest in O(1).
        self._seen: set[str] = set()
        self._seen_order: collections.deque[str] = collections.deque()
        self._connections = 0
        self._reconnects = 0
        self._events = 0
        self._duplicates = 0
        self._agen = self._run()

    @property
    def job_id(self) -> str:
        """The job followed."""
        return self._job_id

    @property
    def last_event_id(self) -> str | None:
        """The resume id: the id of the last handled event (None before any)."""
        return self._last_id

    @property
    def stats(self) -> StreamStats:
        """A snapshot of the counters."""
        return StreamStats(
            connections=self._connections,
            reconnects=self._reconnects,
            failures=self._state.total_failures,
            events=self._events,
            duplicates=self._duplicates,
            last_event_id=self._last_id,
        )

    def __aiter__(self) -> EventStream:
        return self

    def __anext__(self) -> Awaitable[TrainingEvent]:
        # A plain method handing out the generator's awaitable: no extra
        # coroutine per event on the hot path.
        return self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop following and close the connection. Idempotent."""
        await self._agen.aclose()

    def _remember(self, event_id: str) -> None:
        seen = self._seen
        if event_id in seen:
            return
        seen.add(event_id)
        order = self._seen_order
        order.append(event_id)
        if len(order) > self._policy.dedupe_window:
            seen.discard(order.popleft())

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

    async def _run(self) -> AsyncGenerator[TrainingEvent, None]:
        state = self._state
        dedupe = self._policy.dedupe_window > 0
        seen = self._seen
        first = True
        while True:
            if not first:
                self._reconnects += 1
            first = False
            response: StreamResponse | None = None
            decoder = SSEDecoder()
            try:
                response = await self._client.open_event_stream(
                    self._job_id, last_event_id=self._last_id
                )
                self._connections += 1
                prev_id: str | None = None
                # The decoder's last event ID as the resume id last reflected
                # it: an id-only block (or an empty ``id:``) moves the decoder's
                # value without dispatching anything, and is caught up with at
                # the end of the chunk, once every event before it was handled.
                synced = ""
                retry: int | None = None
                while chunk := await self._read(response):
                    frames = decoder.feed(chunk)
                    if decoder.retry != retry:
                        retry = decoder.retry
                        state.record_server_retry(retry)
                    for sse in frames:
                        if sse.event == TERMINAL_STREAM_EVENT:
                            return
                        frame_id = sse.id
                        # An id equal to the previous frame's was carried over
                        # by SSE from that frame: this frame has no id of its own.
                        own_id = frame_id if frame_id != prev_id else None
                        prev_id = frame_id
                        event = parse_event(sse)
                        if event is None:
                            self._last_id = frame_id  # nothing to handle: skipped is done
                            continue
                        if own_id is not None and dedupe and own_id in seen:
                            # Already handled: the resume id stays where it is.
                            self._duplicates += 1
                            continue
                        state.record_data()
                        yield event
                        # The consumer is back: the event was handled (Rule 2).
                        # WHATWG: the last event ID becomes the frame's id
                        # buffer, None (no header) after an empty ``id:``.
                        self._events += 1
                        self._last_id = frame_id
                        if own_id is not None and dedupe:
                            self._remember(own_id)
                        if event.terminal:
                            return
                    if frames:
                        synced = frames[-1].id or ""  # every frame of the chunk is done
                    if decoder.last_event_id != synced:
                        synced = decoder.last_event_id
                        self._last_id = synced or None
                decoder.close()
                decision = state.on_clean_close()
            except Exception as exc:
                decision = state.on_failure(exc)
                logger.debug("event stream of job %s failed: %s", self._job_id, exc)
            finally:
                if response is not None:
                    await response.aclose()
            if isinstance(decision, GiveUp):
                raise decision.error
            logger.debug(
                "event stream of job %s: reconnecting in %.3f s", self._job_id, decision.delay
            )
            await self._sleep(decision.delay)


def observe_async(
    open_iterator: Callable[[], Awaitable[AsyncIterator[_T]]],
) -> reactivex.Observable[_T]:
    """A cold Observable that drains a fresh async iterator for each subscription.

    On subscribe, one task is started on the asyncio loop (the running one, or
    the loop of an ``AsyncIOScheduler`` passed to ``subscribe``, which may be
    called from another thread then). The task awaits ``open_iterator()`` and
    pushes each item to the observer; ``on_completed`` when the iterator ends,
    ``on_error`` when it raises (or when the observer's ``on_next`` raises).
    Disposing cancels the task, which closes the iterator (and its connection).

    Examples:
        >>> async def numbers():
        ...     for i in range(3):
        ...         yield i
        >>> async def demo():
        ...     done = asyncio.Event()
        ...     async def make():
        ...         return numbers()
        ...     observe_async(make).subscribe(print, on_completed=done.set)
        ...     await done.wait()
        >>> asyncio.run(demo())
        0
        1
        2

    Args:
        open_iterator: called once per subscription, on the loop.

    Returns:
        The Observable. Subscribing with no running loop and no
        ``AsyncIOScheduler`` sends a ``RuntimeError`` to ``on_error``.
    """

    def subscribe(
        observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        loop = loop_of(scheduler)
        if loop is None:
            observer.on_error(
                RuntimeError(
                    "subscribe inside a running asyncio loop, or pass "
                    "scheduler=AsyncIOScheduler(loop)"
                )
            )
            return Disposable()
        disposed = False

        def fail(exc: Exception) -> None:
            try:
                observer.on_error(exc)
            except Exception as unhandled:  # an observer without on_error re-raises
                loop.call_exception_handler(
                    {"message": "unhandled error in an arkor_rx observable", "exception": unhandled}
                )

        async def pump() -> None:
            try:
                iterator = await open_iterator()
            except Exception as exc:
                fail(exc)
                return
            try:
                async for item in iterator:
                    observer.on_next(item)
                    if disposed:
                        return
            except Exception as exc:
                if not disposed:
                    fail(exc)
                return
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            if not disposed:
                observer.on_completed()

        handle: asyncio.Task[None] | concurrent.futures.Future[None]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            handle = loop.create_task(pump())
        else:
            handle = asyncio.run_coroutine_threadsafe(pump(), loop)

        def dispose() -> None:
            nonlocal disposed
            disposed = True
            handle.cancel()

        return Disposable(dispose)

    return reactivex.create(subscribe)
