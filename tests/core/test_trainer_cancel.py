"""``Trainer.cancel()``: at most one request reaches the server, and a failed send is retried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from arkor_rx.client import ArkorClient
from arkor_rx.errors import TransportError
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.trainer import create_trainer
from arkor_rx.transport import AiohttpTransport
from tests.core.core_fakes import ORG, PROJECT, TOKEN, FakeBackend
from tests.fake_transport import RecordingTransport

DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}


@pytest.fixture
async def transport() -> RecordingTransport:
    return RecordingTransport(AiohttpTransport(request_timeout=10.0))


@pytest.fixture
async def wired(backend: FakeBackend, transport: RecordingTransport) -> AsyncIterator[ArkorClient]:
    async with ArkorClient(backend.url, TOKEN, ORG, PROJECT, transport=transport) as value:
        yield value


async def test_a_cancel_that_never_reached_the_server_is_sent_by_a_later_cancel(
    backend: FakeBackend, transport: RecordingTransport, wired: ArkorClient
) -> None:
    trainer = create_trainer(
        name="t", model="m", dataset=DATASET, client=wired, reconnect=ReconnectPolicy.immediate()
    )
    await trainer.start()
    down = [TransportError("connection refused")]

    def network_down_once(method: str, url: str) -> Exception | None:
        return down.pop() if url.endswith("/cancel") and down else None

    transport.refuse = network_down_once
    with pytest.raises(TransportError, match="connection refused"):
        await trainer.cancel()
    assert backend.cancel_requests == 0  # it never got there

    await trainer.cancel()  # the docstring's promise: a later call retries
    assert backend.cancel_requests == 1
    assert backend.job_status == "cancelled"

    await trainer.cancel()  # and once it was sent, never again
    assert backend.cancel_requests == 1
    assert len(transport.cancels()) == 2  # the refused attempt and the one that was sent
