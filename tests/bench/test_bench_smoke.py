"""Every benchmark workload runs, at a tiny size, and does all of its work.

No timing here: timing goals live in ``make bench`` only. These tests make
sure the benchmark code cannot rot as the library changes: each workload is
run on 600 frames and must process exactly the items it should.
Peers (httpx-sse, sseclient-py, ...) are installed only in ``bench/.venv``,
so their workloads are skipped where they are missing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the bench package lives at the repo root, beside arkor_rx
    sys.path.insert(0, str(ROOT))

from bench import memory, peers, report, run, workloads  # noqa: E402
from bench.server import make_app  # noqa: E402
from bench.streams import count_kinds, training_stream  # noqa: E402

FRAMES = 600
KINDS = count_kinds(FRAMES)
TYPED = FRAMES - KINDS["ping"] - KINDS["end"]  # pings and the end frame are not events


def _needs(*modules: str) -> None:
    if not peers.available(*modules):
        pytest.skip(f"peer not installed here (it lives in bench/.venv): {', '.join(modules)}")


def _needs_module(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError:
        pytest.skip(f"{name} is not there yet")


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """The static stream server of the bench, in-process on a free loopback port."""
    server = TestServer(make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def test_stream_shape() -> None:
    assert KINDS["training.log"] > 0
    assert KINDS["ping"] == 5
    assert KINDS["checkpoint.saved"] == 1
    assert KINDS["training.completed"] == 1
    assert KINDS["end"] == 1
    assert sum(KINDS.values()) == FRAMES


# --- (a) and (b) --------------------------------------------------------------


def test_in_memory_decoders() -> None:
    chunks = workloads.stream_chunks(FRAMES)
    assert workloads.arkor_decode(chunks) == FRAMES
    assert workloads.arkor_decode_parse(chunks) == FRAMES
    assert len(workloads.typed_events(FRAMES)) == TYPED


def test_in_memory_decoders_cut_small() -> None:
    from bench.streams import chunked

    chunks = chunked(training_stream(FRAMES), 7)
    assert workloads.arkor_decode(chunks) == FRAMES


def test_httpx_sse_decoder() -> None:
    _needs("httpx_sse")
    chunks = workloads.stream_chunks(FRAMES)
    assert peers.httpx_sse_decode(chunks) == FRAMES
    assert workloads.httpx_sse_decode_json(chunks) == FRAMES


def test_sseclient_decoder() -> None:
    _needs("sseclient")
    assert peers.sseclient_decode(workloads.stream_chunks(FRAMES)) == FRAMES


# --- (c) end to end ---------------------------------------------------------


async def test_raw_bytes_floor(base_url: str) -> None:
    url = f"{base_url}/v1/jobs/smoke-n{FRAMES}/events/stream"
    size = len(training_stream(FRAMES))
    assert await workloads.aiohttp_raw_bytes(url, size) == size


async def test_server_resumes_after_last_event_id(base_url: str) -> None:
    import aiohttp

    url = f"{base_url}/v1/jobs/smoke-n{FRAMES}/events/stream"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Last-Event-ID": str(FRAMES - 3)}) as response,
    ):
        body = await response.read()
    assert body.startswith(f"id: {FRAMES - 2}\nevent: training.completed".encode())


async def test_arkor_client_stream(base_url: str) -> None:
    assert await workloads.arkor_client_stream(base_url, FRAMES) == TYPED


async def test_arkor_event_stream(base_url: str) -> None:
    _needs_module("arkor_rx.stream")
    assert await workloads.arkor_event_stream(base_url, FRAMES) == TYPED


async def test_arkor_trainer_events(base_url: str) -> None:
    _needs_module("arkor_rx.trainer")
    assert await workloads.arkor_events_stream(base_url, FRAMES) == TYPED


async def test_httpx_sse_stream(base_url: str) -> None:
    _needs("httpx", "httpx_sse")
    url = f"{base_url}/v1/jobs/smoke-n{FRAMES}/events/stream"
    assert await peers.httpx_sse_stream(url, FRAMES) == FRAMES


async def test_aiohttp_sse_client_stream(base_url: str) -> None:
    _needs("aiohttp_sse_client")
    url = f"{base_url}/v1/jobs/smoke-n{FRAMES}/events/stream"
    assert await peers.aiohttp_sse_client_stream(url, FRAMES) == FRAMES


async def test_requests_sseclient_stream(base_url: str) -> None:
    _needs("requests", "sseclient")
    url = f"{base_url}/v1/jobs/smoke-n{FRAMES}/events/stream"
    assert await peers.requests_sseclient_stream_async(url, FRAMES) == FRAMES


# --- (d) dispatch and pipelines -------------------------------------------------


async def test_bare_loop_and_naive_concat_map() -> None:
    events = workloads.typed_events(FRAMES)
    assert await workloads.bare_queue_loop(events) == len(events)
    assert await workloads.naive_concat_map(events) == len(events)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_trainer_callbacks(kind: str) -> None:
    _needs_module("arkor_rx.dispatch")
    events = workloads.typed_events(FRAMES)
    seen: list[Any] = []

    def sync_cb(ctx: Any) -> None:
        seen.append(ctx)

    async def async_cb(ctx: Any) -> None:
        seen.append(ctx)

    callback = sync_cb if kind == "sync" else async_cb
    assert await workloads.run_callbacks(events, callback) == len(events)
    assert len(seen) == KINDS["training.log"]


def test_pipelines_agree() -> None:
    events = workloads.typed_events(FRAMES)
    logs = KINDS["training.log"]
    assert workloads.pipeline_rxpy_subject(events) == logs
    _needs_module("arkor_rx.operators._ema")
    assert workloads.pipeline_arkor(events) == logs


# --- (e) memory and (f) fan-in ----------------------------------------------


async def test_memory_events(base_url: str) -> None:
    _needs_module("arkor_rx.trainer")
    result = await memory.events(base_url, FRAMES)
    assert result["events"] == TYPED
    assert len(result["rss_samples_mb"]) >= 9
    assert result["growth_mb"] is not None


async def test_memory_bigline_fails_clearly(base_url: str) -> None:
    _needs_module("arkor_rx.trainer")
    result = await memory.bigline(base_url)
    assert result["events"] == 0
    assert "SSELimitError" in result["error"]


async def test_fan_in(base_url: str) -> None:
    _needs_module("arkor_rx.trainer")
    assert await workloads.arkor_fan_in(base_url, 3, FRAMES) == 3 * TYPED


# --- the report -------------------------------------------------------------


def test_report_renders() -> None:
    rows = [
        run.Row("a", "arkor_rx.sse SSEDecoder", 100, "k frames/s", seconds=[0.001] * 5),
        run.Row("a", "httpx-sse decoder", 100, "k frames/s", seconds=[0.003] * 5),
        run.Row("d", "bare asyncio.Queue loop, async no-op", 100, "µs/event", seconds=[1e-4] * 5),
        run.Row("d", "Trainer callbacks, async no-op", 100, "µs/event", error="boom"),
    ]
    cells = run.table(rows)
    assert cells[1][-1] == "3.00x"
    assert cells[2][-1] == "reference"
    assert cells[4][-1] == "boom"
    goals = run.targets(rows, [])
    assert goals[0] == ("in-memory decode >= 3x httpx-sse's decoder", "3.00x", "met")
    sinks = [
        run.Row("s", report.BACKFILL_PLAIN, 100, "k events/s", seconds=[0.010] * 5),
        run.Row("s", report.BACKFILL_SINKS, 100, "k events/s", seconds=[0.0125] * 5),
        run.Row("s", report.LIVE_SINKS, 100, "µs/event", seconds=[0.01] * 5),
    ]
    sinks[2].extra["p99_ms"] = 250.0
    (sink_goal,) = [g for g in run.targets(sinks, []) if "backfill" in g[0]]
    assert sink_goal[1:] == ("0.80x", "met")
    (live_goal,) = [g for g in run.targets(sinks, []) if "p99" in g[0]]
    assert live_goal[1:] == ("250 ms", "met")
    sinks[1].seconds = [0.013] * 5
    sinks[2].extra["p99_ms"] = 251.0
    (sink_goal,) = [g for g in run.targets(sinks, []) if "backfill" in g[0]]
    assert sink_goal[1:] == ("0.77x", "MISSED")
    (live_goal,) = [g for g in run.targets(sinks, []) if "p99" in g[0]]
    assert live_goal[1:] == ("251 ms", "MISSED")
    page = run.report(rows, cells, [], goals, run.machine(), run.Sizes(), 5, 1.0, [])
    assert "| arkor_rx.sse SSEDecoder |" in page
    assert "make bench" in page
