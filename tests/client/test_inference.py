"""Inference: both answer modes over loopback, and the assembly of streamed deltas."""

from __future__ import annotations

import asyncio
import doctest
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiohttp import web

import arkor_rx.inference as inference_module
from arkor_rx.errors import CloudApiError, ConfigError, SSELimitError, TransportError
from arkor_rx.inference import InferenceResponse, checkpoint_adapter, final_adapter
from arkor_rx.sse import DEFAULT_MAX_LINE_SIZE, encode
from tests.client.client_helpers import TOKEN, Serve, make_client

MESSAGES = [{"role": "user", "content": "Say hi"}]


def delta_frame(content: str, **extra: Any) -> bytes:
    return encode(json.dumps({"choices": [{"index": 0, "delta": {"content": content}}], **extra}))


DONE = encode("[DONE]")


class FakeStream:
    """A StreamResponse that plays back byte chunks and records aclose()."""

    def __init__(self, chunks: list[bytes], status: int = 200) -> None:
        self.status = status
        self.headers: Mapping[str, str] = {"Content-Type": "text/event-stream"}
        self._chunks = list(chunks)
        self.closed = 0
        self.reads = 0

    async def read_chunk(self) -> bytes:
        self.reads += 1
        return self._chunks.pop(0) if self._chunks else b""

    async def aclose(self) -> None:
        self.closed += 1


def test_docstring_examples_run() -> None:
    assert doctest.testmod(inference_module).failed == 0


def test_adapter_helpers_build_the_protocol_shapes() -> None:
    assert checkpoint_adapter("j1", 0) == {"kind": "checkpoint", "jobId": "j1", "step": 0}
    assert final_adapter("j1") == {"kind": "final", "jobId": "j1"}


@pytest.mark.parametrize(("job_id", "step"), [("", 1), ("j1", -1), ("j1", True), ("j1", 1.5)])
def test_adapter_helpers_validate(job_id: str, step: Any) -> None:
    with pytest.raises(ConfigError):
        checkpoint_adapter(job_id, step)


def test_inference_response_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        InferenceResponse()
    with pytest.raises(ValueError, match="exactly one"):
        InferenceResponse(body={}, stream=FakeStream([]))


# --- over loopback ---------------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _chat_app(received: list[dict[str, Any]], answer: Handler) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        received.append(
            {
                "body": await request.json(),
                "auth": request.headers.get("Authorization"),
                "accept": request.headers.get("Accept"),
            }
        )
        return await answer(request)

    app = web.Application()
    app.router.add_post("/v1/inference/chat", chat)
    return app


async def test_non_streamed_infer_returns_json_text_and_one_delta(serve: Serve) -> None:
    completion = {
        "id": "c1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}}],
    }
    received: list[dict[str, Any]] = []

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(completion)

    server = await serve(_chat_app(received, answer))
    async with make_client(str(server.make_url(""))) as client:
        response = await client.infer(MESSAGES, adapter=final_adapter("j1"), max_tokens=8)
        assert not response.streamed
        assert await response.json() == completion
        assert await response.text() == "Hello!"
        assert [d async for d in response] == ["Hello!"]
        assert [d async for d in response] == []  # one-shot, like a stream
        assert await response.text() == "Hello!"  # text() still works
    assert received == [
        {
            "body": {
                "messages": MESSAGES,
                "stream": False,
                "adapter": {"kind": "final", "jobId": "j1"},
                "maxTokens": 8,
            },
            "auth": f"Bearer {TOKEN}",
            "accept": "application/json",
        }
    ]


async def test_streamed_infer_yields_deltas_as_they_arrive(serve: Serve) -> None:
    next_part = asyncio.Event()
    received: list[dict[str, Any]] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        first = delta_frame("Hel", id="c1", model="m")
        await resp.write(first[:7])  # a frame split mid-line
        await resp.write(first[7:])
        await next_part.wait()  # only after the client has seen "Hel"
        await resp.write(b": keepalive comment\n\n" + encode("not json") + delta_frame("lo"))
        await resp.write(delta_frame("!") + DONE)
        await resp.write_eof()
        return resp

    server = await serve(_chat_app(received, answer))
    async with make_client(str(server.make_url(""))) as client:
        response = await client.infer(MESSAGES, stream=True, temperature=0.5)
        assert response.streamed
        deltas = []
        async with response, asyncio.timeout(5):
            async for delta in response:
                deltas.append(delta)
                next_part.set()
        assert deltas == ["Hel", "lo", "!"]
        assert await response.text() == "Hello!"
        assembled = await response.json()
    assert assembled == {
        "id": "c1",
        "model": "m",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!"},
                "finish_reason": None,
            }
        ],
    }
    assert received[0]["body"] == {"messages": MESSAGES, "stream": True, "temperature": 0.5}
    assert received[0]["accept"] == "text/event-stream"


