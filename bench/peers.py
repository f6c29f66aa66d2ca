"""The peers, driven the way their documentation shows. Imported lazily.

Each function imports its peer inside, so that ``bench.workloads`` imports
without any peer installed (the smoke test skips the peers that are missing),
and mypy never needs a peer's types: every peer object is ``Any`` here.

Every function returns how many SSE frames it saw, pings included, so the
harness can check that each contestant really read the whole stream.
"""

from __future__ import annotations

import asyncio
import codecs
import importlib
from typing import Any

__all__ = [
    "aiohttp_sse_client_stream",
    "available",
    "httpx_raw_bytes",
    "httpx_sse_decode",
    "httpx_sse_pydantic_decode",
    "httpx_sse_pydantic_stream",
    "httpx_sse_stream",
    "requests_sseclient_stream",
    "sseclient_decode",
]


def _import(name: str) -> Any:
    return importlib.import_module(name)


def available(*modules: str) -> bool:
    """True when every named module imports."""
    try:
        for name in modules:
            _import(name)
    except ImportError:
        return False
    return True


# --- (a) in-memory decoders --------------------------------------------------


def httpx_sse_decode(chunks: list[bytes]) -> int:
    """httpx-sse's own decoding path without the network.

    ``EventSource.aiter_sse`` does exactly this: httpx decodes bytes to text
    incrementally (``aiter_text``), ``SSELineDecoder`` splits lines, and
    ``SSEDecoder`` builds events.
    """
    decoders = _import("httpx_sse._decoders")
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = decoders.SSELineDecoder()
    sse = decoders.SSEDecoder()
    count = 0
    for chunk in chunks:
        text = text_decoder.decode(chunk)
        if not text:
            continue
        for line in lines.decode(text):
            if sse.decode(line.rstrip("\n")) is not None:
                count += 1
    for line in lines.flush():
        if sse.decode(line.rstrip("\n")) is not None:
            count += 1
    return count


def sseclient_decode(chunks: list[bytes]) -> int:
    """sseclient-py over an in-memory iterable of byte chunks (its documented input)."""
    sseclient = _import("sseclient")
    client = sseclient.SSEClient(iter(chunks))
    count = 0
    for _event in client.events():
        count += 1
    return count


# --- (c) end to end over loopback -------------------------------------------


async def httpx_sse_stream(url: str, expected: int) -> int:
    """httpx.AsyncClient + httpx-sse ``aconnect_sse``/``aiter_sse``, read to the end."""
    httpx = _import("httpx")
    httpx_sse = _import("httpx_sse")
    count = 0
    async with (
        httpx.AsyncClient(timeout=None) as client,
        httpx_sse.aconnect_sse(client, "GET", url) as source,
    ):
        async for _sse in source.aiter_sse():
            count += 1
    return count


async def aiohttp_sse_client_stream(url: str, expected: int) -> int:
    """aiohttp-sse-client's ``EventSource``; stops at ``expected`` (it would reconnect)."""
    client = _import("aiohttp_sse_client.client")
    count = 0
    async with client.EventSource(url) as source:
        async for _event in source:
            count += 1
            if count >= expected:
                break
    return count


def requests_sseclient_stream(url: str, expected: int) -> int:
    """requests (``stream=True``) + sseclient-py, the combination sseclient documents."""
    requests = _import("requests")
    sseclient = _import("sseclient")
    count = 0
    with requests.get(url, stream=True, headers={"Accept": "text/event-stream"}) as response:
        # 64 KiB chunks: the documented ``SSEClient(response)`` iterates the
        # response in 128-byte chunks, which is much slower. We give the peer its best.
        client = sseclient.SSEClient(response.iter_content(chunk_size=65536))
        for _event in client.events():
            count += 1
    return count


async def requests_sseclient_stream_async(url: str, expected: int) -> int:
    """The blocking requests client in a worker thread (so a server on this loop can run)."""
    return await asyncio.to_thread(requests_sseclient_stream, url, expected)


# --- typed peers: httpx-sse + pydantic, validate_json per non-ping frame -----


def httpx_sse_pydantic_decode(chunks: list[bytes]) -> int:
    """httpx-sse's decoder plus one ``TypeAdapter.validate_json`` per non-ping frame."""
    from bench.peer_models import adapter

    decoders = _import("httpx_sse._decoders")
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = decoders.SSELineDecoder()
    sse_decoder = decoders.SSEDecoder()
    validate = adapter.validate_json
    count = 0
    for chunk in chunks:
        for line in lines.decode(text_decoder.decode(chunk)):
            sse = sse_decoder.decode(line.rstrip("\n"))
            if sse is not None:
                count += 1
                if sse.event not in ("ping", "end"):
                    validate(sse.data)
    return count


async def httpx_sse_pydantic_stream(url: str, expected: int) -> int:
    """httpx + httpx-sse ``aiter_sse`` + ``TypeAdapter.validate_json`` per non-ping frame.

    Returns the typed events built (pings and the ``end`` frame are not events).
    """
    from bench.peer_models import adapter

    httpx = _import("httpx")
    httpx_sse = _import("httpx_sse")
    validate = adapter.validate_json
    count = 0
    async with (
        httpx.AsyncClient(timeout=None) as client,
        httpx_sse.aconnect_sse(client, "GET", url) as source,
    ):
        async for sse in source.aiter_sse():
            if sse.event not in ("ping", "end"):
                validate(sse.data)
                count += 1
    return count


async def httpx_raw_bytes(url: str, expected_bytes: int) -> int:
    """The typed peer's transport floor: httpx reading the body as it arrives. Returns bytes."""
    httpx = _import("httpx")
    total = 0
    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url) as response:
        async for chunk in response.aiter_raw():
            total += len(chunk)
    if total != expected_bytes:
        raise RuntimeError(f"read {total} bytes, expected {expected_bytes}")
    return total
