"""More acceptance tests: transport failures, streamed inference, secrets in logs."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web

import arkor_rx as ax

from ._acc_fake import TOKEN, FakeBackend, Opener, completed, frames, log, policy, status, trainer


def abort() -> Opener:
    """Drop the TCP connection before any answer: a connect/transport error."""

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    return handler


async def test_dropped_connection_is_retried(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [abort(), abort(), frames(log("1", 1), completed("2"))]
    steps: list[int] = []
    result = await trainer(client, steps).wait()
    assert steps == [1]
    assert result.status == "completed"
    assert len(backend.stream_opens) == 3


async def test_dropped_connections_exhaust_with_transport_cause(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [abort()]
    with pytest.raises(ax.ReconnectExhaustedError) as info:
        await trainer(client, [], reconnect=policy(max_attempts=2)).wait()
    assert isinstance(info.value.__cause__, ax.TransportError)
    assert isinstance(info.value, ax.ArkorError)


async def test_retry_after_zero_on_429_is_retried(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [
        status(429, {"error": "slow down"}, headers={"Retry-After": "0"}),
        frames(completed("1")),
    ]
    result = await trainer(client, []).wait()
    assert result.status == "completed"
    assert len(backend.stream_opens) == 2


async def test_token_never_logged(
    backend: FakeBackend, client: ax.ArkorClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend.opens = [
        status(503, {"error": "down"}),
        abort(),
        frames(log("1", 1)),
        frames(completed("2")),
    ]
    await trainer(client, []).wait()
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.args)


async def test_streamed_inference_yields_deltas(backend: FakeBackend) -> None:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = backend.requests[-1].body
        assert body["stream"] is True
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for piece in ["Hel", "lo", "!"]:
            chunk = {"choices": [{"delta": {"content": piece}}]}
            await resp.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
        await resp.write(b": keepalive\n\ndata: [DONE]\n\n")
        await resp.write_eof()
        return resp

    backend.infer_answer = chat
    async with ax.ArkorClient(
        base_url=backend.url, token=TOKEN, org_slug="o", project_slug="p"
    ) as c:
        reply = await c.infer([{"role": "user", "content": "hi"}], stream=True, max_tokens=4)
        pieces = [d async for d in reply]
    assert "".join(str(p) for p in pieces) == "Hello!"


async def test_inference_error_is_cloud_api_error(backend: FakeBackend) -> None:
    backend.infer_answer = status(404, {"error": "no such adapter"})
    async with ax.ArkorClient(
        base_url=backend.url, token=TOKEN, org_slug="o", project_slug="p"
    ) as c:
        with pytest.raises(ax.CloudApiError) as info:
            await c.infer([{"role": "user", "content": "hi"}])
    assert info.value.status == 404
    assert info.value.message == "no such adapter"