async def test_streamed_infer_text_without_iterating(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(delta_frame("a") + delta_frame("b") + DONE)
        await resp.write_eof()
        return resp

    server = await serve(_chat_app([], answer))
    async with make_client(str(server.make_url(""))) as client:
        response = await client.infer(MESSAGES, stream=True)
        assert await response.text() == "ab"


async def test_stream_true_answered_with_one_json_body_is_accepted(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"choices": [{"message": {"content": "whole"}}]})

    server = await serve(_chat_app([], answer))
    async with make_client(str(server.make_url(""))) as client:
        response = await client.infer(MESSAGES, stream=True)
        assert [d async for d in response] == ["whole"]


async def test_streamed_infer_error_status_is_a_cloud_api_error(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"error": "adapter not ready"}, status=409)

    server = await serve(_chat_app([], answer))
    async with make_client(str(server.make_url(""))) as client:
        with pytest.raises(CloudApiError) as info:
            await client.infer(MESSAGES, stream=True)
    assert info.value.status == 409
    assert info.value.message == "adapter not ready"


# --- stream assembly (fake stream) ---------------------------------------------------


async def test_a_stream_cut_before_done_is_a_transport_error() -> None:
    stream = FakeStream([delta_frame("partial")])
    response = InferenceResponse(stream=stream)
    assert await response.__anext__() == "partial"
    with pytest.raises(TransportError, match=r"\[DONE\]"):
        await response.text()
    assert stream.closed >= 1
    with pytest.raises(TransportError):  # the same failure again, no new read
        await response.json()


async def test_an_error_frame_raises_cloud_api_error() -> None:
    stream = FakeStream([encode(json.dumps({"error": {"message": "model crashed"}}))])
    response = InferenceResponse(stream=stream)
    with pytest.raises(CloudApiError, match="model crashed") as info:
        await response.text()
    assert info.value.status == 200
    assert stream.closed >= 1


async def test_an_oversized_frame_fails_and_closes() -> None:
    stream = FakeStream([b"data: " + b"x" * (DEFAULT_MAX_LINE_SIZE + 1)])
    response = InferenceResponse(stream=stream)
    with pytest.raises(SSELimitError):
        await response.text()
    assert stream.closed >= 1


async def test_done_stops_reading_and_releases_the_connection() -> None:
    stream = FakeStream([delta_frame("a") + DONE + delta_frame("ignored"), b"never read"])
    async with InferenceResponse(stream=stream) as response:
        assert await response.text() == "a"
        assert stream.closed == 1
        assert stream.reads == 1
    assert stream.closed == 2  # aclose() is idempotent on the stream's side


async def test_partial_iteration_then_text_keeps_every_delta() -> None:
    stream = FakeStream([delta_frame("a") + delta_frame("b") + delta_frame("c") + DONE])
    response = InferenceResponse(stream=stream)
    async for delta in response:
        assert delta == "a"
        break
    assert await response.text() == "abc"


async def test_tool_calls_and_finish_reason_are_assembled() -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": '{"q"'},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ': "x"}'}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": {"n": 3}},
    ]
    stream = FakeStream([b"".join(encode(json.dumps(c)) for c in chunks) + DONE])
    result = await InferenceResponse(stream=stream).json()
    assert result["usage"] == {"n": 3}
    (choice,) = result["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == ""
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
        }
    ]


async def test_non_streamed_body_without_content_yields_nothing() -> None:
    response = InferenceResponse(body={"choices": []})
    assert [d async for d in response] == []
    assert await response.text() == ""
    await response.aclose()
    assert "whole" in repr(response)
