"""The sink rows of ``make bench`` (bench/sinks.py) run at a tiny size and do all their work.

No timing: the figures live in ``make bench`` only.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the bench package lives at the repo root, beside arkor_rx
    sys.path.insert(0, str(ROOT))

from bench import sinks as bench_sinks  # noqa: E402
from bench.run import typed_count  # noqa: E402
from bench.server import make_app  # noqa: E402

FRAMES = 3000


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    server = TestServer(make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_with_and_without_sinks_deliver_every_event(base_url: str, tmp_path: Path) -> None:
    typed = typed_count(FRAMES)
    assert await bench_sinks.events_bare(base_url, FRAMES) == typed
    first = bench_sinks.fresh_recording(str(tmp_path))
    assert await bench_sinks.events_with_sinks(base_url, FRAMES, str(tmp_path), first) == typed
    lines = first.read_text().splitlines()
    assert len(lines) == typed  # the recorder (overflow "block") lost nothing
    assert list((tmp_path / "tb").iterdir())
    second = bench_sinks.fresh_recording(str(tmp_path))  # the next run: the last one is gone
    assert second != first
    assert not first.exists()


async def test_a_slow_sink_stays_within_its_buffer(base_url: str) -> None:
    memory = await bench_sinks.slow_sink_memory(base_url, FRAMES)
    assert memory["events"] == typed_count(FRAMES)
    assert memory["high_water"] <= memory["buffer_size"] + 2  # the open marker and a terminal
    assert memory["written"] + memory["dropped"] == memory["events"]
