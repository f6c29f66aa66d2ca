"""The reconnect storm of the hardening issue, replayed in memory with a recording sleep.

A server that sends ``retry: 0`` and closes without data made the default
policy reconnect 1,025 times in under 5 s, and then die with
``OverflowError('int too large to convert to float')``; ``initial_delay=0``
did the same after 1,024 failures. Here thousands of connections are played
without a socket and without waiting: the delays are recorded, never slept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from arkor_rx.client import ArkorClient
from arkor_rx.errors import ReconnectExhaustedError, TransportError
from arkor_rx.retry import SERVER_RETRY_FLOOR, ReconnectPolicy
from arkor_rx.stream import EventStream
from arkor_rx.trainer import create_trainer
from arkor_rx.transport import StreamResponse
from tests.client.faults import drain
from tests.core.core_fakes import (
    ORG,
    PROJECT,
    TOKEN,
    FakeBackend,
    SleepSpy,
    backend_fixture,
    completed,
)

DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}


@pytest.fixture
async def backend() -> AsyncIterator[FakeBackend]:
    """The shared fake backend, for the job routes."""
    async for value in backend_fixture():
        yield value


class _Body:
    """A 200 answer whose body is ``chunks``, then EOF."""

    status = 200
    headers: Mapping[str, str] = {"Content-Type": "text/event-stream"}

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = list(chunks)

    async def read_chunk(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    async def aclose(self) -> None:
        return None


class StormSource:
    """``retry: 0`` and nothing else, ``storm`` times; then, if ``finish``, a completed job."""

    def __init__(self, storm: int, *, finish: bool = False) -> None:
        self.storm = storm
        self.finish = finish
        self.opened = 0

    async def open_event_stream(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> StreamResponse:
        self.opened += 1
        if self.opened <= self.storm or not self.finish:
            return _Body(b"retry: 0\n\n: keepalive\n\n")
        return _Body(completed("1"))


class RefusingSource:
    """Every opening fails as a refused connection would."""

    def __init__(self) -> None:
        self.opened = 0

    async def open_event_stream(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> StreamResponse:
        self.opened += 1
        await asyncio.sleep(0)
        raise TransportError("GET http://127.0.0.1:9/: connection refused")


async def test_retry_zero_storm_backs_off_from_the_floor_and_exhausts_cleanly() -> None:
    source = StormSource(storm=10**9)
    spy = SleepSpy()
    stream = EventStream(source, "j1", ReconnectPolicy(max_attempts=1500), sleep=spy)
    with pytest.raises(ReconnectExhaustedError) as info:
        await drain(stream)
    assert info.value.attempts == 1501
    assert isinstance(info.value.__cause__, TransportError)
    assert source.opened == 1501
    assert len(spy.delays) == 1500
    assert min(spy.delays) >= SERVER_RETRY_FLOOR * 0.75  # the floor, less the jitter
    assert max(spy.delays) <= 60.0
    assert sum(spy.delays) > 1500 * 30  # well over half an hour of waiting, not 5 s


async def test_the_default_policy_survives_any_number_of_failures() -> None:
    # max_attempts=None never gives up: 3,000 failures, then the job completes.
    source = StormSource(storm=3000, finish=True)
    spy = SleepSpy()
    stream = EventStream(source, "j1", ReconnectPolicy(), sleep=spy)
    events = await drain(stream)
    assert [event.type for event in events] == ["training.completed"]
    assert len(spy.delays) == 3000
    assert stream.stats.failures == 3000


@pytest.mark.parametrize("attempts", [1024, 1025, 3000])
async def test_zero_initial_delay_exhausts_with_the_last_error_as_cause(attempts: int) -> None:
    source = RefusingSource()
    spy = SleepSpy()
    policy = ReconnectPolicy(initial_delay=0, max_delay=60, max_attempts=attempts)
    stream = EventStream(source, "j1", policy, sleep=spy)
    with pytest.raises(ReconnectExhaustedError) as info:
        await drain(stream)
    assert info.value.attempts == attempts + 1
    assert isinstance(info.value.__cause__, TransportError)
    assert "connection refused" in str(info.value)
    assert spy.delays == [0.0] * attempts
    assert source.opened == attempts + 1


class _StormClient(ArkorClient):
    """A real client of the fake backend whose event stream says ``retry: 0`` and nothing else."""

    def __init__(self, backend: FakeBackend) -> None:
        super().__init__(backend.url, TOKEN, ORG, PROJECT)
        self.opened = 0

    async def open_event_stream(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> StreamResponse:
        self.opened += 1
        await asyncio.sleep(0)
        return _Body(b"retry: 0\n\n")


async def test_wait_raises_reconnect_exhausted_not_overflow_error(backend: FakeBackend) -> None:
    # The symptom, through the public API: past 1,024 failures with a
    # zero first delay, wait() died with OverflowError. Zero delays (the
    # server's retry: is not honoured here), so nothing waits.
    policy = ReconnectPolicy(
        initial_delay=0, max_delay=60, max_attempts=1100, honor_server_retry=False
    )
    client = _StormClient(backend)
    async with client:
        trainer = create_trainer(
            name="t", model="m", dataset=DATASET, client=client, reconnect=policy
        )
        with pytest.raises(ReconnectExhaustedError) as info:
            await trainer.wait()
    assert info.value.attempts == 1101
    assert isinstance(info.value.__cause__, TransportError)
    assert client.opened == 1101
