"""End-to-end acceptance tests of SSE framing on the wire, through ``Trainer.wait``."""

from __future__ import annotations

import json

from aiohttp import web
from reactivex import operators as ops

import arkor_rx as ax

from ._acc_fake import JOB_ID, TOKEN, FakeBackend, Opener, completed, frames, log, trainer


def bytewise(*parts: bytes) -> Opener:
    """Write every byte in its own chunk, then close cleanly."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        raw = b"".join(parts)
        for i in range(len(raw)):
            await resp.write(raw[i : i + 1])
        await resp.write_eof()
        return resp

    return handler


async def test_stream_open_carries_auth_client_and_scope(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [frames(completed("1"))]
    await trainer(client, []).wait()
    req = backend.stream_opens[0]
    assert req.path == f"/v1/jobs/{JOB_ID}/events/stream"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-Arkor-Client" in req.headers
    assert req.query == {"orgSlug": "my org&x", "projectSlug": "demo/1"}


async def test_crlf_byte_by_byte_stream(backend: FakeBackend, client: ax.ArkorClient) -> None:
    frame1 = log("1", 1).replace(b"\n", b"\r\n")
    frame2 = log("2", 2).replace(b"\n", b"\r")
    backend.opens = [bytewise(b"\xef\xbb\xbf: hi\r\n", frame1, frame2, completed("3"))]
    steps: list[int] = []
    result = await trainer(client, steps).wait()
    assert steps == [1, 2]
    assert result.status == "completed"
    assert len(backend.stream_opens) == 1


async def test_each_connection_strips_its_own_bom(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    bom = b"\xef\xbb\xbf"
    backend.opens = [
        frames(bom, log("1", 1)),
        frames(bom, log("2", 2)),
        frames(bom, completed("3")),
    ]
    steps: list[int] = []
    await trainer(client, steps).wait()
    assert steps == [1, 2]
    assert len(backend.stream_opens) == 3


async def test_truncated_event_is_dropped_and_resumed(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    partial = log("2", 2)[:-12]  # the connection closes in the middle of event 2
    backend.opens = [frames(log("1", 1), partial), frames(log("2", 2), completed("3"))]
    steps: list[int] = []
    await trainer(client, steps).wait()
    assert steps == [1, 2]
    assert backend.stream_opens[1].headers["Last-Event-ID"] == "1"


async def test_state_does_not_leak_across_connections(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    # Connection 1 ends with a half line and a pending event type; connection 2 starts fresh.
    backend.opens = [
        frames(log("1", 1), b'event: training.failed\ndata: {"ty'),
        frames(log("2", 2), completed("3")),
    ]
    steps: list[int] = []
    result = await trainer(client, steps).wait()
    assert steps == [1, 2]
    assert result.status == "completed"


async def test_json_split_over_several_data_lines(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    payload = {"type": "training.log", "jobId": JOB_ID, "timestamp": "t", "step": 9}
    text = json.dumps(payload, indent=1)
    multi = (
        b"id: 1\nevent: training.log\n"
        + b"".join(b"data: " + line.encode() + b"\n" for line in text.split("\n"))
        + b"\n"
    )
    backend.opens = [frames(multi, completed("2"))]
    steps: list[int] = []
    await trainer(client, steps).wait()
    assert steps == [9]


async def test_events_observable_is_cold_and_ordered(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [frames(log("1", 1), log("2", 2), completed("3"))]
    t = trainer(client, [])
    first: list[ax.TrainingEvent] = await t.events().pipe(ops.to_list())
    second: list[ax.TrainingEvent] = await t.events().pipe(ops.to_list())
    for events in (first, second):
        assert [type(e).__name__ for e in events] == [
            "TrainingLog",
            "TrainingLog",
            "TrainingCompleted",
        ]
        assert [e.event_id for e in events] == ["1", "2", "3"]
    assert len(backend.stream_opens) == 2
    assert len(backend.of("POST", "/v1/jobs")) == 1
