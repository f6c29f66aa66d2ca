"""Attack: a server's answers are bounded (the transport, the client, the webhook sink)."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator

import pytest
import reactivex

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.errors import ArkorError, CloudApiError, ConfigError, TransportError
from arkor_rx.events import TrainingCompleted, TrainingLog, TrainingStarted
from arkor_rx.transport import MAX_ANSWER_BYTES, AiohttpTransport
from tests.attack.hostile import TOKEN, Answer, HostileServer, endless, job

DEEP = b'{"jobs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
DEEP_JOB = b'{"job": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def _client(server: HostileServer, **transport: int) -> ax.ArkorClient:
    return ax.ArkorClient(
        server.url,
        TOKEN,
        "o1",
        "p1",
        transport=AiohttpTransport(**transport) if transport else None,  # type: ignore[arg-type]
    )


async def test_an_endless_list_of_jobs_stops_at_the_cap_in_bounded_memory(
    server: HostileServer,
) -> None:
    server.routes["/v1/jobs"] = Answer(endless())
    cap = 1024 * 1024
    tracemalloc.start()
    try:
        async with _client(server, max_answer_bytes=cap) as client:
            with pytest.raises(TransportError, match=f"longer than {cap} bytes"):
                await client.list_jobs()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * cap


async def test_the_default_cap_is_the_documented_64_mib(server: HostileServer) -> None:
    assert MAX_ANSWER_BYTES == 64 * 1024 * 1024
    assert AiohttpTransport().max_answer_bytes == MAX_ANSWER_BYTES
    server.routes["/v1/jobs"] = Answer(endless())
    async with _client(server) as client:
        with pytest.raises(TransportError, match=f"longer than {MAX_ANSWER_BYTES} bytes"):
            await client.list_jobs()


async def test_a_declared_length_past_the_cap_is_refused_before_reading(
    server: HostileServer,
) -> None:
    server.routes["/v1/jobs"] = Answer(b"{", headers={"Content-Length": str(10 * 2**30)})
    async with _client(server) as client:
        with pytest.raises(TransportError, match="longer than"):
            await client.list_jobs()


def test_the_cap_is_checked() -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="max_answer_bytes"):
            AiohttpTransport(max_answer_bytes=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("route", "body", "status"),
    [
        ("/v1/jobs", DEEP, 200),
        ("/v1/jobs", DEEP, 500),
        ("/v1/jobs/j1", DEEP_JOB, 200),
    ],
)
async def test_json_nested_100000_deep_is_an_arkor_error(
    server: HostileServer, route: str, body: bytes, status: int
) -> None:
    server.routes[route] = Answer(body, status)
    async with _client(server) as client:
        call = client.list_jobs() if route == "/v1/jobs" else client.get_job("j1")
        with pytest.raises(CloudApiError):
            await call


async def test_attach_wait_on_a_deep_answer_is_an_arkor_error(server: HostileServer) -> None:
    server.routes["/v1/jobs/j1"] = Answer(DEEP_JOB)
    async with _client(server) as client:
        trainer = ax.attach("j1", client=client)
        with pytest.raises(ArkorError) as caught:
            await asyncio.wait_for(trainer.wait(), 60)
        assert not isinstance(caught.value, RecursionError)


async def test_a_webhook_answer_body_is_never_read(server: HostileServer) -> None:
    server.routes["/hook"] = Answer(endless(), content_type="text/plain")
    hook = sinks.Webhook(f"{server.url}/hook", format="json", on=("completed",), stall_after=None)
    events = [
        TrainingStarted(job_id="j1"),
        TrainingLog(job_id="j1", step=1, loss=1.0),
        TrainingCompleted(job_id="j1"),
    ]
    tracemalloc.start()
    try:
        await asyncio.wait_for(
            reactivex.from_iterable(events).pipe(aop.to_sink(hook, name="bot")), 60
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [notice.kind for notice in hook.sent] == ["completed"]
    assert peak < 16 * 1024 * 1024  # the endless answer goes on for 512 MiB


async def test_a_transport_that_discards_bodies_answers_the_status(server: HostileServer) -> None:
    server.routes["/x"] = Answer(b'{"a": 1}', status=201)
    async with AiohttpTransport(discard_bodies=True) as transport:
        answer = await transport.request("GET", f"{server.url}/x")
    assert (answer.status, answer.body) == (201, b"")
    assert job()["id"] == "j1"
